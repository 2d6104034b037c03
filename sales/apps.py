from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"

    def ready(self):
        from sales import checks, ledger, payouts  # noqa: F401 - checks: the deploy checks

        ledger.register_check(payouts.verify_payouts)  # every payout equals its entries
