"""The jobs' work: Shopify imports, webhooks and subscriptions, token refreshes, sweeps.

Each function is what one named job does (`integrations/tasks.py` only calls them); each is
safe to run twice.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from catalog.models import Product
from core.absolute_urls import absolute_url
from core.errors import ApplicationError
from integrations import inbound, push, services
from integrations.access import Access
from integrations.clients import shopify as shopify_client
from integrations.http import PlatformError
from integrations.models import (
    DESTINATIONS,
    Connection,
    Listing,
    Platform,
    SyncRun,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)

ACTIVE = Connection.Status.ACTIVE


def _active(connection_id: int, platform: str | None = None) -> Connection | None:
    connection = Connection.objects.filter(pk=connection_id, status=ACTIVE).first()
    if connection is None or (platform and connection.platform != platform):
        return None
    return connection


# ---------------------------------------------------------------------------------------
# Shopify
# ---------------------------------------------------------------------------------------


def shopify_import_run(*, connection_id: int) -> SyncRun | None:
    """The full import: a bulk operation read whole, each product applied in its own
    transaction, then the products Shopify no longer has taken off sale."""
    connection = _active(connection_id, Platform.SHOPIFY)
    if connection is None:
        return None
    run = SyncRun.objects.create(
        connection=connection, kind=SyncRun.Kind.IMPORT, started_at=timezone.now()
    )
    access = Access(connection)
    status, error, counts = SyncRun.Status.DONE, "", {}
    try:
        products = inbound.fetch_bulk(access)
        report = inbound.import_products(connection_id=connection.pk, products=products)
        removed = inbound.deactivate_missing(
            connection_id=connection.pk, seen_ids={p.external_id for p in products}
        )
        counts = {**report.as_dict(), "products": len(products), "removed": removed}
        if report.failed:
            status, error = SyncRun.Status.PARTIAL, "\n".join(report.errors)
    except (ApplicationError, PlatformError) as exc:
        status, error = SyncRun.Status.FAILED, getattr(exc, "message", str(exc))
        access.session.last_error = error
    finally:
        counts.update(
            requests=access.session.stats.requests, throttled=access.session.stats.throttled
        )
        SyncRun.objects.filter(pk=run.pk).update(
            status=status, finished_at=timezone.now(), counts=counts, error=error[:4000]
        )
        access.close()
    logger.info("integrations.import", extra={"connection_id": connection_id, "counts": counts})
    run.refresh_from_db()
    return run


def shopify_register_webhooks(*, connection_id: int) -> list[str]:
    """Subscribe to the catalog topics (idempotent: an existing subscription is kept)."""
    connection = _active(connection_id, Platform.SHOPIFY)
    if connection is None:
        return []
    access = Access(connection)
    callback = absolute_url(reverse("integrations:shopify-webhook"))
    created = []
    try:
        for topic in shopify_client.WEBHOOK_TOPICS:
            sub_id = access.call(
                shopify_client.webhook_subscribe,
                shop=connection.account_id,
                topic=topic,
                callback_url=callback,
            )
            if sub_id:
                created.append(sub_id)
    finally:
        access.close()
    if created:
        with transaction.atomic():
            locked = Connection.objects.select_for_update().get(pk=connection_id)
            known = locked.settings.get("webhook_subscriptions", [])
            locked.settings = {
                **locked.settings,
                "webhook_subscriptions": sorted(set(known) | set(created)),
            }
            locked.save(update_fields=["settings", "updated_at"])
    return created


def shopify_webhook_apply(*, delivery_id: int) -> str:
    """Apply one stored webhook; a delivery already applied is left alone."""
    delivery = WebhookDelivery.objects.select_related("connection").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (
        WebhookDelivery.Status.APPLIED,
        WebhookDelivery.Status.IGNORED,
    ):
        return "done"
    connection = delivery.connection
    payload = delivery.payload
    outcome, status, error = "", WebhookDelivery.Status.APPLIED, ""
    try:
        if delivery.topic in ("products/update", "products/create"):
            outcome = inbound.apply_product(
                connection_id=connection.pk, data=inbound.product_from_webhook(payload)
            )
        elif delivery.topic == "products/delete":
            outcome = inbound.remove_product(
                connection_id=connection.pk, external_id=str(payload.get("id", ""))
            )
        elif delivery.topic == "inventory_levels/update":
            outcome = _inventory_level(connection, payload)
        elif delivery.topic == "app/uninstalled":
            done = services.connection_uninstalled(shop_domain=connection.account_id)
            outcome = "disconnected" if done else "already disconnected"
        else:
            outcome, status = "ignored", WebhookDelivery.Status.IGNORED
    except ApplicationError as exc:
        outcome, status, error = "failed", WebhookDelivery.Status.FAILED, exc.message
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=status, error=error, processed_at=timezone.now()
    )
    logger.info(
        "integrations.webhook.applied",
        extra={"delivery_id": delivery_id, "topic": delivery.topic, "outcome": outcome},
    )
    return outcome


def _inventory_level(connection: Connection, payload: dict) -> str:
    access = None

    def fetch(item_id: str) -> dict:
        nonlocal access
        access = access or Access(connection)
        return access.call(
            shopify_client.inventory_levels, shop=connection.account_id, inventory_item_id=item_id
        )

    try:
        return inbound.apply_inventory_level(
            connection_id=connection.pk, payload=payload, fetch_levels=fetch
        )
    finally:
        if access is not None:
            access.close()


# ---------------------------------------------------------------------------------------
# Destinations
# ---------------------------------------------------------------------------------------


def connections_due() -> list[int]:
    """Active destinations with listings due now (what the 5-second beat pushes)."""
    now = timezone.now()
    return list(
        Connection.objects.filter(platform__in=DESTINATIONS, status=ACTIVE)
        .filter(
            pk__in=Listing.objects.filter(dirty=True, next_attempt_at__lte=now).values(
                "connection_id"
            )
        )
        .values_list("pk", flat=True)
    )


def listings_sweep() -> int:
    """Mark dirty what a lost signal left behind: products without a listing, products or
    variants saved after their listing was last written, listings of deleted products."""
    marked = 0
    for connection in Connection.objects.filter(platform__in=DESTINATIONS, status=ACTIVE):
        listed = Listing.objects.filter(connection=connection)
        missing = list(
            Product.objects.exclude(
                pk__in=listed.exclude(product=None).values("product_id")
            ).values_list("pk", flat=True)[:5000]
        )
        stale = list(
            listed.filter(dirty=False, product__isnull=False)
            .filter(
                Q(product__updated_at__gt=F("updated_at"))
                | Q(product__variants__updated_at__gt=F("updated_at"))
            )
            .values_list("product_id", flat=True)
            .distinct()[:5000]
        )
        ids = sorted(set(missing) | set(stale))
        if ids:
            with transaction.atomic():
                marked += services._mark_dirty(connection_ids=[connection.pk], product_ids=ids)
        orphans = listed.filter(product=None, dirty=False).exclude(
            state__in=[Listing.State.REMOVED, Listing.State.NOT_LISTED]
        )
        marked += orphans.update(dirty=True, next_attempt_at=timezone.now())
    return marked


def webhooks_sweep(*, older_than=timedelta(minutes=5)) -> list[int]:
    """Deliveries a lost message left unapplied."""
    cutoff = timezone.now() - older_than
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.RECEIVED, received_at__lt=cutoff
        ).values_list("pk", flat=True)[:1000]
    )


def tokens_refresh_due(*, within=timedelta(minutes=15), refresh_within=timedelta(days=2)) -> int:
    """Refresh access tokens about to expire, and refresh tokens about to expire (TikTok
    Shop's expire too: refreshing renews them)."""
    now = timezone.now()
    due = Connection.objects.filter(status=ACTIVE).filter(
        Q(access_token_expires_at__lte=now + within)
        | Q(refresh_token_expires_at__lte=now + refresh_within)
    )
    refreshed = 0
    for connection in due:
        if not connection.refresh_token:  # encrypted: only readable row by row
            continue
        try:
            services.connection_refresh_token(
                connection_id=connection.pk, seen_version=connection.token_version, force=True
            )
            refreshed += 1
        except (ApplicationError, PlatformError) as exc:
            logger.warning(
                "integrations.token.refresh_failed",
                extra={"connection_id": connection.pk, "error": getattr(exc, "message", "")},
            )
    return refreshed


def meta_tokens_expired() -> int:
    """Meta tokens cannot be refreshed: one that expired needs reconnecting."""
    expired = Connection.objects.filter(
        platform=Platform.META, status=ACTIVE, access_token_expires_at__lte=timezone.now()
    )
    count = 0
    for connection in expired:
        services.connection_mark_needs_reconnect(
            connection_id=connection.pk, reason="Meta's long-lived token expired (60 days)."
        )
        count += 1
    return count


def push_now(*, connection_id: int) -> push.PushReport:
    return push.connection_push(connection_id=connection_id)
