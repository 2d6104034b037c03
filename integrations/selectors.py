"""Reads of connections and listings for the console and the API."""

from django.db.models import Count, OuterRef, Q, Subquery

from integrations.models import Connection, Listing, SyncRun

LISTING_STATES = [s.value for s in Listing.State]


def connections_with_status():
    """Connections with their listing counts per state and their last run, in one query."""
    last_run = SyncRun.objects.filter(connection=OuterRef("pk")).order_by("-started_at", "-pk")
    counts = {
        f"n_{state}": Count("listings", filter=Q(listings__state=state)) for state in LISTING_STATES
    }
    return Connection.objects.annotate(
        **counts,
        n_dirty=Count("listings", filter=Q(listings__dirty=True)),
        last_run_at=Subquery(last_run.values("started_at")[:1]),
        last_run_status=Subquery(last_run.values("status")[:1]),
        last_run_kind=Subquery(last_run.values("kind")[:1]),
    )


def listing_counts(connection) -> dict:
    return {state: getattr(connection, f"n_{state}", 0) for state in LISTING_STATES}


def sync_summary(connection) -> dict:
    """What the console and the API say about a connection's sync."""
    counts = listing_counts(connection)
    return {
        "listings": counts,
        "in_sync": counts["synced"],
        "pending": getattr(connection, "n_dirty", 0),
        "failed": counts["failed"] + counts["rejected"] + counts["invalid"],
        "last_run": {
            "at": connection.last_run_at,
            "status": connection.last_run_status,
            "kind": connection.last_run_kind,
        }
        if getattr(connection, "last_run_at", None)
        else None,
    }


def listings_for_product(product_id: int):
    return (
        Listing.objects.filter(product_id=product_id)
        .select_related("connection")
        .order_by("connection__platform", "connection_id")
    )


def recent_runs(connection_id: int, limit: int = 10):
    return SyncRun.objects.filter(connection_id=connection_id).order_by("-started_at", "-pk")[
        :limit
    ]
