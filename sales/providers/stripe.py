"""Stripe: webhook signatures, event payloads, and the Checkout Sessions API.

- Signature: `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>…]`, each `v1` an
  HMAC-SHA256 under the endpoint's `whsec_…` secret of `"{t}.{raw body}"` (Stripe's
  documented construction, as stripe-python's `WebhookSignature` checks it). Several `v1`
  values are allowed (Stripe sends one per active secret while a secret is being rolled);
  other schemes (`v0`) are ignored. `t` must be within `STRIPE_WEBHOOK_TOLERANCE` seconds.
- Events: `checkout.session.completed` / `.async_payment_succeeded` (the order, paid or
  pending), `payment_intent.succeeded` (the same order, known by its payment intent),
  `charge.succeeded` (the card fingerprint and country), `charge.refunded` and
  `refund.created`/`refund.updated` (refunds), `payment_intent.canceled` (cancellation),
  `checkout.session.expired` (the checkout's reservation goes back to stock).
- One order per payment: its external id is the payment intent (`pi_…`), else the session.
- Lines: Stripe's session events carry no lines. Shoploop's own checkout puts the
  reservation, SKU and quantity in the metadata; another checkout may put `sku` and
  `quantity` there too. Without them the order has no lines.
- Out of order: the event's `created` time decides.
"""

import hashlib
import hmac
import time
from decimal import Decimal

import requests
from django.conf import settings

from sales.providers.base import (
    BodyError,
    CancelData,
    CheckoutEnded,
    Identity,
    Ignored,
    LineData,
    OrderData,
    ProviderRefused,
    ProviderUnavailable,
    RefundData,
    Verification,
    currency_code,
    epoch,
    minor_money,
    require_object,
    text,
)

HEADER = "stripe-signature"
SCHEME = "v1"


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise ValueError("an element without '='")
        if key == "t":
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise ValueError("no timestamp")
    return timestamp, signatures


def verify(secrets: list[str], body: bytes, headers: dict, *, channel=None, now=None):
    header = headers.get(HEADER, "").strip()
    if not header:
        return Verification("missing", "No Stripe-Signature header.")
    try:
        timestamp, signatures = _parse_header(header)
    except (ValueError, OverflowError):
        return Verification("malformed", "Unable to extract timestamp and signatures.")
    if not signatures:
        return Verification("malformed", "No signatures found with the v1 scheme.")
    matched = False
    for secret in secrets:
        expected = compute_signature(secret, timestamp, body).encode()
        for given in signatures:
            matched |= hmac.compare_digest(expected, given.encode())
    if not matched:
        return Verification("invalid", "No v1 signature matches a secret of the channel.")
    now = time.time() if now is None else now
    if abs(now - timestamp) > settings.STRIPE_WEBHOOK_TOLERANCE:
        return Verification("stale", f"Timestamp {timestamp} is outside the tolerance zone.")
    return Verification("valid")


def identify(payload, headers: dict) -> Identity:
    payload = require_object(payload)
    event_id, event_type = text(payload.get("id")), text(payload.get("type"), limit=120)
    if not event_id.startswith("evt_") or not event_type:
        raise BodyError("A Stripe event has an id (evt_…) and a type.")
    return Identity(delivery_id=event_id, topic=event_type)


def _object(payload: dict) -> dict:
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return require_object(obj, "data.object")


def _metadata(obj: dict) -> dict:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def parse(identity: Identity, payload, channel) -> list:
    payload = require_object(payload)
    obj = _object(payload)
    created = epoch(payload.get("created"), field_name="created")
    topic = identity.topic
    if topic in (
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
    ):
        return [_session_order(obj, created, topic)]
    if topic == "checkout.session.expired":
        key = text(_metadata(obj).get("reservation"), limit=100)
        if not key:
            return [Ignored("An expired session without a Shoploop reservation.")]
        return [CheckoutEnded(key, "The Stripe Checkout Session expired unpaid.")]
    if topic == "payment_intent.succeeded":
        return [_intent_order(obj, created)]
    if topic == "payment_intent.canceled":
        return [
            CancelData(
                text(obj.get("id")),
                created,
                text(obj.get("cancellation_reason")) or "payment_intent.canceled",
            )
        ]
    if topic == "charge.succeeded":
        return [_charge_order(obj, created)]
    if topic == "charge.refunded":
        refunds = (obj.get("refunds") or {}).get("data") or []
        intent = text(obj.get("payment_intent")) or text(obj.get("id"))
        return [
            _refund(r, intent, created)
            for r in refunds
            if isinstance(r, dict) and r.get("status") in ("succeeded", None)
        ] or [Ignored("A charge.refunded event without succeeded refunds in it.")]
    if topic in ("refund.created", "refund.updated"):
        if obj.get("status") not in ("succeeded", None):
            return [Ignored(f"Refund {text(obj.get('id'))} is {text(obj.get('status'))}.")]
        intent = text(obj.get("payment_intent")) or text(obj.get("charge"))
        return [_refund(obj, intent, created)]
    return [Ignored(f"Event type {topic} carries no order.")]


def _lines_from_metadata(metadata: dict, subtotal: Decimal | None) -> list[LineData] | None:
    sku = text(metadata.get("sku"))
    try:
        quantity = int(text(metadata.get("quantity")) or "0")
    except ValueError:
        quantity = 0
    if not sku or quantity < 1:
        return None
    total = subtotal if subtotal is not None else Decimal(0)
    unit = total / quantity if quantity else total
    return [
        LineData(
            sku=sku,
            title=text(metadata.get("title")) or sku,
            quantity=quantity,
            unit_price=unit,
            total=total,
        )
    ]


def _session_order(session: dict, created, topic: str) -> OrderData:
    currency = currency_code(session.get("currency"))
    metadata = _metadata(session)

    def amount(key, value):
        return minor_money(value if value is not None else 0, currency, field_name=key)

    totals = session.get("total_details") if isinstance(session.get("total_details"), dict) else {}
    subtotal = amount("amount_subtotal", session.get("amount_subtotal"))
    details = session.get("customer_details") or {}
    address = details.get("address") or {} if isinstance(details, dict) else {}
    intent = session.get("payment_intent")
    intent = text(intent.get("id")) if isinstance(intent, dict) else text(intent)
    payment_status = text(session.get("payment_status"))
    status = "paid" if payment_status in ("paid", "no_payment_required") else "pending"
    if topic == "checkout.session.async_payment_succeeded":
        status = "paid"
    if topic == "checkout.session.async_payment_failed":
        status = "cancelled"
    reference = text(session.get("client_reference_id"), limit=100)
    return OrderData(
        external_id=intent or text(session.get("id")),
        name=text(session.get("id"), limit=120),
        currency=currency,
        status=status,
        subtotal=subtotal,
        discounts=amount("total_details.amount_discount", totals.get("amount_discount")),
        shipping=amount("total_details.amount_shipping", totals.get("amount_shipping")),
        tax=amount("total_details.amount_tax", totals.get("amount_tax")),
        total=amount("amount_total", session.get("amount_total")),
        click_id=text(metadata.get(settings.CLICK_ID_PARAM), limit=100) or reference,
        visitor_click_id=text(metadata.get("sl_visitor_click"), limit=100),
        landing_url=text(metadata.get("landing_url"), limit=2000) or None,
        customer_email=text(details.get("email"), limit=320) or None,
        country=text(address.get("country"), limit=2) or None,
        placed_at=epoch(session.get("created"), field_name="created") or created,
        paid_at=created if status == "paid" else None,
        cancelled_at=created if status == "cancelled" else None,
        updated_at=created,
        lines=_lines_from_metadata(metadata, subtotal),
        reservation_key=text(metadata.get("reservation"), limit=100),
        cancel_reason="The delayed payment failed." if status == "cancelled" else "",
    )


def _intent_order(intent: dict, created) -> OrderData:
    currency = currency_code(intent.get("currency"))
    metadata = _metadata(intent)
    received = intent.get("amount_received")
    total = minor_money(received if received is not None else intent.get("amount"), currency,
                        field_name="amount_received")  # fmt: skip
    return OrderData(
        external_id=text(intent.get("id")),
        currency=currency,
        status="paid",
        total=total,
        click_id=text(metadata.get(settings.CLICK_ID_PARAM), limit=100) or None,
        visitor_click_id=text(metadata.get("sl_visitor_click"), limit=100) or None,
        placed_at=epoch(intent.get("created"), field_name="created") or created,
        paid_at=created,
        updated_at=created,
        lines=_lines_from_metadata(metadata, total),
        reservation_key=text(metadata.get("reservation"), limit=100),
    )


def _charge_order(charge: dict, created) -> OrderData:
    currency = currency_code(charge.get("currency"))
    card = ((charge.get("payment_method_details") or {}).get("card")) or {}
    billing = charge.get("billing_details") or {}
    address = billing.get("address") or {}
    return OrderData(
        external_id=text(charge.get("payment_intent")) or text(charge.get("id")),
        currency=currency,
        status="paid" if charge.get("paid") else None,
        total=minor_money(charge.get("amount"), currency, field_name="amount"),
        payment_fingerprint=text(card.get("fingerprint"), limit=100) or None,
        country=text(address.get("country") or card.get("country"), limit=2) or None,
        customer_email=text(billing.get("email"), limit=320) or None,
        paid_at=created if charge.get("paid") else None,
        updated_at=created,
    )


def _refund(refund: dict, intent: str, created) -> RefundData:
    currency = currency_code(refund.get("currency"))
    refund_id = text(refund.get("id"))
    if not refund_id or not intent:
        raise BodyError("A refund has an id and a payment intent or charge.")
    return RefundData(
        external_id=refund_id,
        order_external_id=intent,
        currency=currency,
        total=minor_money(refund.get("amount"), currency, field_name="refund.amount"),
        reason=text(refund.get("reason"), limit=500),
        refunded_at=epoch(refund.get("created"), field_name="refund.created") or created,
    )


# ---------------------------------------------------------------------------------------
# The Checkout Sessions API (form-encoded, Bearer secret key, idempotency keys)
# ---------------------------------------------------------------------------------------


def _flatten(prefix: str, value, out: list) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}[{key}]" if prefix else key, inner, out)
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            _flatten(f"{prefix}[{index}]", inner, out)
    elif value is not None:
        out.append((prefix, str(value).lower() if isinstance(value, bool) else str(value)))


def form_encode(params: dict) -> list[tuple[str, str]]:
    """Stripe's form encoding: `line_items[0][price_data][currency]=usd`."""
    out: list[tuple[str, str]] = []
    _flatten("", params, out)
    return out


def create_checkout_session(*, api_key: str, params: dict, idempotency_key: str) -> dict:
    """POST /v1/checkout/sessions; returns the session (`id`, `url`, ...)."""
    try:
        response = requests.post(
            f"{settings.STRIPE_API_BASE}/v1/checkout/sessions",
            data=form_encode(params),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Idempotency-Key": idempotency_key,
                "Stripe-Version": settings.STRIPE_API_VERSION,
            },
            timeout=settings.STRIPE_API_TIMEOUT,
        )
    except requests.RequestException as exc:
        raise ProviderUnavailable(
            f"Stripe could not be reached ({exc.__class__.__name__})."
        ) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise ProviderUnavailable(f"Stripe answered {response.status_code}.")
    try:
        body = response.json()
    except ValueError:
        raise ProviderUnavailable(f"Stripe answered {response.status_code} without JSON.") from None
    if response.status_code != 200:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else ""
        raise ProviderRefused(f"Stripe refused the session ({response.status_code}): {message}")
    if not isinstance(body, dict) or not body.get("id") or not body.get("url"):
        raise ProviderUnavailable("Stripe answered without a session id and URL.")
    return body
