"""Reads of sales for the console, the API, pages and dashboards."""

from django.db.models import Count, Exists, Prefetch, Q, Sum

from sales.models import Order, OrderEvent, OrderLine, Refund, SalesChannel, WebhookDelivery


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
