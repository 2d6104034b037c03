"""Thin attribution jobs: load by id, call a service, retry with backoff."""

from django.conf import settings

from attribution import services
from core.errors import error_message
from core.jobs import shoploop_task


@shoploop_task(name="attribution.decide", time_limit=120)
def decide(order_id: int, reason: str = "The order was paid.") -> None:
    """Credit a paid order (safe to run twice: the second run changes nothing)."""
    services.attribution_decide(order_id=order_id, reason=reason)


@shoploop_task(name="attribution.enqueue_conversions", time_limit=120)
def enqueue_conversions(order_id: int) -> None:
    services.conversions_enqueue(order_id=order_id)


def _gave_up(event_id: int, *, error, attempts, **kwargs) -> None:
    services.conversion_give_up(event_id=event_id, reason=error_message(error))


@shoploop_task(
    name="attribution.send_conversion",
    time_limit=60,
    max_retries=settings.CONVERSIONS_MAX_ATTEMPTS,
    give_up=_gave_up,
)
def send_conversion(event_id: int) -> None:
    """Send one conversion; a rate limit or outage retries after the backoff (never sooner
    than Retry-After), up to CONVERSIONS_MAX_ATTEMPTS."""
    services.conversion_send(event_id=event_id)


@shoploop_task(name="attribution.conversions_sweep", time_limit=300)
def conversions_sweep() -> int:
    """Queue again the pending conversions a lost message left behind."""
    ids = services.conversions_due()
    for event_id in ids:
        send_conversion.delay(event_id)
    return len(ids)
