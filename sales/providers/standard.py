"""Standard Webhooks (https://www.standardwebhooks.com): any sender that follows the spec,
e.g. a merchant's own checkout.

- Signature: headers `webhook-id`, `webhook-timestamp` and `webhook-signature`, the latter a
  space-separated list of `v1,<base64>`; each `v1` is HMAC-SHA256 of
  `"{id}.{timestamp}.{raw body}"` under the secret, which is `whsec_` + base64 of the key
  bytes. The timestamp must be within `STANDARD_WEBHOOK_TOLERANCE` seconds (5 minutes) either
  way. Unlike the reference library, a garbage header never raises: it is `malformed` (401).
- Body: the envelope `{"type": ..., "timestamp": ..., "data": {...}}`. Types Shoploop reads:
  `order.created`, `order.updated`, `order.paid`, `order.fulfilled`, `order.cancelled` (data:
  an order, below) and `refund.created` (data: a refund). Amounts are decimal strings in the
  order's currency.

An order: `id`, `name`, `status` (pending, paid, fulfilled, cancelled), `currency`,
`subtotal`, `discounts`, `shipping`, `tax`, `total`, `discount_codes`, `landing_url`,
`referring_site`, `click_id`, `visitor_click_id`, `email`, `country`, `placed_at`,
`paid_at`, `cancelled_at`, `fulfilled_at`, `updated_at` (ISO 8601), `version` (an integer
that grows with every change; it decides over `updated_at`), `lines` (`id`, `sku`, `title`,
`quantity`, `unit_price`, `discount`, `tax`, `total`). A refund: `id`, `order_id`,
`currency`, `total`, `shipping`, `reason`, `created_at`, `lines` (`line_id`, `sku`,
`quantity`, `amount`).
"""

import base64
import hashlib
import hmac
import time

from django.conf import settings

from sales.providers.base import (
    BodyError,
    Identity,
    Ignored,
    LineData,
    OrderData,
    RefundData,
    RefundLineData,
    Verification,
    b64decode,
    currency_code,
    iso_time,
    money,
    require_object,
    text,
)

PREFIX = "whsec_"
ORDER_TYPES = {"order.created", "order.updated", "order.paid", "order.fulfilled",
               "order.cancelled"}  # fmt: skip
STATUSES = {"pending", "paid", "fulfilled", "cancelled"}


def secret_key(secret: str) -> bytes:
    value = secret[len(PREFIX) :] if secret.startswith(PREFIX) else secret
    return b64decode(value)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secrets: list[str], body: bytes, headers: dict, *, channel=None, now=None):
    msg_id = headers.get("webhook-id", "").strip()
    stamp = headers.get("webhook-timestamp", "").strip()
    signature = headers.get("webhook-signature", "").strip()
    if not (msg_id and stamp and signature):
        return Verification("missing", "webhook-id, webhook-timestamp and webhook-signature "
                                       "are all required.")  # fmt: skip
    if not stamp.isdigit() or len(stamp) > 12:
        return Verification("malformed", "webhook-timestamp is not a Unix time.")
    timestamp = int(stamp)
    given = []
    for versioned in signature.split(" "):
        version, sep, value = versioned.partition(",")
        if not sep:
            return Verification("malformed", "webhook-signature is not a list of v1,<base64>.")
        if version != "v1":
            continue
        try:
            given.append(b64decode(value))
        except ValueError:
            return Verification("malformed", "webhook-signature holds something not base64.")
    if not given:
        return Verification("malformed", "webhook-signature has no v1 signature.")
    matched = False
    for secret in secrets:
        try:
            key = secret_key(secret)
        except ValueError:
            continue  # a secret the console refuses to store; never matches
        expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
        for candidate in given:
            matched |= hmac.compare_digest(expected.digest(), candidate)
    if not matched:
        return Verification("invalid", "No v1 signature matches a secret of the channel.")
    now = time.time() if now is None else now
    tolerance = settings.STANDARD_WEBHOOK_TOLERANCE
    if timestamp < now - tolerance:
        return Verification("stale", "Message timestamp too old.")
    if timestamp > now + tolerance:
        return Verification("stale", "Message timestamp too new.")
    return Verification("valid")


def identify(payload, headers: dict) -> Identity:
    payload = require_object(payload)
    event_type = text(payload.get("type"), limit=120)
    if not event_type:
        raise BodyError("type: missing.")
    return Identity(delivery_id=headers.get("webhook-id", "").strip()[:255], topic=event_type)


def parse(identity: Identity, payload, channel) -> list:
    data = require_object(require_object(payload).get("data"), "data")
    if identity.topic in ORDER_TYPES:
        return [parse_order(data)]
    if identity.topic == "refund.created":
        return [parse_refund(data)]
    return [Ignored(f"Type {identity.topic} is not one Shoploop reads.")]


def parse_order(data: dict) -> OrderData:
    external_id = text(data.get("id"))
    if not external_id:
        raise BodyError("data.id: missing.")
    currency = currency_code(data.get("currency"), field_name="data.currency")
    status = text(data.get("status"))
    if status not in STATUSES:
        raise BodyError(f"data.status: {status!r} is not one of {', '.join(sorted(STATUSES))}.")

    def amount(key, default="0"):
        value = data.get(key, default)
        return money(value, currency, field_name=f"data.{key}")

    lines = []
    for index, line in enumerate(data.get("lines") or []):
        line = require_object(line, f"data.lines[{index}]")
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise BodyError(f"data.lines[{index}].quantity: {quantity!r} is not a count.")

        def line_amount(key, default="0", line=line, index=index):
            return money(line.get(key, default), currency, field_name=f"data.lines[{index}].{key}")

        unit = line_amount("unit_price", None)
        discount = line_amount("discount")
        lines.append(
            LineData(
                external_id=text(line.get("id")),
                sku=text(line.get("sku")),
                title=text(line.get("title")),
                quantity=quantity,
                unit_price=unit,
                discount=discount,
                tax=line_amount("tax"),
                total=line_amount("total", str(unit * quantity - discount)),
            )
        )
    version = data.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise BodyError("data.version: an integer that grows with every change.")
    return OrderData(
        external_id=external_id,
        name=text(data.get("name"), limit=120),
        currency=currency,
        status=status,
        subtotal=amount("subtotal"),
        discounts=amount("discounts"),
        shipping=amount("shipping"),
        tax=amount("tax"),
        total=amount("total", None),
        discount_codes=[text(c, limit=100) for c in data.get("discount_codes") or [] if text(c)],
        landing_url=text(data.get("landing_url"), limit=2000),
        referring_site=text(data.get("referring_site"), limit=2000),
        click_id=text(data.get("click_id"), limit=100),
        visitor_click_id=text(data.get("visitor_click_id"), limit=100),
        customer_email=text(data.get("email"), limit=320) or None,
        country=text(data.get("country"), limit=2).upper(),
        placed_at=iso_time(data.get("placed_at"), field_name="data.placed_at"),
        paid_at=iso_time(data.get("paid_at"), field_name="data.paid_at"),
        cancelled_at=iso_time(data.get("cancelled_at"), field_name="data.cancelled_at"),
        fulfilled_at=iso_time(data.get("fulfilled_at"), field_name="data.fulfilled_at"),
        updated_at=iso_time(data.get("updated_at"), field_name="data.updated_at"),
        version=version,
        lines=lines,
        cancel_reason=text(data.get("cancel_reason"), limit=500),
    )


def parse_refund(data: dict) -> RefundData:
    refund_id, order_id = text(data.get("id")), text(data.get("order_id"))
    if not refund_id or not order_id:
        raise BodyError("data.id and data.order_id are required.")
    currency = currency_code(data.get("currency"), field_name="data.currency")
    lines = []
    for index, line in enumerate(data.get("lines") or []):
        line = require_object(line, f"data.lines[{index}]")
        quantity = line.get("quantity", 0)
        lines.append(
            RefundLineData(
                line_external_id=text(line.get("line_id")),
                sku=text(line.get("sku")),
                quantity=quantity if isinstance(quantity, int) and quantity > 0 else 0,
                amount=money(
                    line.get("amount", "0"), currency, field_name=f"data.lines[{index}].amount"
                ),
            )  # fmt: skip
        )
    return RefundData(
        external_id=refund_id,
        order_external_id=order_id,
        currency=currency,
        total=money(data.get("total"), currency, field_name="data.total"),
        shipping=money(data.get("shipping", "0"), currency, field_name="data.shipping"),
        reason=text(data.get("reason"), limit=500),
        refunded_at=iso_time(data.get("created_at"), field_name="data.created_at"),
        lines=lines,
    )
