"""Every write to sales: channels, webhook deliveries, orders and refunds, reservations and
the checkout.

- Deliveries are stored first, as they came, then verified work is done by a job
  (`sales.process_delivery`). Accepted deliveries are unique per channel and delivery id:
  the insert is the idempotency check, and a duplicate changes nothing.
- Orders move only through `ALLOWED`. Each move locks the order row, checks the move and
  writes an `OrderEvent` in the same transaction; `order_paid`, `order_refunded` and
  `order_cancelled` are sent after commit.
- Stock changes go through `catalog/stock.py` (conditional updates, rows in pk order).
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from catalog import stock
from catalog.models import Variant
from core.absolute_urls import absolute_url
from core.crypto import keyed_hash
from core.errors import ApplicationError, full_clean
from core.jobs import enqueue_on_commit
from core.money import quantize, to_minor
from sales import commissions, defence, signals
from sales.credentials import CredentialsWaiting
from sales.models import (
    Order,
    OrderEvent,
    OrderLine,
    PendingOrderEvent,
    Provider,
    Refund,
    RefundLine,
    Reservation,
    ReservationEvent,
    SalesChannel,
    WebhookDelivery,
)
from sales.providers import base, module_for
from sales.providers import stripe as stripe_provider
from sales.providers.base import (
    BodyError,
    CancelData,
    CheckoutEnded,
    Fetch,
    FulfilmentData,
    Identity,
    Ignored,
    OrderData,
    ProviderRefused,
    ProviderUnavailable,
    RefundData,
)

logger = logging.getLogger(__name__)

S = Order.Status
D = WebhookDelivery.Status
R = Reservation.Status

# The order state machine: (status, action) -> new status. Nothing else moves an order.
ALLOWED: dict[tuple[str, str], str] = {
    (S.PENDING, "pay"): S.PAID,
    (S.PENDING, "cancel"): S.CANCELLED,
    (S.PAID, "cancel"): S.CANCELLED,
    (S.PAID, "fulfil"): S.FULFILLED,
    (S.PAID, "refund_partial"): S.PARTIALLY_REFUNDED,
    (S.PAID, "refund_full"): S.REFUNDED,
    (S.FULFILLED, "refund_partial"): S.PARTIALLY_REFUNDED,
    (S.FULFILLED, "refund_full"): S.REFUNDED,
    (S.PARTIALLY_REFUNDED, "refund_partial"): S.PARTIALLY_REFUNDED,
    (S.PARTIALLY_REFUNDED, "refund_full"): S.REFUNDED,
}
MOVES = {action for _, action in ALLOWED}
# The moves that take an order from one status towards what a provider says it is now.
PATHS: dict[tuple[str, str], list[str]] = {
    (S.PENDING, S.PAID): ["pay"],
    (S.PENDING, S.FULFILLED): ["pay", "fulfil"],
    (S.PAID, S.FULFILLED): ["fulfil"],
    (S.PENDING, S.CANCELLED): ["cancel"],
    (S.PAID, S.CANCELLED): ["cancel"],
}
# The reservation state machine.
RESERVATION_ALLOWED: dict[tuple[str, str], str] = {
    (R.ACTIVE, "commit"): R.COMMITTED,
    (R.ACTIVE, "release"): R.RELEASED,
    (R.ACTIVE, "expire"): R.EXPIRED,
}
# Orders in these statuses hold their stock (committed, then shipped).
LIVE = {S.PAID, S.FULFILLED, S.PARTIALLY_REFUNDED, S.REFUNDED}


def test_mode_enabled() -> bool:
    """The test-mode gateway: configured, and DEBUG on (or explicitly allowed without)."""
    return bool(
        settings.CHECKOUT_TEST_MODE
        and (settings.DEBUG or settings.CHECKOUT_TEST_MODE_WITHOUT_DEBUG)
    )


# ---------------------------------------------------------------------------------------
# Channels
# ---------------------------------------------------------------------------------------

CHANNEL_FIELDS = (
    "name", "currency", "active", "shop_domain", "stripe_account", "app_key", "shop_id",
    "shop_cipher", "checkout",
)  # fmt: skip
SECRET_FIELDS = ("api_key", "access_token")


def check_secret(provider: str, secret: str) -> None:
    """A secret the provider could have issued, or ApplicationError naming the rule."""
    if len(secret) < 8 or any(c.isspace() for c in secret):
        raise ApplicationError(
            "A webhook secret has at least 8 characters and no spaces.",
            fields={"secret": "At least 8 characters, no spaces."},
        )
    if provider == Provider.STANDARD:
        from sales.providers.standard import secret_key

        try:
            if not secret.startswith("whsec_") or len(secret_key(secret)) < 16:
                raise ValueError
        except ValueError:
            raise ApplicationError(
                "A Standard Webhooks secret is whsec_ followed by base64 of at least 16 bytes.",
                fields={"secret": "whsec_ followed by base64 (at least 16 bytes)."},
            ) from None


def _check_channel(channel: SalesChannel) -> None:
    full_clean(channel, exclude=["secret", "previous_secret", "api_key", "access_token"])
    if channel.provider == Provider.TIKTOK_SHOP and not channel.app_key:
        raise ApplicationError(
            "A TikTok Shop channel needs its app key (the webhook signature covers it).",
            fields={"app_key": "Required for TikTok Shop."},
        )


def channel_create(
    *, provider: str, name: str, secret: str, currency: str = "USD", **fields
) -> SalesChannel:
    unknown = set(fields) - set(CHANNEL_FIELDS) - set(SECRET_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown channel fields: {', '.join(sorted(unknown))}.")
    if provider not in Provider.values:
        raise ApplicationError(
            f"{provider!r} is not a provider; use one of {', '.join(Provider.values)}.",
            fields={"provider": f"One of {', '.join(Provider.values)}."},
        )
    check_secret(provider, secret)
    with transaction.atomic():
        channel = SalesChannel(provider=provider, name=name, currency=currency, secret=secret,
                               **fields)  # fmt: skip
        _check_channel(channel)
        channel.save()
    logger.info("sales.channel_created", extra={"channel_id": channel.pk, "provider": provider})
    return channel


def channel_update(*, channel_id: int, **fields) -> SalesChannel:
    """Change a channel's fields; `api_key` and `access_token` only when given non-empty."""
    unknown = set(fields) - set(CHANNEL_FIELDS) - set(SECRET_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown channel fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        channel = _lock_channel(channel_id)
        for name, value in fields.items():
            if name in SECRET_FIELDS and not value:
                continue
            setattr(channel, name, value)
        _check_channel(channel)
        channel.save()
    return channel


def _lock_channel(channel_id: int) -> SalesChannel:
    channel = SalesChannel.objects.select_for_update().filter(pk=channel_id).first()
    if channel is None:
        raise ApplicationError(f"Channel #{channel_id} does not exist.", code="not_found")
    return channel


def channel_rotate_secret(*, channel_id: int, new_secret: str) -> SalesChannel:
    """The new secret signs from now on; the old one still verifies until it is retired."""
    with transaction.atomic():
        channel = _lock_channel(channel_id)
        check_secret(channel.provider, new_secret)
        if new_secret == channel.secret:
            raise ApplicationError("The new secret is the current one.",
                                   fields={"secret": "Give a new secret."})  # fmt: skip
        channel.previous_secret = channel.secret
        channel.secret = new_secret
        channel.secret_rotated_at = timezone.now()
        channel.save()
    logger.info("sales.channel_secret_rotated", extra={"channel_id": channel_id})
    return channel


def channel_retire_previous_secret(*, channel_id: int) -> SalesChannel:
    with transaction.atomic():
        channel = _lock_channel(channel_id)
        channel.previous_secret = ""
        channel.save()
    return channel


# ---------------------------------------------------------------------------------------
# Deliveries: store first, verify, answer
# ---------------------------------------------------------------------------------------


@dataclass
class Receipt:
    """What the webhook endpoint answers."""

    status: int
    message: str
    delivery_id: int | None = None
    duplicate: bool = False


def _stored_headers(headers, provider: str) -> dict:
    """Headers as they came, but no cookie and no credential: an `Authorization` header is
    kept only from TikTok Shop, where it is the body's signature, not a secret."""
    kept = {}
    for name, value in list(headers.items())[:100]:
        name = str(name).lower()[:100]
        if name == "cookie":
            continue
        if name in ("authorization", "proxy-authorization") and provider != "tiktok_shop":
            value = "[not stored]"
        kept[name] = str(value)[:1024]
    return kept


def _rejected_slot(group: str) -> bool:
    """Whether one more rejected delivery of `group` may be stored this minute."""
    key = f"sales:webhook-rejected:{group}:{int(time.time() // 60)}"
    try:
        cache.add(key, 0, timeout=120)
        return cache.incr(key) <= settings.WEBHOOK_REJECTED_PER_MINUTE
    except Exception:  # the cache is down: store it (the prune job still bounds the rows)
        return True


def _reject(*, provider, channel, body, headers, signature, reason, status, size=0) -> Receipt:
    group = f"c{channel.pk}" if channel is not None else f"p:{provider}"
    if _rejected_slot(group):
        limit = settings.WEBHOOK_REJECTED_BODY_BYTES
        WebhookDelivery.objects.create(
            channel=channel,
            provider=provider,
            headers=_stored_headers(headers, provider),
            body=bytes(body[:limit]),
            body_size=max(len(body), size),
            body_truncated=max(len(body), size) > limit,
            signature=signature,
            accepted=False,
            status=D.REJECTED,
            reason=reason[:1000],
        )
    logger.warning(
        "webhook.rejected",
        extra={"provider": provider, "channel_id": channel and channel.pk, "why": signature},
    )
    return Receipt(status, reason)


def delivery_receive(*, provider: str, token: str, body: bytes, headers: dict,
                     now: float | None = None, declared_size: int = 0) -> Receipt:  # fmt: skip
    """Store one webhook request and say what to answer.

    401 for a signature that is missing, malformed, wrong or stale, or an unknown channel;
    400 for a body that does not parse or lacks its ids; 413 for a body over the limit;
    200 for an accepted delivery (processed later by a job) and for one seen before.
    """
    headers = {str(k).lower(): str(v) for k, v in headers.items()}
    channel = SalesChannel.objects.filter(provider=provider, token=token, active=True).first()
    if channel is None:
        return _reject(provider=provider, channel=None, body=body, headers=headers,
                       signature="no_channel", reason="No active channel has this URL.",
                       status=401)  # fmt: skip
    if max(len(body), declared_size) > settings.WEBHOOK_MAX_BODY_BYTES:
        too_big = f"The body is over {settings.WEBHOOK_MAX_BODY_BYTES} bytes."
        return _reject(provider=provider, channel=channel, body=body, headers=headers,
                       signature="missing", status=413, reason=too_big,
                       size=declared_size)  # fmt: skip
    module = module_for(provider)
    secrets = channel.secrets()
    if not secrets:
        return _reject(provider=provider, channel=channel, body=body, headers=headers,
                       signature="no_secret", reason="The channel has no webhook secret.",
                       status=401)  # fmt: skip
    verification = module.verify(secrets, body, headers, channel=channel, now=now)
    if not verification.ok:
        return _reject(provider=provider, channel=channel, body=body, headers=headers,
                       signature=verification.signature, reason=verification.reason,
                       status=401)  # fmt: skip
    try:
        identity = module.identify(base.parse_json(body), headers)
        if not identity.delivery_id:
            raise BodyError("The delivery carries no id to deduplicate it by.")
    except BodyError as exc:
        return _reject(provider=provider, channel=channel, body=body, headers=headers,
                       signature="valid", reason=str(exc), status=400)  # fmt: skip
    from sales.tasks import process_delivery

    try:
        with transaction.atomic(durable=True):
            delivery = WebhookDelivery.objects.create(
                channel=channel,
                provider=provider,
                delivery_id=identity.delivery_id[:255],
                event_id=identity.event_id[:255],
                topic=identity.topic[:120],
                headers=_stored_headers(headers, provider),
                body=body,
                body_size=len(body),
                signature="valid",
                accepted=True,
                status=D.RECEIVED,
            )
            enqueue_on_commit(process_delivery, delivery.pk)
    except IntegrityError:
        logger.info("webhook.duplicate", extra={"channel_id": channel.pk, "provider": provider})
        return Receipt(200, "Already received.", duplicate=True)
    logger.info("webhook.received", extra={"delivery_id": delivery.pk, "topic": identity.topic})
    return Receipt(200, "Received.", delivery.pk)


def deliveries_prune_rejected(*, now=None) -> int:
    """Keep the newest WEBHOOK_REJECTED_KEEP rejected deliveries per channel (per provider
    for unknown channels), none older than WEBHOOK_REJECTED_RETENTION_DAYS."""
    now = now or timezone.now()
    rejected = WebhookDelivery.objects.filter(accepted=False)
    cutoff = now - timedelta(days=settings.WEBHOOK_REJECTED_RETENTION_DAYS)
    deleted = rejected.filter(received_at__lt=cutoff).delete()[0]
    keep = settings.WEBHOOK_REJECTED_KEEP
    groups = [Q(channel_id=c) for c in rejected.exclude(channel=None)
              .values_list("channel_id", flat=True).distinct()]  # fmt: skip
    groups += [
        Q(channel=None, provider=p)
        for p in rejected.filter(channel=None).values_list("provider", flat=True).distinct()
    ]
    for group in groups:
        boundary = list(
            rejected.filter(group).order_by("-pk").values_list("pk", flat=True)[keep : keep + 1]
        )
        if boundary:
            deleted += rejected.filter(group, pk__lte=boundary[0]).delete()[0]
    if deleted:
        logger.info("webhook.rejected_pruned", extra={"deleted": deleted})
    return deleted


# ---------------------------------------------------------------------------------------
# Deliveries: processing (the job) and replay
# ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    order: Order | None = None
    notes: list[str] = field(default_factory=list)


def _resolve(module, channel, events: list) -> list:
    """Hints become shapes: TikTok Shop's orders and returns are fetched from its API."""
    resolved = []
    for event in events:
        if isinstance(event, Fetch):
            resolved.extend(module.fetch(channel, event))
        else:
            resolved.append(event)
    return resolved


def _finish(delivery_id: int, status: str, reason: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=status, reason=reason[:2000], processed_at=timezone.now()
    )


def delivery_process(*, delivery_id: int, replay: bool = False) -> WebhookDelivery | None:
    """Apply an accepted delivery. Safe to run twice: a processed delivery is left alone
    unless replayed, and applying the same delivery again changes nothing (orders, refunds
    and cancellations are idempotent by their provider ids)."""
    delivery = (
        WebhookDelivery.objects.select_related("channel")
        .filter(pk=delivery_id, accepted=True)
        .first()
    )
    if delivery is None:
        return None
    if delivery.status in (D.PROCESSED, D.IGNORED) and not replay:
        return delivery
    WebhookDelivery.objects.filter(pk=delivery_id).update(attempts=delivery.attempts + 1)
    module = module_for(delivery.provider)
    identity = Identity(delivery.delivery_id, delivery.topic, delivery.event_id)
    try:
        events = module.parse(identity, base.parse_json(bytes(delivery.body)), delivery.channel)
        events = _resolve(module, delivery.channel, events)
    except (BodyError, ProviderRefused) as exc:
        _finish(delivery_id, D.FAILED, str(exc))
        logger.warning("webhook.failed", extra={"delivery_id": delivery_id})
        return delivery
    except ProviderUnavailable as exc:
        WebhookDelivery.objects.filter(pk=delivery_id).update(reason=f"Will retry: {exc}"[:2000])
        raise
    except CredentialsWaiting as exc:
        # Nothing to retry until a person acts (reconnects the platform): the delivery waits,
        # saying why, and is queued again when the credentials can be used (and by the sweep).
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=D.WAITING, reason=f"Waiting: {exc.reason}"[:2000]
        )
        logger.info("webhook.waiting", extra={"delivery_id": delivery_id})
        delivery.refresh_from_db()
        return delivery
    try:
        with transaction.atomic(durable=True):
            locked = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
            outcome = _apply_events(locked.channel, locked, events)
            acted = any(not isinstance(event, Ignored) for event in events)
            locked.status = D.PROCESSED if acted else D.IGNORED
            locked.reason = "; ".join(outcome.notes)[:2000]
            locked.processed_at = timezone.now()
            fields = ["status", "reason", "processed_at", "order"]
            if outcome.order is not None:
                locked.order = outcome.order
                if outcome.order.redacted_at is not None:
                    # A late update of an order whose customer was erased: keep what it
                    # changed, not the customer's data it carried.
                    locked.body, locked.erased_at = b"", timezone.now()
                    fields += ["body", "erased_at"]
            locked.save(update_fields=fields)
    except (ApplicationError, stock.StockError) as exc:
        _finish(delivery_id, D.FAILED, getattr(exc, "message", str(exc)))
        logger.warning("webhook.failed", extra={"delivery_id": delivery_id})
    delivery.refresh_from_db()
    return delivery


def deliveries_awaiting_processing(*, older_than: timedelta, limit: int = 500) -> list[int]:
    """Accepted deliveries still unprocessed a while after they came (a lost message, a
    worker that died, an API that was down when the job ran in-process), and deliveries
    waiting for credentials (processing them again costs a look at the connection)."""
    return list(
        WebhookDelivery.objects.filter(
            Q(status=D.RECEIVED, received_at__lt=timezone.now() - older_than) | Q(status=D.WAITING),
            accepted=True,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def delivery_replay(*, delivery_id: int, actor=None) -> WebhookDelivery:
    """Run a stored delivery's processing again (after fixing a product mapping, say)."""
    from sales.tasks import process_delivery

    with transaction.atomic(durable=True):
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            raise ApplicationError(f"Delivery #{delivery_id} does not exist.", code="not_found")
        if not delivery.accepted:
            raise ApplicationError(
                f"Delivery #{delivery_id} was rejected ({delivery.get_signature_display()}): "
                "only verified deliveries can be replayed.",
                code="invalid_transition",
            )
        if delivery.erased_at is not None:
            raise ApplicationError(
                f"Delivery #{delivery_id} cannot be replayed: its body was erased with the "
                "customer's data.",
                code="invalid_transition",
            )
        delivery.replays += 1
        delivery.save(update_fields=["replays"])
        enqueue_on_commit(process_delivery, delivery.pk, True)
    logger.info("webhook.replayed", extra={"delivery_id": delivery_id})
    return delivery


def _apply_events(channel: SalesChannel, delivery: WebhookDelivery, events: list) -> Outcome:
    outcome = Outcome()
    for event in events:
        if isinstance(event, OrderData):
            outcome.order = _order_upsert(channel, event, delivery, outcome.notes)
        elif isinstance(event, RefundData):
            order = _find_order(channel, event.order_external_id)
            if order is None:
                _park(channel, event.order_external_id, "refund", event.external_id,
                      base.to_json(event), delivery)  # fmt: skip
                outcome.notes.append(
                    f"Refund {event.external_id} waits for order {event.order_external_id}."
                )
            else:
                _refund_record(order, event, delivery, outcome.notes)
                outcome.order = order
        elif isinstance(event, CancelData):
            order = _find_order(channel, event.order_external_id)
            if order is None:
                _park(channel, event.order_external_id, "cancel", "cancel", base.to_json(event),
                      delivery)  # fmt: skip
                outcome.notes.append(f"Cancellation waits for order {event.order_external_id}.")
            else:
                _order_cancel(order, event, delivery, outcome.notes)
                outcome.order = order
        elif isinstance(event, CheckoutEnded):
            reservation = Reservation.objects.filter(key=event.reservation_key).first()
            if reservation is not None:
                locked = _lock_reservation(reservation.pk)
                if locked.status == R.ACTIVE:
                    _reservation_release(locked, "release", event.reason)
                    outcome.notes.append(f"Reservation {locked.key} released.")
        elif isinstance(event, FulfilmentData):
            outcome.order = _channel_fulfilment(channel, event, delivery, outcome.notes)
        elif isinstance(event, Ignored):
            outcome.notes.append(event.reason)
    return outcome


def _channel_fulfilment(channel, event: FulfilmentData, delivery, notes: list) -> Order:
    """A parcel the channel recorded (issue 19): kept once, its delivery ends the holds."""
    from sales import fulfilment

    order = _find_order(channel, event.order_external_id)
    if order is None:
        raise ApplicationError(
            f"Order {event.order_external_id} is not here yet; replay this delivery once its "
            "order webhook has arrived.",
            code="not_found",
        )
    by_external = {line.external_id: line for line in order.lines.all() if line.external_id}
    lines = []
    for line_id, sku, quantity in event.lines:
        line = by_external.get(line_id)
        lines.append(fulfilment.ParcelLine(quantity=quantity, line_id=line.pk if line else None,
                                           sku=sku))  # fmt: skip
    notes.append(
        fulfilment.channel_fulfilment_apply(
            order=order, external_id=event.external_id, carrier=event.carrier,
            tracking_number=event.tracking_number, tracking_url=event.tracking_url,
            lines=lines, shipment_status=event.shipment_status, at=event.at, delivery=delivery,
        )
    )  # fmt: skip
    return order


def _park(channel, external_id, kind, key, payload, delivery) -> None:
    with transaction.atomic():
        try:
            PendingOrderEvent.objects.create(channel=channel, order_external_id=external_id,
                                             kind=kind, key=key[:255], payload=payload,
                                             delivery=delivery)  # fmt: skip
        except IntegrityError:
            pass  # already waiting: the same refund or cancellation came twice


# ---------------------------------------------------------------------------------------
# Orders: the state machine
# ---------------------------------------------------------------------------------------


def _find_order(channel, external_id: str) -> Order | None:
    return (
        Order.objects.select_for_update().filter(channel=channel, external_id=external_id).first()
    )


def _lock_order(order_id: int) -> Order:
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise ApplicationError(f"Order #{order_id} does not exist.", code="not_found")
    return order


def _target(order: Order, action: str) -> str:
    to_status = ALLOWED.get((order.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action.replace('_', ' ')} order {order.name or order.external_id}: "
            f"it is {order.get_status_display().lower()}.",
            code="invalid_transition",
        )
    return to_status


def _event(order, *, action, from_status="", to_status="", reason="", delivery=None, actor=None):
    return OrderEvent.objects.create(
        order=order, action=action, from_status=from_status, to_status=to_status or order.status,
        reason=reason[:2000], delivery=delivery, actor=actor,
    )  # fmt: skip


def _apply(order: Order, action: str, *, reason="", delivery=None, actor=None) -> Order:
    """Move `order` (locked) by `action`, audited, with its signal after commit."""
    to_status = _target(order, action)
    from_status = order.status
    order.status = to_status
    now = timezone.now()
    if action == "pay" and order.paid_at is None:
        order.paid_at = now
    if action == "cancel" and order.cancelled_at is None:
        order.cancelled_at = now
    if action == "fulfil" and order.fulfilled_at is None:
        order.fulfilled_at = now
    order.save()
    _event(order, action=action, from_status=from_status, to_status=to_status, reason=reason,
           delivery=delivery, actor=actor)  # fmt: skip
    if action == "cancel":  # what its commissions earned goes back, in this transaction
        commissions.commissions_reverse_for_order(
            order_id=order.pk, reason=f"The order was cancelled: {reason}"
        )
    elif action == "fulfil":  # holds count from fulfilment now
        commissions.commission_hold_recompute(order_id=order.pk)
    order_id = order.pk
    if action == "pay":
        transaction.on_commit(
            lambda: signals.order_paid.send_robust(sender=Order, order_id=order_id)
        )
    elif action == "cancel":
        transaction.on_commit(
            lambda: signals.order_cancelled.send_robust(sender=Order, order_id=order_id)
        )
    return order


def _is_older(order: Order, data: OrderData) -> bool:
    """True when `data` is older than what the order already holds."""
    if data.version is not None and order.provider_version is not None:
        return data.version < order.provider_version
    if data.updated_at is not None and order.provider_updated_at is not None:
        return data.updated_at < order.provider_updated_at
    return False


def _email_hash(email: str | None) -> str:
    return keyed_hash("customer-email", email.strip().lower()) if email else ""


AMOUNTS = ("subtotal", "discounts", "shipping", "tax", "total")
TEXTS = ("landing_url", "referring_site", "click_id", "visitor_click_id", "country")
TIMES = ("placed_at", "paid_at", "cancelled_at", "fulfilled_at", "delivered_at")


def _merge(order: Order, data: OrderData, *, overwrite: bool) -> None:
    """Copy what `data` says onto `order`: everything when it is newer, else only what the
    order does not know yet (an older update fills gaps, it never overwrites)."""

    def put(name, value):
        if value is None:
            return
        if order.redacted_at is not None and name in Order.PERSONAL_FIELDS:
            return  # the customer's data was erased: an update never brings it back
        current = getattr(order, name)
        if overwrite or current in (None, "", [], Decimal(0)):
            setattr(order, name, value)

    if data.name:
        put("name", data.name)
    for name in AMOUNTS:
        value = getattr(data, name)
        put(name, quantize(value, order.currency) if value is not None else None)
    for name in TEXTS:
        put(name, getattr(data, name))
    for name in TIMES:
        put(name, getattr(data, name))
    put("discount_codes", data.discount_codes)
    if data.customer_email:
        put("customer_email_hash", _email_hash(data.customer_email))
    if data.payment_fingerprint:
        put("payment_fingerprint_hash",
            keyed_hash("payment-fingerprint", data.payment_fingerprint))  # fmt: skip
    if overwrite:
        if data.updated_at is not None:
            order.provider_updated_at = data.updated_at
        if data.version is not None:
            order.provider_version = data.version


def _lock_or_create(channel, data: OrderData) -> tuple[Order, bool]:
    order = _find_order(channel, data.external_id)
    if order is not None:
        return order, False
    order = Order(channel=channel, external_id=data.external_id, currency=data.currency,
                  placed_at=data.placed_at or timezone.now())  # fmt: skip
    _merge(order, data, overwrite=True)
    try:
        full_clean(
            order, exclude=["reservation"], validate_unique=False, validate_constraints=False
        )
    except ApplicationError as exc:
        raise ApplicationError(
            f"Order {data.external_id}: {exc.message}", fields=exc.fields
        ) from None
    try:
        with transaction.atomic():
            order.save()
    except IntegrityError:  # another job created it a moment ago: take that one
        order = _find_order(channel, data.external_id)
        if order is None:
            raise
        return order, False
    return order, True


def _map_variant(sku: str) -> Variant | None:
    if not sku:
        return None
    return Variant.objects.filter(sku=sku).only("pk", "product_id").first()


def _sync_lines(order: Order, data: OrderData, *, overwrite: bool, notes: list) -> None:
    if data.lines is None:
        return
    existing = list(order.lines.all())
    if existing and not overwrite:
        return
    by_key = {(line.external_id or line.sku): line for line in existing}
    for item in data.lines:
        line = by_key.get(item.external_id or item.sku)
        values = {
            "sku": item.sku[:255], "title": item.title[:255], "quantity": item.quantity,
            "unit_price": quantize(item.unit_price, order.currency),
            "discount": quantize(item.discount, order.currency),
            "tax": quantize(item.tax, order.currency),
            "total": quantize(item.total if item.total is not None
                              else item.unit_price * item.quantity - item.discount,
                              order.currency),
        }  # fmt: skip
        if line is None:
            variant = _map_variant(item.sku)
            OrderLine.objects.create(
                order=order, external_id=item.external_id[:255], variant=variant,
                product_id=variant.product_id if variant else None, **values,
            )  # fmt: skip
        else:
            if line.sku != values["sku"]:  # the channel changed the line's SKU: map it anew
                if line.stock_committed:
                    stock.uncommit({line.variant_id: line.stock_committed})
                variant = _map_variant(item.sku)
                line.variant_id = variant.pk if variant else None
                line.product_id = variant.product_id if variant else None
                line.stock_committed = line.shortfall = 0
            for name, value in values.items():
                setattr(line, name, value)
            line.save()


def _remap_lines(order: Order, notes: list, *, delivery=None, actor=None) -> int:
    mapped = 0
    for line in order.lines.filter(variant__isnull=True).exclude(sku=""):
        variant = _map_variant(line.sku)
        if variant is not None:
            line.variant_id, line.product_id = variant.pk, variant.product_id
            line.save(update_fields=["variant", "product"])
            mapped += 1
    if mapped:
        _event(order, action="map_lines", from_status=order.status,
               reason=f"{mapped} line(s) mapped to variants by SKU.", delivery=delivery,
               actor=actor)  # fmt: skip
        notes.append(f"{mapped} line(s) mapped.")
    return mapped


def _attach_reservation(order: Order, key: str, notes: list) -> None:
    if not key or order.reservation_id:
        return
    reservation = Reservation.objects.filter(key=key).first()
    if reservation is None:
        notes.append(f"Reservation {key[:40]} is unknown.")
        return
    if Order.objects.filter(reservation=reservation).exclude(pk=order.pk).exists():
        notes.append(f"Reservation {key[:40]} belongs to another order.")
        return
    order.reservation = reservation
    order.save(update_fields=["reservation"])


def _order_upsert(channel, data: OrderData, delivery, notes: list) -> Order:
    if not data.click_id and data.landing_url:
        data.click_id = base.click_from_url(data.landing_url, settings.CLICK_ID_PARAM) or None
    order, created = _lock_or_create(channel, data)
    if created:
        _event(order, action="create", to_status=order.status,
               reason=f"From {delivery.topic}.", delivery=delivery)  # fmt: skip
        _sync_lines(order, data, overwrite=True, notes=notes)
        notes.append(f"Order {order.external_id} created.")
        older = False
    else:
        if data.currency != order.currency:
            raise ApplicationError(
                f"Order {order.external_id} is in {order.currency}; this update says "
                f"{data.currency}."
            )
        older = _is_older(order, data)
        delivered_before = order.delivered_at
        _merge(order, data, overwrite=not older)
        try:
            full_clean(
                order, exclude=["reservation"], validate_unique=False, validate_constraints=False
            )
        except ApplicationError as exc:
            raise ApplicationError(
                f"Order {data.external_id}: {exc.message}", fields=exc.fields
            ) from None
        order.save()
        _sync_lines(order, data, overwrite=not older, notes=notes)
        if older:
            _event(order, action="stale_update", from_status=order.status,
                   reason=f"{delivery.topic} of {data.updated_at or data.version} is older "
                          f"than what the order holds; it filled gaps only.",
                   delivery=delivery)  # fmt: skip
            notes.append("Older than the order: filled gaps only.")
        else:
            notes.append(f"Order {order.external_id} updated.")
    _attach_reservation(order, data.reservation_key, notes)
    _remap_lines(order, notes, delivery=delivery)
    if not older and data.status and data.status != order.status:
        for action in PATHS.get((order.status, data.status), []):
            reason = data.cancel_reason if action == "cancel" else f"{delivery.topic}"
            _apply(order, action, reason=reason or delivery.topic, delivery=delivery)
    for refund in data.refunds:
        _refund_record(order, refund, delivery, notes)
    _settle_stock(order, notes, delivery=delivery)
    if not created and order.delivered_at and order.delivered_at != delivered_before:
        # The channel reports delivery (TikTok Shop's delivery_time): holds count from it.
        commissions.commission_hold_recompute(order_id=order.pk)
        notes.append("Delivered: commission holds count from the delivery.")
    if created:
        _apply_parked(order, notes)
    return order


def _apply_parked(order: Order, notes: list) -> None:
    waiting = PendingOrderEvent.objects.select_for_update().filter(
        channel_id=order.channel_id, order_external_id=order.external_id, applied_at=None
    )
    for parked in waiting.order_by("created_at", "pk"):
        if parked.kind == PendingOrderEvent.Kind.REFUND:
            _refund_record(order, base.refund_from_json(parked.payload), parked.delivery, notes)
        else:
            _order_cancel(order, base.cancel_from_json(parked.payload), parked.delivery, notes)
        parked.applied_at = timezone.now()
        parked.save(update_fields=["applied_at"])


def _order_cancel(order: Order, data: CancelData, delivery, notes: list) -> None:
    if order.status == S.CANCELLED:
        notes.append("Already cancelled.")
        return
    if (order.status, "cancel") not in ALLOWED:
        _event(order, action="cancel_ignored", from_status=order.status,
               reason=f"A cancellation came for a {order.get_status_display().lower()} order "
                      f"({data.reason or 'no reason given'}).", delivery=delivery)  # fmt: skip
        notes.append(f"Cancellation ignored: the order is {order.status}.")
        return
    if data.at:
        order.cancelled_at = data.at
    _apply(order, "cancel", reason=data.reason or "cancelled by the channel", delivery=delivery)
    _settle_stock(order, notes, delivery=delivery)
    notes.append("Order cancelled.")


def order_cancel(*, order_id: int, actor, reason: str) -> Order:
    """Cancel an order from the console (it was cancelled on the channel too)."""
    if not reason.strip():
        raise ApplicationError("Say why the order is cancelled.", fields={"reason": "Required."})
    with transaction.atomic(durable=True):
        order = _lock_order(order_id)
        _target(order, "cancel")
        _apply(order, "cancel", reason=reason, actor=actor)
        _settle_stock(order, [])
    return order


# ---------------------------------------------------------------------------------------
# Refunds
# ---------------------------------------------------------------------------------------


def _refund_record(order: Order, data: RefundData, delivery, notes: list) -> Refund:
    existing = Refund.objects.filter(channel_id=order.channel_id,
                                     external_id=data.external_id).first()  # fmt: skip
    if existing is not None:
        notes.append(f"Refund {data.external_id} already recorded.")
        return existing
    if data.currency != order.currency:
        raise ApplicationError(
            f"Refund {data.external_id} is in {data.currency}; its order is in {order.currency}."
        )
    total = quantize(data.total, order.currency)
    before = sum((r.total for r in order.refunds.all()), Decimal(0))
    try:
        with transaction.atomic():
            refund = Refund.objects.create(
                order=order, channel_id=order.channel_id, external_id=data.external_id[:255],
                currency=order.currency, total=total,
                shipping=quantize(data.shipping, order.currency), reason=data.reason[:2000],
                refunded_at=data.refunded_at or timezone.now(), delivery=delivery,
            )  # fmt: skip
    except IntegrityError:
        return Refund.objects.get(channel_id=order.channel_id, external_id=data.external_id)
    lines = list(order.lines.all())
    by_id = {line.external_id: line for line in lines if line.external_id}
    by_sku = {line.sku: line for line in lines if line.sku}
    RefundLine.objects.bulk_create(
        RefundLine(
            refund=refund,
            line=by_id.get(item.line_external_id) or by_sku.get(item.sku),
            sku=(item.sku or getattr(by_id.get(item.line_external_id), "sku", ""))[:255],
            quantity=item.quantity,
            amount=quantize(item.amount, order.currency),
        )
        for item in data.lines
    )
    commissions.commissions_reverse_for_refund(refund_id=refund.pk)  # pro rata, same transaction
    full = before + total >= order.total
    action = "refund_full" if full else "refund_partial"
    reason = f"Refund {data.external_id}: {total} {order.currency}."
    if before + total > order.total:  # the channel is the truth; say it looks wrong
        reason += f" Refunds now total {before + total}, over the order's {order.total}."
    if (order.status, action) in ALLOWED:
        _apply(order, action, reason=reason, delivery=delivery)
    else:
        _event(order, action="refund", from_status=order.status, reason=reason,
               delivery=delivery)  # fmt: skip
    order_id, refund_id = order.pk, refund.pk
    transaction.on_commit(
        lambda: signals.order_refunded.send_robust(
            sender=Order, order_id=order_id, refund_id=refund_id
        )
    )
    notes.append(f"Refund {data.external_id} recorded.")
    return refund


def refund_record(
    *, order_id: int, external_id: str, total: Decimal, reason: str, actor, refunded_at=None
) -> Refund:
    """Record a refund made on the channel that no webhook brought (reconciliation found it in
    the provider's statement). It takes the path a refund webhook takes (the order locked and
    moved, commissions reversed pro rata, the audit row) and the audit says who recorded it
    and why. Issue 14."""
    from core.money import is_exact

    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Say why the refund is recorded by hand.", code="reason_required",
                               fields={"reason": "Required."})  # fmt: skip
    if not (external_id or "").strip():
        raise ApplicationError("A refund needs the provider's id for it.",
                               fields={"external_id": "Required."})  # fmt: skip
    with transaction.atomic():
        order = _lock_order(order_id)
        total = Decimal(total)
        if total <= 0 or not is_exact(total, order.currency):
            raise ApplicationError(
                f"total: an amount above zero in {order.currency}, not {total}.",
                fields={"total": f"Above zero, with {order.currency}'s decimals."},
            )
        if Refund.objects.filter(channel_id=order.channel_id, external_id=external_id).exists():
            raise ApplicationError(f"Refund {external_id} is already recorded.", code="conflict")
        data = RefundData(external_id=external_id, order_external_id=order.external_id,
                          currency=order.currency, total=total, reason=reason,
                          refunded_at=refunded_at)  # fmt: skip
        refund = _refund_record(order, data, None, [])
        _event(
            order,
            action="refund_recorded",
            from_status=order.status,
            reason=f"Refund {external_id} recorded by hand: {reason}",
            actor=actor,
        )
    return refund


# ---------------------------------------------------------------------------------------
# Stock of orders
# ---------------------------------------------------------------------------------------


def _settle_stock(order: Order, notes: list, *, delivery=None, actor=None) -> None:
    """Make the order's stock match its status (idempotent; the order row is locked).

    Cancelled: committed units and an active reservation go back. Live (paid and after):
    the reservation is committed, other mapped units are committed from what is available
    (a shortfall marks the order oversold), and a fulfilled order's units are shipped (also
    when it was fulfilled after a partial refund).
    """
    lines = list(order.lines.select_for_update().filter(variant__isnull=False).order_by("pk"))
    reservation = _lock_reservation(order.reservation_id) if order.reservation_id else None
    if order.status == S.CANCELLED:
        back = {}
        for line in lines:
            if line.stock_committed:
                back[line.variant_id] = back.get(line.variant_id, 0) + line.stock_committed
                line.stock_committed = 0
                line.save(update_fields=["stock_committed"])
        if back:
            stock.uncommit(back)
            notes.append("Committed stock released.")
        if reservation is not None and reservation.status == R.ACTIVE:
            _reservation_release(reservation, "release", "The order was cancelled.")
        return
    if order.status not in LIVE and not (order.reservation_id is None and _sells_on_its_own(order)):
        return
    if reservation is not None and reservation.status == R.ACTIVE:
        line = next((x for x in lines if x.variant_id == reservation.variant_id), None)
        if line is not None:
            take = min(reservation.quantity, line.quantity - line.stock_committed
                       - line.stock_shipped)  # fmt: skip
            stock.commit_reserved({reservation.variant_id: reservation.quantity})
            if take < reservation.quantity:  # the order holds fewer units than were reserved
                stock.uncommit({reservation.variant_id: reservation.quantity - take})
            line.stock_committed += take
            line.save(update_fields=["stock_committed"])
            _reservation_move(reservation, "commit", f"Paid: order {order.external_id}.")
        else:
            _reservation_release(reservation, "release", "The order has no line for it.")
    want = {}
    for line in lines:
        need = line.quantity - line.stock_committed - line.stock_shipped
        if need > 0:
            want[line.variant_id] = want.get(line.variant_id, 0) + need
        elif need < 0 and line.stock_committed:  # the channel lowered the quantity
            give_back = min(-need, line.stock_committed)
            stock.uncommit({line.variant_id: give_back})
            line.stock_committed -= give_back
            line.save(update_fields=["stock_committed"])
    got = stock.commit_available(want) if want else {}
    short_before = order.oversold
    for line in lines:
        need = line.quantity - line.stock_committed - line.stock_shipped
        if need <= 0:
            if line.shortfall:
                line.shortfall = 0
                line.save(update_fields=["shortfall"])
            continue
        take = min(need, got.get(line.variant_id, 0))
        got[line.variant_id] = got.get(line.variant_id, 0) - take
        line.stock_committed += take
        line.shortfall = need - take
        line.save(update_fields=["stock_committed", "shortfall"])
    if order.status == S.FULFILLED or (order.fulfilled_at and order.status in LIVE):
        out = {}
        for line in lines:
            if line.stock_committed:
                out[line.variant_id] = out.get(line.variant_id, 0) + line.stock_committed
                line.stock_shipped += line.stock_committed
                line.stock_committed = 0
                line.save(update_fields=["stock_committed", "stock_shipped"])
        if out:
            stock.ship(out)
    order.oversold = any(line.shortfall for line in lines)
    if order.oversold != short_before:
        order.save(update_fields=["oversold"])
        short = ", ".join(f"{line.sku} ×{line.shortfall}" for line in lines if line.shortfall)
        _event(order, action="oversold" if order.oversold else "stock_covered",
               from_status=order.status,
               reason=f"Short here: {short}." if order.oversold else "Stock now covers it.",
               delivery=delivery, actor=actor)  # fmt: skip
        notes.append("Oversold." if order.oversold else "Stock covers the order again.")


def _sells_on_its_own(order: Order) -> bool:
    """Orders placed on Shopify, TikTok Shop or a custom checkout hold stock once placed."""
    return order.channel.provider in (Provider.SHOPIFY, Provider.TIKTOK_SHOP, Provider.STANDARD)


def order_settle_stock(*, order_id: int, actor=None) -> Order:
    """Try again to commit an oversold order's missing units (after a restock)."""
    with transaction.atomic(durable=True):
        order = _lock_order(order_id)
        _settle_stock(order, [], actor=actor)
    return order


def order_lines_remap(*, sku: str = "", order_id: int | None = None, actor=None) -> int:
    """Map unmapped lines to variants by SKU again and commit their stock; returns how many
    lines now map. One order at a time, each locked, in pk order."""
    lines = OrderLine.objects.filter(variant__isnull=True).exclude(sku="")
    if sku:
        lines = lines.filter(sku=sku)
    if order_id:
        lines = lines.filter(order_id=order_id)
    mapped = 0
    for pk in sorted(set(lines.values_list("order_id", flat=True))):
        with transaction.atomic(durable=True):
            order = _lock_order(pk)
            notes: list = []
            count = _remap_lines(order, notes, actor=actor)
            if count:
                _settle_stock(order, notes, actor=actor)
            mapped += count
    return mapped


# ---------------------------------------------------------------------------------------
# Reservations
# ---------------------------------------------------------------------------------------


def _lock_reservation(reservation_id: int) -> Reservation:
    reservation = Reservation.objects.select_for_update().filter(pk=reservation_id).first()
    if reservation is None:
        raise ApplicationError(f"Reservation #{reservation_id} does not exist.",
                               code="not_found")  # fmt: skip
    return reservation


def _reservation_move(reservation: Reservation, action: str, reason: str) -> Reservation:
    to_status = RESERVATION_ALLOWED.get((reservation.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action} reservation {reservation.key}: it is {reservation.status}.",
            code="invalid_transition",
        )
    from_status = reservation.status
    reservation.status = to_status
    reservation.save(update_fields=["status", "updated_at"])
    ReservationEvent.objects.create(reservation=reservation, action=action,
                                    from_status=from_status, to_status=to_status,
                                    reason=reason[:1000])  # fmt: skip
    return reservation


def _reservation_release(reservation: Reservation, action: str, reason: str) -> None:
    _reservation_move(reservation, action, reason)
    stock.release({reservation.variant_id: reservation.quantity})


def reservation_create(
    *, variant_id: int, quantity: int, key: str, channel_id: int | None = None,
    click_id: str = "", visitor_click_id: str = "", landing_url: str = "",
    referring_site: str = "", visitor: str = "", network: str = "",
) -> Reservation:  # fmt: skip
    """Hold `quantity` units of a variant for a checkout. The same key twice is one
    reservation; too few units left is ApplicationError `out_of_stock` and holds nothing.
    `visitor` (a keyed hash) and `network` (/24 or /64) are capped by `sales/defence.py`:
    over a cap is ApplicationError `reservation_limit` and holds nothing."""
    key = (key or "").strip()
    if not key or len(key) > 100:
        raise ApplicationError("An idempotency key of 1 to 100 characters is required.",
                               fields={"key": "1 to 100 characters."})  # fmt: skip
    if not isinstance(quantity, int) or not 1 <= quantity <= settings.CHECKOUT_MAX_QUANTITY:
        raise ApplicationError(
            f"Quantity must be a whole number from 1 to {settings.CHECKOUT_MAX_QUANTITY}.",
            fields={"quantity": f"1 to {settings.CHECKOUT_MAX_QUANTITY}."},
        )
    existing = Reservation.objects.filter(key=key).first()
    if existing is None:
        with transaction.atomic(durable=True):
            variant = (
                Variant.objects.select_related("product")
                .filter(pk=variant_id, active=True, product__active=True)
                .first()
            )
            if variant is None:
                raise ApplicationError(
                    "This product option is not for sale.",
                    code="not_found",
                    fields={"variant": "Not for sale."},
                )
            ttl = defence.check_caps(
                variant=variant, quantity=quantity, visitor=visitor[:64], network=network[:64]
            )
            try:
                with transaction.atomic():
                    reservation = Reservation.objects.create(
                        key=key, channel_id=channel_id, variant=variant, quantity=quantity,
                        unit_price=quantize(variant.price, variant.currency),
                        currency=variant.currency,
                        expires_at=timezone.now() + timedelta(seconds=ttl),
                        click_id=click_id[:100], visitor_click_id=visitor_click_id[:100],
                        landing_url=landing_url[:2000], referring_site=referring_site[:2000],
                        visitor=visitor[:64], network=network[:64],
                    )  # fmt: skip
            except IntegrityError:
                reservation = None  # the same key a moment ago, in another request
            if reservation is not None:
                if not stock.reserve({variant.pk: quantity}):
                    raise ApplicationError(
                        f"Only {max(variant.stock_available, 0)} left of {variant.sku}; "
                        f"{quantity} cannot be reserved.",
                        code="out_of_stock",
                        fields={"quantity": "More than is left."},
                    )
                ReservationEvent.objects.create(reservation=reservation, action="create",
                                                to_status=R.ACTIVE,
                                                reason=f"{quantity} × {variant.sku}")  # fmt: skip
                return reservation
        existing = Reservation.objects.get(key=key)
    if existing.variant_id != variant_id or existing.quantity != quantity:
        raise ApplicationError(
            "This idempotency key was used for another product or quantity.", code="conflict",
            fields={"key": "Already used for something else."},
        )  # fmt: skip
    return existing


def reservation_commit(*, reservation_id: int) -> Reservation:
    """Commit a reservation's units outright (paid outside an order: benchmarks, tests)."""
    with transaction.atomic(durable=True):
        reservation = _lock_reservation(reservation_id)
        _reservation_move(reservation, "commit", "Committed.")
        stock.commit_reserved({reservation.variant_id: reservation.quantity})
    return reservation


def reservation_release(*, reservation_id: int, reason: str) -> Reservation:
    with transaction.atomic(durable=True):
        reservation = _lock_reservation(reservation_id)
        _reservation_release(reservation, "release", reason)
    return reservation


def reservations_expire(*, now=None, limit: int = 500) -> int:
    """Release active reservations past their expiry (rows skipped while another
    transaction holds them: a payment committing one wins, and the next sweep rechecks)."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic(durable=True):
        due = list(
            Reservation.objects.filter(status=R.ACTIVE, expires_at__lte=now)
            .order_by("pk")
            .select_for_update(skip_locked=True)[:limit]
        )
        for reservation in due:
            _reservation_release(reservation, "expire", "Not paid in time.")
            expired += 1
    if expired:
        logger.info("sales.reservations_expired", extra={"count": expired})
    return expired


# ---------------------------------------------------------------------------------------
# The checkout
# ---------------------------------------------------------------------------------------

TEST_MODE_SALT = "sales.test-mode-session"


def checkout_channel() -> SalesChannel | None:
    return SalesChannel.objects.filter(checkout=True, active=True).first()


def test_session_token(reservation: Reservation) -> str:
    return signing.dumps({"r": reservation.pk, "k": reservation.key}, salt=TEST_MODE_SALT)


def reservation_for_test_session(token: str) -> Reservation | None:
    try:
        value = signing.loads(token, salt=TEST_MODE_SALT, max_age=settings.RESERVATION_TTL * 4)
    except signing.BadSignature:
        return None
    return (
        Reservation.objects.select_related("variant__product", "channel")
        .filter(pk=value.get("r"), key=value.get("k"))
        .first()
    )


def _session_params(reservation: Reservation, variant: Variant) -> dict:
    metadata = {
        "reservation": reservation.key,
        "sku": variant.sku,
        "quantity": reservation.quantity,
        "title": variant.product.title[:200],
        settings.CLICK_ID_PARAM: reservation.click_id,
        "sl_visitor_click": reservation.visitor_click_id,
        "landing_url": reservation.landing_url[:500],
    }
    metadata = {k: v for k, v in metadata.items() if v not in ("", None)}
    expires = timezone.now() + timedelta(seconds=max(settings.RESERVATION_TTL, 1800))
    params = {
        "mode": "payment",
        "success_url": absolute_url(reverse("sales:checkout-done"))
        + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": absolute_url(variant.product.get_absolute_url()),
        "line_items": [
            {
                "price_data": {
                    "currency": reservation.currency.lower(),
                    "unit_amount": to_minor(reservation.unit_price, reservation.currency),
                    "product_data": {
                        "name": variant.product.title[:200],
                        "metadata": {"sku": variant.sku},
                    },
                },
                "quantity": reservation.quantity,
            }  # fmt: skip
        ],
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "expires_at": int(expires.timestamp()),
    }
    reference = reservation.click_id or reservation.visitor_click_id
    if reference:
        params["client_reference_id"] = reference
    return params


def checkout_start(
    *, variant_id: int, quantity: int, key: str, click_id: str = "", visitor_click_id: str = "",
    landing_url: str = "", referring_site: str = "", visitor: str = "", network: str = "",
) -> Reservation:  # fmt: skip
    """Reserve, then hand the shopper to the checkout: a Stripe Checkout Session made through
    the API (or, in test mode, the test gateway's page). Returns the reservation with its
    `checkout_url`. The same key twice gives the same reservation and session."""
    channel = checkout_channel()
    if channel is None:
        raise ApplicationError("The shop has no checkout yet.", code="checkout_unavailable")
    reservation = reservation_create(
        variant_id=variant_id, quantity=quantity, key=key, channel_id=channel.pk,
        click_id=click_id, visitor_click_id=visitor_click_id, landing_url=landing_url,
        referring_site=referring_site, visitor=visitor, network=network,
    )  # fmt: skip
    if reservation.checkout_url:
        return reservation
    if reservation.status != R.ACTIVE:
        raise ApplicationError("This checkout has ended; start again.", code="conflict")
    variant = Variant.objects.select_related("product").get(pk=reservation.variant_id)
    if test_mode_enabled():
        session_id = "cs_test_" + keyed_hash("test-session", reservation.key)[:24]
        url = absolute_url(reverse("sales:test-pay", args=[test_session_token(reservation)]))
    else:
        if not channel.api_key:
            reservation_release(reservation_id=reservation.pk, reason="No Stripe API key.")
            raise ApplicationError("The checkout channel has no Stripe API key.",
                                   code="checkout_unavailable")  # fmt: skip
        try:
            session = stripe_provider.create_checkout_session(
                api_key=channel.api_key,
                params=_session_params(reservation, variant),
                idempotency_key=f"shoploop-checkout-{reservation.key}",
            )
        except (ProviderUnavailable, ProviderRefused) as exc:
            reservation_release(reservation_id=reservation.pk,
                                reason=f"The checkout could not start: {exc}")  # fmt: skip
            logger.warning("checkout.session_failed", extra={"reservation_id": reservation.pk})
            raise ApplicationError(
                "The checkout is unavailable right now; please try again in a moment.",
                code="checkout_unavailable",
            ) from None
        session_id, url = str(session["id"]), str(session["url"])
    with transaction.atomic(durable=True):
        locked = _lock_reservation(reservation.pk)
        locked.checkout_session_id, locked.checkout_url = session_id[:255], url[:2000]
        locked.save(update_fields=["checkout_session_id", "checkout_url", "updated_at"])
    return locked


def test_checkout_event(*, reservation: Reservation, email: str = "", country: str = "") -> dict:
    """The Stripe `checkout.session.completed` event the test-mode gateway sends."""
    amount = to_minor(reservation.unit_price, reservation.currency) * reservation.quantity
    now = int(time.time())
    variant = reservation.variant
    params = _session_params(reservation, variant)
    session = {
        "id": reservation.checkout_session_id
        or "cs_test_" + keyed_hash("test-session", reservation.key)[:24],
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "currency": reservation.currency.lower(),
        "client_reference_id": params.get("client_reference_id"),
        "created": int(reservation.created_at.timestamp()),
        "customer_details": {"email": email or None, "address": {"country": country or None}},
        "livemode": False,
        "metadata": params["metadata"],
        "mode": "payment",
        "payment_intent": "pi_test_" + keyed_hash("test-intent", reservation.key)[:24],
        "payment_status": "paid",
        "status": "complete",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
    }
    return {
        "id": "evt_test_" + keyed_hash("test-event", reservation.key)[:24],
        "object": "event",
        "api_version": settings.STRIPE_API_VERSION,
        "created": now,
        "data": {"object": session},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
    }


# ---------------------------------------------------------------------------------------
# Customers: erasure (a privacy request, e.g. Shopify's customers/redact)
# ---------------------------------------------------------------------------------------


@dataclass
class RedactReport:
    orders: int = 0
    orders_changed: int = 0
    deliveries_erased: int = 0
    refunds_cleared: int = 0

    def as_dict(self) -> dict:
        return {
            "orders": self.orders,
            "orders_changed": self.orders_changed,
            "deliveries_erased": self.deliveries_erased,
            "refunds_cleared": self.refunds_cleared,
        }


def customer_redact(
    *, email: str = "", shop_domain: str = "", shopify_order_ids=(), reason: str
) -> RedactReport:
    """Erase what sales holds about one customer; idempotent (a second run changes nothing).

    The orders (`selectors.customer_orders`: the email's keyed hash, Shopify's order ids)
    keep their amounts, lines, statuses, click ids and commissions, so the ledger (which
    refers to orders, never to a customer) stays balanced and untouched. Cleared: the email
    hash, landing URL, referring site, country and payment fingerprint hash of each order
    (marked `redacted_at`, so later updates never bring them back, and audited), the landing
    URL and referring site of its reservation, its refunds' free-text reasons, and the stored
    bodies of the deliveries that carried the customer's data (those of the orders, and any
    other holding the email). Deliveries are locked before orders, as processing does.
    """
    from sales import selectors

    email = (email or "").strip()
    email_hash = _email_hash(email) if email else ""
    now = timezone.now()
    report = RedactReport()
    with transaction.atomic():
        order_ids = list(
            selectors.customer_orders(
                email_hash=email_hash, shop_domain=shop_domain, shopify_order_ids=shopify_order_ids
            ).values_list("pk", flat=True)
        )
        delivery_ids = selectors.deliveries_of_orders(order_ids)
        delivery_ids |= selectors.deliveries_mentioning(email)
        deliveries = list(
            WebhookDelivery.objects.filter(pk__in=delivery_ids, erased_at__isnull=True)
            .order_by("pk")
            .select_for_update()
            .values_list("pk", flat=True)
        )
        orders = list(Order.objects.filter(pk__in=order_ids).order_by("pk").select_for_update())
        report.orders = len(orders)
        for order in orders:
            held = [name for name in Order.PERSONAL_FIELDS if getattr(order, name)]
            if order.redacted_at is not None and not held:
                continue
            for name in Order.PERSONAL_FIELDS:
                setattr(order, name, "")
            order.redacted_at = order.redacted_at or now
            order.save(update_fields=[*Order.PERSONAL_FIELDS, "redacted_at", "updated_at"])
            _event(order, action="redact", from_status=order.status, to_status=order.status,
                   reason=reason)  # fmt: skip
            report.orders_changed += 1
        Reservation.objects.filter(order__in=order_ids).exclude(
            landing_url="", referring_site=""
        ).update(landing_url="", referring_site="")
        report.refunds_cleared = (
            Refund.objects.filter(order_id__in=order_ids).exclude(reason="").update(reason="")
        )
        report.deliveries_erased = WebhookDelivery.objects.filter(pk__in=deliveries).update(
            body=b"", erased_at=now
        )
    logger.info("customer.redacted", extra=report.as_dict())
    return report
