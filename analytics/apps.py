from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        # ledger_verify also checks that the rollups' commission equals the ledger's.
        from analytics import checks
        from sales import ledger

        ledger.register_check(checks.commission_matches_ledger)
