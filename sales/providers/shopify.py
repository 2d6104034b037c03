"""Shopify webhooks.

- Signature: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body under the
  app's client secret. There is no signed timestamp: replays are stopped by the ids.
- Topic: `X-Shopify-Topic` (`orders/create`, `orders/updated`, `orders/paid`,
  `orders/cancelled`, `orders/fulfilled`, `refunds/create`; and `fulfillments/create`,
  `fulfillments/update`: parcels with tracking and the carrier's `shipment_status`).
- Ids: `X-Shopify-Webhook-Id` is one delivery (retries keep it); `X-Shopify-Event-Id` is one
  event (several subscriptions to a topic deliver it several times). Both deduplicate.
- Out of order: an order's `updated_at` decides; an older update never overwrites a newer one.
- Orders are sold on Shopify: stock is committed directly (oversold when short here).
"""

import hashlib
import hmac
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from django.conf import settings

from sales.providers.base import (
    BodyError,
    FulfilmentData,
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

HMAC_HEADER = "x-shopify-hmac-sha256"
ORDER_TOPICS = {
    "orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled",
    "orders/partially_fulfilled", "orders/edited",
}  # fmt: skip
REFUND_TOPICS = {"refunds/create"}
FULFILMENT_TOPICS = {"fulfillments/create", "fulfillments/update"}  # issue 19


def sign(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def verify(secrets: list[str], body: bytes, headers: dict, *, channel=None, now=None):
    header = headers.get(HMAC_HEADER, "").strip()
    if not header:
        return Verification("missing", "No X-Shopify-Hmac-Sha256 header.")
    try:
        given = b64decode(header)
    except ValueError:
        return Verification("malformed", "X-Shopify-Hmac-Sha256 is not base64.")
    matched = False
    for secret in secrets:  # every secret is tried, so timing says nothing about which
        matched |= hmac.compare_digest(sign(secret, body), given)
    if not matched:
        return Verification("invalid", "X-Shopify-Hmac-Sha256 matches no secret of the channel.")
    if channel is not None and channel.shop_domain:
        domain = headers.get("x-shopify-shop-domain", "").strip().lower()
        if domain and domain != channel.shop_domain.lower():
            return Verification("invalid", f"Signed for another shop ({domain[:80]}).")
    return Verification("valid")


def identify(payload, headers: dict) -> Identity:
    topic = headers.get("x-shopify-topic", "").strip()[:120]
    webhook_id = headers.get("x-shopify-webhook-id", "").strip()[:255]
    event_id = headers.get("x-shopify-event-id", "").strip()[:255]
    if not topic:
        raise BodyError("No X-Shopify-Topic header.")
    if not (webhook_id or event_id):
        raise BodyError("No X-Shopify-Webhook-Id or X-Shopify-Event-Id header.")
    return Identity(delivery_id=webhook_id or f"event:{event_id}", topic=topic, event_id=event_id)


def parse(identity: Identity, payload, channel) -> list:
    payload = require_object(payload)
    if identity.topic in ORDER_TOPICS:
        return [parse_order(payload)]
    if identity.topic in REFUND_TOPICS:
        order_id = text(payload.get("order_id"))
        if not order_id:
            raise BodyError("order_id: missing.")
        currency = _refund_currency(payload, channel)
        return [parse_refund(payload, order_id, currency)]
    if identity.topic in FULFILMENT_TOPICS:
        return [parse_fulfilment(payload)]
    return [Ignored(f"Topic {identity.topic} is not an order topic.")]


def parse_fulfilment(payload: dict):
    """A REST fulfillment: its order, id, tracking (number, company, url), the carrier's
    `shipment_status` and its line items. A cancelled or failed one records nothing."""
    order_id, fulfilment_id = text(payload.get("order_id")), text(payload.get("id"))
    if not order_id or not fulfilment_id:
        raise BodyError("order_id and id: required.")
    if text(payload.get("status")) not in ("success", "open", "pending", ""):
        return Ignored(f"Fulfillment {fulfilment_id} is {text(payload.get('status'))}.")
    numbers = payload.get("tracking_numbers") or [payload.get("tracking_number")]
    urls = payload.get("tracking_urls") or [payload.get("tracking_url")]
    lines = []
    for item in payload.get("line_items") or []:
        if isinstance(item, dict):
            lines.append(
                (text(item.get("id")), text(item.get("sku")), int(item.get("quantity") or 0))
            )
    return FulfilmentData(
        order_external_id=order_id, external_id=fulfilment_id,
        carrier=text(payload.get("tracking_company")),
        tracking_number=text(numbers[0]) if numbers and numbers[0] else "",
        tracking_url=text(urls[0]) if urls and urls[0] else "",
        shipment_status=text(payload.get("shipment_status")),
        at=iso_time(payload.get("updated_at") or payload.get("created_at"),
                    field_name="updated_at"),
        lines=[line for line in lines if line[2] > 0],
    )  # fmt: skip


def _params_of(url: str) -> dict:
    try:
        return parse_qs(urlsplit(url).query)
    except ValueError:
        return {}


def _attribute(order: dict, name: str) -> str:
    for item in order.get("note_attributes") or []:
        if isinstance(item, dict) and item.get("name") == name:
            return text(item.get("value"), limit=100)
    return ""


def _sum(values) -> Decimal:
    return sum((v for v in values), Decimal(0))


def parse_order(order: dict) -> OrderData:
    external_id = text(order.get("id"))
    if not external_id:
        raise BodyError("id: missing.")
    currency = currency_code(order.get("currency"))

    def amount(key, value=None):
        value = order.get(key) if value is None else value
        return money(value if value not in (None, "") else "0", currency, field_name=key)

    shipping = order.get("total_shipping_price_set") or {}
    shipping_amount = (shipping.get("shop_money") or {}).get("amount")
    if shipping_amount is None:
        shipping_total = _sum(
            amount("shipping_lines.price", line.get("price"))
            for line in order.get("shipping_lines") or []
            if isinstance(line, dict)
        )
    else:
        shipping_total = amount("total_shipping_price_set", shipping_amount)
    lines = []
    for index, item in enumerate(order.get("line_items") or []):
        if not isinstance(item, dict):
            raise BodyError(f"line_items[{index}] must be an object.")
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise BodyError(f"line_items[{index}].quantity: {quantity!r} is not a count.")
        unit = amount(f"line_items[{index}].price", item.get("price"))
        discount = amount(f"line_items[{index}].total_discount", item.get("total_discount") or "0")
        allocations = item.get("discount_allocations") or []
        if allocations and not item.get("total_discount"):
            discount = _sum(
                amount(f"line_items[{index}].discount_allocations", a.get("amount"))
                for a in allocations
                if isinstance(a, dict)
            )
        tax = _sum(
            amount(f"line_items[{index}].tax_lines", t.get("price"))
            for t in item.get("tax_lines") or []
            if isinstance(t, dict)
        )
        title = text(item.get("title"))
        if item.get("variant_title"):
            title = f"{title} – {text(item.get('variant_title'))}"[:255]
        lines.append(
            LineData(
                external_id=text(item.get("id")),
                sku=text(item.get("sku")),
                title=title,
                quantity=quantity,
                unit_price=unit,
                discount=discount,
                tax=tax,
                total=unit * quantity - discount,
            )
        )
    landing = text(order.get("landing_site"), limit=2000)
    param = settings.CLICK_ID_PARAM
    click_id = (_params_of(landing).get(param) or [""])[0][:100] or _attribute(order, param)
    address = order.get("billing_address") or order.get("shipping_address") or {}
    email = (
        order.get("email")
        or order.get("contact_email")
        or (order.get("customer") or {}).get("email")
    )
    financial = text(order.get("financial_status"))
    cancelled_at = iso_time(order.get("cancelled_at"), field_name="cancelled_at")
    fulfilled_at = None
    for fulfilment in order.get("fulfillments") or []:
        if isinstance(fulfilment, dict) and fulfilment.get("created_at"):
            fulfilled_at = iso_time(fulfilment.get("created_at"), field_name="fulfillments")
    if cancelled_at:
        status = "cancelled"
    elif order.get("fulfillment_status") == "fulfilled":
        status = "fulfilled"
    elif financial in ("paid", "partially_refunded", "refunded", "partially_paid"):
        status = "paid"
    else:
        status = "pending"
    updated_at = iso_time(order.get("updated_at"), field_name="updated_at")
    processed_at = iso_time(order.get("processed_at"), field_name="processed_at")
    refunds = [
        parse_refund(refund, external_id, currency)
        for refund in order.get("refunds") or []
        if isinstance(refund, dict)
    ]
    return OrderData(
        external_id=external_id,
        name=text(order.get("name"), limit=120),
        currency=currency,
        status=status,
        subtotal=amount("total_line_items_price", order.get("total_line_items_price") or "0"),
        discounts=amount("total_discounts", order.get("total_discounts") or "0"),
        shipping=shipping_total,
        tax=amount("total_tax", order.get("total_tax") or "0"),
        total=amount("total_price"),
        discount_codes=[
            text(code.get("code"), limit=100)
            for code in order.get("discount_codes") or []
            if isinstance(code, dict) and code.get("code")
        ],
        landing_url=landing,
        referring_site=text(order.get("referring_site"), limit=2000),
        click_id=click_id,
        visitor_click_id=_attribute(order, "sl_visitor_click"),
        customer_email=text(email, limit=320) or None,
        country=text(address.get("country_code") if isinstance(address, dict) else "", limit=2),
        placed_at=iso_time(order.get("created_at"), field_name="created_at") or processed_at,
        paid_at=processed_at if status in ("paid", "fulfilled") else None,
        cancelled_at=cancelled_at,
        fulfilled_at=fulfilled_at if status == "fulfilled" else None,
        updated_at=updated_at,
        lines=lines,
        cancel_reason=text(order.get("cancel_reason")),
        refunds=refunds,
    )


def _refund_currency(refund: dict, channel) -> str:
    for transaction in refund.get("transactions") or []:
        if isinstance(transaction, dict) and transaction.get("currency"):
            return currency_code(transaction.get("currency"))
    return channel.currency


def parse_refund(refund: dict, order_id: str, currency: str) -> RefundData:
    refund_id = text(refund.get("id"))
    if not refund_id:
        raise BodyError("refund id: missing.")

    def amount(key, value):
        return money(value if value not in (None, "") else "0", currency, field_name=key)

    total = _sum(
        amount("transactions.amount", t.get("amount"))
        for t in refund.get("transactions") or []
        if isinstance(t, dict) and t.get("kind") == "refund" and t.get("status") == "success"
    )
    shipping = _sum(
        -amount("order_adjustments.amount", a.get("amount"))
        for a in refund.get("order_adjustments") or []
        if isinstance(a, dict) and a.get("kind") == "shipping_refund"
    ) + _sum(
        amount("refund_shipping_lines.subtotal_amount", (s.get("subtotal_amount_set") or {})
               .get("shop_money", {}).get("amount"))
        for s in refund.get("refund_shipping_lines") or []
        if isinstance(s, dict)
    )  # fmt: skip
    lines = []
    for item in refund.get("refund_line_items") or []:
        if not isinstance(item, dict):
            continue
        quantity = item.get("quantity") if isinstance(item.get("quantity"), int) else 0
        lines.append(
            RefundLineData(
                line_external_id=text(item.get("line_item_id")),
                sku=text((item.get("line_item") or {}).get("sku")),
                quantity=max(0, quantity),
                amount=amount("refund_line_items.subtotal", item.get("subtotal"))
                + amount("refund_line_items.total_tax", item.get("total_tax")),
            )
        )
    return RefundData(
        external_id=refund_id,
        order_external_id=order_id,
        currency=currency,
        total=total,
        shipping=max(shipping, Decimal(0)),
        reason=text(refund.get("note"), limit=500),
        refunded_at=iso_time(
            refund.get("processed_at") or refund.get("created_at"), field_name="created_at"
        ),
        lines=lines,
    )
