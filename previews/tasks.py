import random

from core.jobs import shoploop_task
from previews import services

MAX_RETRIES = 5


@shoploop_task(name="previews.fetch", time_limit=60, bind=True, max_retries=MAX_RETRIES)
def preview_fetch_task(self, preview_id: int, force: int = 0) -> None:
    """Fetch one preview; retry timeouts, 5xx and busy hosts with backoff, never 4xx or a
    blocked address."""
    try:
        services.preview_fetch(preview_id=preview_id, force=bool(force))
    except services.RetryLater as exc:
        if self.request.retries >= MAX_RETRIES:
            services.preview_mark_failed(preview_id=preview_id, message=str(exc))
            return
        countdown = exc.countdown or min(600, 2 ** (self.request.retries + 2))
        raise self.retry(countdown=countdown * random.uniform(1, 1.5)) from exc  # noqa: S311


@shoploop_task(name="previews.refresh_due", time_limit=120)
def previews_refresh_due_task() -> int:
    """Queue the previews whose refresh time has come; conditional requests keep data."""
    return services.previews_refresh_due()
