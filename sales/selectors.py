"""Reads of sales for the console, the API, pages and dashboards."""

import base64
import json

from django.db.models import Count, Exists, Prefetch, Q, Sum

from sales.models import (
    Commission,
    Order,
    OrderEvent,
    OrderLine,
    PendingOrderEvent,
    Provider,
    Refund,
    SalesChannel,
    WebhookDelivery,
)


def checkout_exists():
    """An `Exists` to annotate products with: the shop has a checkout (one query less)."""
    return Exists(SalesChannel.objects.filter(checkout=True, active=True))


def orders_for_list():
    """Orders with their channel, line counts and unmapped lines, in one query."""
    return (
        Order.objects.select_related("channel")
        .annotate(
            line_count=Count("lines", distinct=True),
            unmapped_count=Count("lines", filter=Q(lines__variant__isnull=True), distinct=True),
        )
        .order_by("-placed_at", "-pk")
    )


def order_detail():
    """Orders with everything their page and the API show, in a fixed number of queries."""
    return Order.objects.select_related("channel", "reservation").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("variant", "product")),
        Prefetch("refunds", queryset=Refund.objects.prefetch_related("lines")),
        Prefetch("events", queryset=OrderEvent.objects.select_related("actor")),
        Prefetch(
            "deliveries",
            queryset=WebhookDelivery.objects.defer("body").order_by("received_at", "pk"),
        ),
    )


def unmapped_skus():
    """SKUs of order lines that map to no variant, with how many lines and units wait."""
    return (
        OrderLine.objects.filter(variant__isnull=True)
        .exclude(sku="")
        .values("sku")
        .annotate(lines=Count("pk"), units=Sum("quantity"), orders=Count("order", distinct=True))
        .order_by("-lines", "sku")
    )


def units_committed_for_shop(*, shop_domain: str, variant_id: int, placed_until=None) -> int:
    """Units of a variant committed to unshipped orders of a Shopify shop (its channels, or
    Shopify channels that name no shop), of orders placed by `placed_until` if given."""
    shop = Q(order__channel__shop_domain__iexact=shop_domain) | Q(order__channel__shop_domain="")
    lines = OrderLine.objects.filter(
        shop, variant_id=variant_id, order__channel__provider=Provider.SHOPIFY
    )
    if placed_until is not None:
        lines = lines.filter(order__placed_at__lte=placed_until)
    total = lines.aggregate(units=Sum("stock_committed")).get("units")
    return int(total or 0)


def last_deliveries(channel_id: int, limit: int = 10):
    return WebhookDelivery.objects.filter(channel_id=channel_id).defer("body")[:limit]


def deliveries_waiting(*, provider: str, shop_id: str, limit: int = 1000) -> list[int]:
    """Deliveries of a shop's channels waiting for credentials (see `sales.credentials`)."""
    return list(
        WebhookDelivery.objects.filter(
            accepted=True,
            status=WebhookDelivery.Status.WAITING,
            channel__provider=provider,
            channel__shop_id=shop_id,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


# ---------------------------------------------------------------------------------------
# One customer's data (privacy requests: what is held, what a redaction erases)
# ---------------------------------------------------------------------------------------


def customer_orders(*, email_hash: str = "", shop_domain: str = "", shopify_order_ids=()):
    """The orders of one customer: those whose `customer_email_hash` is theirs (from every
    channel: Shoploop is one merchant's backoffice), and the Shopify orders of `shop_domain`
    named by id (Shopify's requests list them; a redacted order no longer has the hash)."""
    match = Q(pk__in=[])
    if email_hash:
        match |= Q(customer_email_hash=email_hash)
    ids = sorted({str(i).strip() for i in shopify_order_ids if str(i).strip()})
    if ids:
        shop = Q(channel__shop_domain__iexact=shop_domain) | Q(channel__shop_domain="")
        match |= Q(channel__provider=Provider.SHOPIFY, external_id__in=ids) & shop
    return Order.objects.filter(match).order_by("pk")


def deliveries_of_orders(order_ids) -> set[int]:
    """Webhook deliveries that built or changed these orders (the order's own, its refunds',
    its audit rows', and refunds or cancellations that waited for it)."""
    order_ids = list(order_ids)
    if not order_ids:
        return set()
    ids = set(WebhookDelivery.objects.filter(order_id__in=order_ids).values_list("pk", flat=True))
    for model in (Refund, OrderEvent):
        ids |= set(
            model.objects.filter(order_id__in=order_ids, delivery__isnull=False).values_list(
                "delivery_id", flat=True
            )
        )
    waited = Q(pk__in=[])
    for channel_id, external_id in Order.objects.filter(pk__in=order_ids).values_list(
        "channel_id", "external_id"
    ):
        waited |= Q(channel_id=channel_id, order_external_id=external_id)
    ids |= set(
        PendingOrderEvent.objects.filter(waited, delivery__isnull=False).values_list(
            "delivery_id", flat=True
        )
    )
    return ids


def deliveries_mentioning(email: str, *, chunk: int = 500) -> set[int]:
    """Deliveries not linked to an order (failed, ignored, waiting, rejected) whose stored
    body holds `email`, whatever its case. Read in chunks; run by jobs, never by a page."""
    needle = (email or "").strip().lower().encode()
    if not needle:
        return set()
    found = set()
    rows = (
        WebhookDelivery.objects.filter(order__isnull=True, erased_at__isnull=True)
        .order_by("pk")
        .values_list("pk", "body")
    )
    for pk, body in rows.iterator(chunk_size=chunk):
        if body and needle in bytes(body).lower():
            found.add(pk)
    return found


def _plain(value):
    return None if value is None else str(value)


def _body(delivery) -> object:
    raw = bytes(delivery.body)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {"base64": base64.b64encode(raw).decode()}


def customer_data(*, order_ids, delivery_ids=()) -> dict:
    """What sales holds about one customer, for a data request's export: each order with its
    lines, refunds, attribution and audit, and every stored delivery that carried their data
    (the raw bodies as the providers sent them)."""
    orders = (
        order_detail()
        .filter(pk__in=list(order_ids))
        .prefetch_related(
            Prefetch("commissions", queryset=Commission.objects.select_related("creator"))
        )
        .order_by("pk")
    )
    linked = deliveries_of_orders(order_ids) | set(delivery_ids)
    deliveries = (
        WebhookDelivery.objects.filter(pk__in=linked, erased_at__isnull=True)
        .select_related("channel")
        .order_by("received_at", "pk")
    )
    return {
        "orders": [
            {
                "channel": {"name": o.channel.name, "provider": o.channel.provider},
                "external_id": o.external_id,
                "name": o.name,
                "status": o.status,
                "currency": o.currency,
                "subtotal": _plain(o.subtotal),
                "discounts": _plain(o.discounts),
                "shipping": _plain(o.shipping),
                "tax": _plain(o.tax),
                "total": _plain(o.total),
                "discount_codes": o.discount_codes,
                "landing_url": o.landing_url,
                "referring_site": o.referring_site,
                "country": o.country,
                "customer_email_hash": o.customer_email_hash,
                "payment_fingerprint_hash": o.payment_fingerprint_hash,
                "placed_at": _plain(o.placed_at),
                "paid_at": _plain(o.paid_at),
                "cancelled_at": _plain(o.cancelled_at),
                "fulfilled_at": _plain(o.fulfilled_at),
                "delivered_at": _plain(o.delivered_at),
                "redacted_at": _plain(o.redacted_at),
                "lines": [
                    {
                        "sku": line.sku,
                        "title": line.title,
                        "quantity": line.quantity,
                        "unit_price": _plain(line.unit_price),
                        "discount": _plain(line.discount),
                        "tax": _plain(line.tax),
                        "total": _plain(line.total),
                    }
                    for line in o.lines.all()
                ],
                "refunds": [
                    {
                        "external_id": refund.external_id,
                        "total": _plain(refund.total),
                        "shipping": _plain(refund.shipping),
                        "reason": refund.reason,
                        "refunded_at": _plain(refund.refunded_at),
                        "lines": [
                            {"sku": rl.sku, "quantity": rl.quantity, "amount": _plain(rl.amount)}
                            for rl in refund.lines.all()
                        ],
                    }
                    for refund in o.refunds.all()
                ],
                "attribution": {
                    "click_id": o.click_id,
                    "visitor_click_id": o.visitor_click_id,
                    "credited_creators": sorted({c.creator.handle for c in o.commissions.all()}),
                },
                "history": [
                    {
                        "at": _plain(e.at),
                        "action": e.action,
                        "from": e.from_status,
                        "to": e.to_status,
                        "reason": e.reason,
                    }
                    for e in o.events.all()
                ],
            }
            for o in orders
        ],
        "deliveries": [
            {
                "provider": d.provider,
                "channel": d.channel.name if d.channel_id else "",
                "topic": d.topic,
                "received_at": _plain(d.received_at),
                "body": _body(d),
            }
            for d in deliveries
        ],
    }
