"""`manage.py attribution_recompute [--order ID | --since DATE] [--dry-run]`: re-run the
decisions of orders and report what changes (with --dry-run, what would)."""

from datetime import UTC, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from attribution.services import attribution_decide, attribution_preview
from core.errors import ApplicationError, error_message
from sales.models import Order


class Command(BaseCommand):
    help = "Re-run attribution decisions and report what changes."

    def add_arguments(self, parser):
        parser.add_argument("--order", type=int, help="One order id.")
        parser.add_argument("--since", help="Orders placed since this date or ISO time (UTC).")
        parser.add_argument("--dry-run", action="store_true", help="Report only; change nothing.")

    def handle(self, *args, order=None, since=None, dry_run=False, **options):
        if order is None and not since:
            raise CommandError("Give --order ID or --since DATE.")
        orders = Order.objects.filter(paid_at__isnull=False).order_by("placed_at", "pk")
        if order is not None:
            orders = orders.filter(pk=order)
        if since:
            moment = parse_datetime(since)
            if moment is None:
                day = parse_date(since)
                if day is None:
                    raise CommandError(f"--since: {since!r} is not a date (YYYY-MM-DD) or time.")
                moment = datetime.combine(day, time.min, tzinfo=UTC)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            orders = orders.filter(placed_at__gte=moment)
        changed = checked = 0
        for order_id in orders.values_list("pk", flat=True).iterator():
            checked += 1
            try:
                change = attribution_preview(order_id=order_id)
                if change.changed and not dry_run:
                    attribution_decide(order_id=order_id, reason="attribution_recompute")
            except ApplicationError as exc:
                self.stderr.write(f"order {order_id}: {error_message(exc)}")
                continue
            if change.changed:
                changed += 1
                verb = "would change" if dry_run else "changed"
                self.stdout.write(
                    f"order {order_id}: {verb}: {change.before} ⇒ {change.after} (commission "
                    f"{change.commission_before} ⇒ {change.commission_after} minor units)"
                )
        summary = "would change" if dry_run else "changed"
        self.stdout.write(f"{checked} order(s) checked, {changed} {summary}.")
