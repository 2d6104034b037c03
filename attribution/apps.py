from django.apps import AppConfig


class AttributionConfig(AppConfig):
    name = "attribution"

    def ready(self):
        from attribution import checks, receivers
        from sales import ledger
        from sales.signals import order_paid

        order_paid.connect(receivers.order_paid, dispatch_uid="attribution.order_paid")
        ledger.register_check(checks.commissions_match_attributions)
