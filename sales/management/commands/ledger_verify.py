"""Check the commission ledger from its entries up; print one JSON object, exit 1 on a problem.

Re-derives every account's balance from its entries, checks each account's versions and last
entry, that every transaction balances per currency, that no account that may not go
negative has, and that every commission's amount and reversals match what the ledger posted
for it (plus the checks other apps register: payouts, attribution).
"""

import json

from django.core.management.base import BaseCommand

from sales import ledger


class Command(BaseCommand):
    help = "Verify the commission ledger; prints one JSON object and exits 1 on any problem."

    def handle(self, *args, **options):
        result = ledger.verify()
        self.stdout.write(json.dumps(result))
        if not result["ok"]:
            raise SystemExit(1)
