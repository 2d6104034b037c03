"""Thin UGC jobs: load by id, call a service, retry with backoff."""

from core.jobs import TRANSIENT_ERRORS, shoploop_task
from ugc import services


@shoploop_task(
    name="ugc.process_media",
    time_limit=900,
    autoretry_for=(*TRANSIENT_ERRORS, services.MediaProcessingError),
    max_retries=5,
)
def process_media(item_id: int) -> None:
    services.ugc_media_process(item_id=item_id)


@shoploop_task(name="ugc.release_stale_claims", time_limit=120)
def release_stale_claims() -> int:
    return services.ugc_release_stale_claims()


@shoploop_task(name="ugc.archive_expired_rights", time_limit=600)
def archive_expired_rights() -> int:
    return services.ugc_archive_expired_rights()


@shoploop_task(name="ugc.metrics_flush", time_limit=120)
def metrics_flush() -> int:
    """Add the buffered feed impressions and clicks to the daily metrics (safe to run twice)."""
    from ugc import metrics

    return metrics.flush()
