"""Fold, then check the rollups' commission against the ledger and their net revenue against
the orders; print one JSON object, exit 1 on a difference."""

import json

from django.core.management.base import BaseCommand

from analytics import services


class Command(BaseCommand):
    help = "Check the dashboards' totals against the ledger and the orders, to the cent."

    def handle(self, *args, **options):
        result = services.rollups_verify()
        self.stdout.write(json.dumps(result))
        if not result["ok"]:
            raise SystemExit(1)
