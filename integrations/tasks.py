"""Thin integration jobs: load by id, call the work in `sync.py` / `push.py`, retry with backoff.

Periodic ones are scheduled in `config/celery.py`.
"""

from core.errors import ApplicationError, error_message
from core.jobs import TRANSIENT_ERRORS, shoploop_task
from integrations import compliance, push, social, sync
from integrations.http import PlatformError


@shoploop_task(name="integrations.sync_push", time_limit=30)
def sync_push() -> int:
    """Every few seconds: queue a push for each destination with listings due."""
    ids = sync.connections_due()
    for connection_id in ids:
        connection_push.apply_async((connection_id,), expires=60)
    return len(ids)


@shoploop_task(name="integrations.connection_push", time_limit=180)
def connection_push(connection_id: int) -> dict:
    return push.connection_push(connection_id=connection_id).counts()


@shoploop_task(name="integrations.sync_sweep", time_limit=600)
def sync_sweep() -> int:
    """Mark dirty what a lost signal missed, re-queue lost webhooks, prune old runs."""
    for delivery_id in sync.webhooks_sweep():
        shopify_webhook_apply.delay(delivery_id)
    push.prune_runs()
    return sync.listings_sweep()


@shoploop_task(
    name="integrations.shopify_import",
    time_limit=3600,
    autoretry_for=(*TRANSIENT_ERRORS, PlatformError),
    max_retries=5,
)
def shopify_import(connection_id: int) -> None:
    sync.shopify_import_run(connection_id=connection_id)


@shoploop_task(
    name="integrations.shopify_webhook_apply",
    time_limit=120,
    autoretry_for=(*TRANSIENT_ERRORS, PlatformError),
)
def shopify_webhook_apply(delivery_id: int) -> str:
    return sync.shopify_webhook_apply(delivery_id=delivery_id)


@shoploop_task(
    name="integrations.shopify_register_webhooks",
    time_limit=120,
    autoretry_for=(*TRANSIENT_ERRORS, PlatformError),
)
def shopify_register_webhooks(connection_id: int) -> int:
    return len(sync.shopify_register_webhooks(connection_id=connection_id))


@shoploop_task(name="integrations.refresh_tokens", time_limit=300)
def refresh_tokens() -> int:
    """Refresh tokens before they expire; Meta's expired ones need reconnecting."""
    return sync.tokens_refresh_due() + sync.meta_tokens_expired()


def _compliance_gave_up(request_id: int, *, error, attempts: int, **kwargs) -> None:
    compliance.compliance_request_fail(
        request_id=request_id, error=f"Gave up after {attempts} attempts: {error_message(error)}"
    )


@shoploop_task(
    name="integrations.compliance_process",
    time_limit=600,
    autoretry_for=(*TRANSIENT_ERRORS, OSError),
    max_retries=8,
    give_up=_compliance_gave_up,
)
def compliance_process(request_id: int) -> str:
    """Act on one of Shopify's compliance requests (export or erase), once. Transient errors
    and storage errors are retried; a refusal fails the request with its reason."""
    try:
        request = compliance.compliance_request_process(request_id=request_id)
    except ApplicationError as exc:
        compliance.compliance_request_fail(request_id=request_id, error=exc.message)
        return "failed"
    return request.status if request is not None else "missing"


@shoploop_task(name="integrations.compliance_sweep", time_limit=600)
def compliance_sweep() -> int:
    """Queue requests a lost message left unprocessed; delete expired exports."""
    stalled = compliance.compliance_requests_stalled()
    for request_id in stalled:
        compliance_process.delay(request_id)
    return len(stalled) + compliance.compliance_exports_expire()


# --- social pulls and rights requests (issue 18) -------------------------------------------


@shoploop_task(name="integrations.social_pull_due", time_limit=60)
def social_pull_due() -> int:
    """Every minute: queue a pull for each source whose schedule says so."""
    ids = social.sources_due()
    for source_id in ids:
        social_source_pull.apply_async((source_id,), expires=300)
    return len(ids)


@shoploop_task(name="integrations.social_source_pull", time_limit=600)
def social_source_pull(source_id: int) -> dict:
    """One pull; what stopped it early (rate limits, time, a dead token) is on the source and
    the next pull resumes from its cursor, so it is not retried here."""
    return social.social_source_pull(source_id=source_id).counts()


@shoploop_task(name="integrations.social_check_deleted", time_limit=600)
def social_check_deleted() -> int:
    """Hourly: posts deleted on Instagram are flagged and leave the feed."""
    deleted = 0
    for source_id in social.sources_due(now=None, include_not_due=True):
        try:
            deleted += social.social_source_check_deleted(source_id=source_id)
        except (ApplicationError, PlatformError):
            continue  # the source's connection needs attention; the console shows it
    return deleted


@shoploop_task(
    name="integrations.rights_request_send",
    time_limit=120,
    autoretry_for=(*TRANSIENT_ERRORS,),
)
def rights_request_send(request_id: int) -> str:
    try:
        return social.rights_request_send(request_id=request_id)
    except (ApplicationError, PlatformError) as exc:
        return f"not sent: {getattr(exc, 'message', exc)}"  # recorded on the request


@shoploop_task(name="integrations.rights_requests_watch", time_limit=600)
def rights_requests_watch() -> int:
    """Every few minutes: authors' replies with the hashtag grant the rights."""
    return social.rights_requests_watch()


# --- fulfilment (issue 19) ---


@shoploop_task(name="integrations.fulfilment_push", time_limit=300)
def fulfilment_push(fulfilment_id: int) -> str:
    """Push one parcel to its channel (safe twice: a pushed parcel is left alone)."""
    from integrations import fulfilment

    return fulfilment.fulfilment_push(fulfilment_id=fulfilment_id)


@shoploop_task(name="integrations.fulfilments_push", time_limit=600)
def fulfilments_push() -> int:
    """Parcels waiting for their channel (a lost signal) and retries whose backoff is over."""
    from integrations import fulfilment

    return fulfilment.fulfilments_push_due()


@shoploop_task(name="integrations.tracking_poll", time_limit=900)
def tracking_poll() -> dict:
    """Ask the carrier tracking API about parcels in transit; delivered ones end holds."""
    from integrations import tracking

    return tracking.tracking_poll()
