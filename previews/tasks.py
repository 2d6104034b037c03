"""Thin preview jobs. Retries follow the one policy of core/jobs.py, on workers and
in-process alike: timeouts, 5xx, 429 and busy hosts are retried with backoff (never a 4xx
or a blocked address), and when the retries run out the preview records why it failed."""

from core.jobs import shoploop_task
from previews import services

MAX_RETRIES = 5


@shoploop_task(
    name="previews.fetch",
    time_limit=60,
    max_retries=MAX_RETRIES,
    give_up=services.preview_fetch_gave_up,
)
def preview_fetch_task(preview_id: int, force: int = 0) -> None:
    """Fetch one preview (again, with `force`, even when it is fresh)."""
    services.preview_fetch(preview_id=preview_id, force=bool(force))


@shoploop_task(name="previews.refresh_due", time_limit=120)
def previews_refresh_due_task() -> int:
    """Queue the previews whose refresh time has come; conditional requests keep data."""
    return services.previews_refresh_due()
