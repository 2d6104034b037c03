from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"

    def ready(self):
        from sales import checks, ledger, payouts  # noqa: F401 - checks: the deploy checks

        ledger.register_check(payouts.verify_payouts)  # every payout equals its entries
        # --- creator portal (issue 15): an erased creator's payout details go ---
        from creators.signals import creator_erased
        from sales import receivers

        creator_erased.connect(receivers.creator_erased, dispatch_uid="sales.creator_erased")
        # --- end creator portal ---
