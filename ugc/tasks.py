"""Thin UGC jobs: load by id, call a service, retry with backoff."""

from datetime import timedelta

from django.conf import settings

from core.jobs import TRANSIENT_ERRORS, shoploop_task
from ugc import selectors, services

# A video takes up to five encoding ffmpeg runs (poster, 360p, 720p, 1080p, preview loop),
# each bounded by UGC_FFMPEG_TIMEOUT_SECONDS, plus HLS segmenting (a stream copy), probes and
# storage.
MEDIA_TIME_LIMIT = 5 * settings.UGC_FFMPEG_TIMEOUT_SECONDS + 300
MEDIA_SWEEP_AFTER = timedelta(minutes=10)


@shoploop_task(
    name="ugc.process_media",
    time_limit=MEDIA_TIME_LIMIT,
    autoretry_for=(*TRANSIENT_ERRORS, services.MediaProcessingError),
    max_retries=5,
)
def process_media(item_id: int) -> None:
    services.ugc_media_process(item_id=item_id)


@shoploop_task(name="ugc.media_sweep", time_limit=300)
def media_sweep() -> int:
    """Queue the media job again for items a lost message or a dead worker left pending."""
    ids = selectors.items_awaiting_media(older_than=MEDIA_SWEEP_AFTER)
    for item_id in ids:
        process_media.delay(item_id)
    return len(ids)


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


@shoploop_task(name="ugc.rights_requests_expire", time_limit=300)  # issue 18
def rights_requests_expire() -> int:
    """Unanswered rights requests past their expiry become expired."""
    return services.rights_requests_expire()


@shoploop_task(name="ugc.publish_scheduled", time_limit=300)
def publish_scheduled() -> dict:
    """The publishing calendar: publish the entries whose time has come (rights checked now)."""
    return services.ugc_schedule_run_due()
