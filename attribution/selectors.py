"""Reads of attribution for the console, the API and the creator portal."""

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
