"""Fold new facts into the rollups, or compute them again (--rebuild) for a range of days."""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from analytics import services


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"{value!r} is not a date like 2026-12-01.") from error


class Command(BaseCommand):
    help = "Fold new clicks, orders, refunds and ledger postings into the dashboards' rollups."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild", action="store_true", help="Compute the days again from the facts."
        )
        parser.add_argument("--from", dest="first", type=_day, help="First local day (rebuild).")
        parser.add_argument("--to", dest="last", type=_day, help="Last local day (rebuild).")

    def handle(self, *args, rebuild=False, first=None, last=None, **options):
        if (first or last) and not rebuild:
            raise CommandError("--from and --to go with --rebuild.")
        if first and last and first > last:
            raise CommandError("--from must not be after --to.")
        result = (
            services.rollups_rebuild(first=first, last=last) if rebuild else services.rollups_fold()
        )
        self.stdout.write(json.dumps(result))
