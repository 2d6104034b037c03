"""Reads of attribution for the console, the API and the creator portal."""

from django.db import models
from django.db.models import Prefetch

from attribution.models import Attribution, AttributionRevision, FraudSignal


def attribution_detail():
    """Attributions with their creator, signals and history, in a fixed number of queries."""
    return Attribution.objects.select_related(
        "creator", "group", "commission_program"
    ).prefetch_related(
        Prefetch("signals", queryset=FraudSignal.objects.order_by("kind")),
        Prefetch("revisions", queryset=AttributionRevision.objects.select_related("creator")),
    )


def for_order(order_id: int) -> Attribution | None:
    return attribution_detail().filter(order_id=order_id).first()


def for_creator(creator_id: int):
    """A creator's credited orders with the explanation worded for them (the portal)."""
    return (
        Attribution.objects.filter(creator_id=creator_id)
        .select_related("order")
        .prefetch_related("signals")
        .order_by("-placed_at")
    )


def content_purchases(*, since):
    """Orders credited through UGC content since `since`, per item, placement and currency:
    rows of {content_item_id, content_placement, currency, orders, revenue} (the UGC
    placement report's purchases; the order's total in its currency)."""
    from django.db.models import Count, Sum

    return (
        Attribution.objects.filter(content_item_id__isnull=False, placed_at__gte=since)
        .values("content_item_id", "content_placement", currency=models.F("order__currency"))
        .annotate(orders=Count("pk"), revenue=Sum("order__total"))
        .order_by("content_item_id", "content_placement", "currency")
    )
