"""Thin sales jobs: load by id, call a service, retry with backoff."""

from datetime import timedelta

from core.jobs import TRANSIENT_ERRORS, shoploop_task
from sales import commissions, ledger, payouts, services
from sales.providers.base import ProviderUnavailable


@shoploop_task(
    name="sales.process_delivery",
    time_limit=120,
    bind=True,
    autoretry_for=TRANSIENT_ERRORS,
    max_retries=10,
)
def process_delivery(self, delivery_id: int, replay: bool = False) -> None:
    """Apply a stored webhook delivery (safe to run twice). A provider API that is down or
    rate limiting (TikTok Shop's order re-fetch) is retried, after Retry-After if it said."""
    try:
        services.delivery_process(delivery_id=delivery_id, replay=replay)
    except ProviderUnavailable as exc:
        countdown = exc.retry_after or min(600, 2 ** (self.request.retries + 1))
        raise self.retry(exc=exc, countdown=countdown) from exc


@shoploop_task(name="sales.expire_reservations", time_limit=120)
def expire_reservations() -> int:
    return services.reservations_expire()


@shoploop_task(name="sales.prune_rejected_deliveries", time_limit=300)
def prune_rejected_deliveries() -> int:
    return services.deliveries_prune_rejected()


@shoploop_task(name="sales.deliveries_sweep", time_limit=300)
def deliveries_sweep() -> int:
    """Queue again the deliveries a lost message or an outage left unprocessed for 5 minutes."""
    ids = services.deliveries_awaiting_processing(older_than=timedelta(minutes=5))
    for delivery_id in ids:
        process_delivery.delay(delivery_id)
    return len(ids)


# --- ledger and payouts (issue 14) ---


@shoploop_task(name="sales.commissions_release_due", time_limit=300)
def commissions_release_due() -> int:
    """Commissions whose hold has ended become available (batches of 500 until none left)."""
    released = 0
    for _ in range(40):
        batch = commissions.commissions_release_due()
        released += batch
        if batch < 500:
            break
    return released


@shoploop_task(name="sales.payout_send", time_limit=120, max_retries=10)
def payout_send(payout_id: int) -> None:
    """Send one approved payout to Stripe or PayPal; a busy or unreachable provider is tried
    again with the same idempotency key (RetryLater), the poll picks up what gives up."""
    payouts.payout_send(payout_id=payout_id)


@shoploop_task(name="sales.payouts_poll", time_limit=300)
def payouts_poll() -> int:
    return payouts.payouts_poll()


@shoploop_task(name="sales.payout_runs_due", time_limit=600)
def payout_runs_due() -> int:
    return len(payouts.payout_runs_due())


@shoploop_task(name="sales.ledger_verify", time_limit=1800)
def ledger_verify() -> bool:
    """The nightly `ledger_verify`; the console shows its last result."""
    return ledger.verification_record(source="job").ok


# --- stock defence (issue 19) ---


@shoploop_task(name="sales.stock_anomalies", time_limit=120)
def stock_anomalies() -> dict:
    """Reservation and expiry rates per network and product: throttle and alert."""
    from sales import defence

    return defence.stock_anomalies_detect()
