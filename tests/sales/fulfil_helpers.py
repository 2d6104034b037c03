"""Orders with stock for the fulfilment tests (issue 19)."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from sales import services
from sales.models import Order, OrderLine, Provider
from tests.sales.factories import SalesChannelFactory, VariantFactory


def paid_order(lines, *, provider=Provider.STRIPE, channel=None, paid_days_ago=1, name=""):
    """lines: [(sku, quantity, unit price as text)]; each SKU gets a variant with 50 on hand,
    and the order's units are committed as a paid order's are."""
    channel = channel or SalesChannelFactory(provider=provider)
    total = sum(Decimal(p) * q for _, q, p in lines)
    order = Order.objects.create(
        channel=channel, external_id=f"ext-{channel.pk}-{Order.objects.count() + 1}",
        name=name, status=Order.Status.PAID, currency="USD", subtotal=total, total=total,
        paid_at=timezone.now() - timedelta(days=paid_days_ago),
    )  # fmt: skip
    for sku, quantity, price in lines:
        variant = VariantFactory(sku=sku, stock_on_hand=50, price=Decimal(price))
        OrderLine.objects.create(
            order=order, sku=sku, title=f"Title {sku}", variant=variant,
            product=variant.product, quantity=quantity, unit_price=Decimal(price),
            total=Decimal(price) * quantity, external_id=f"li-{sku}",
        )  # fmt: skip
    services.order_settle_stock(order_id=order.pk)
    order.refresh_from_db()
    return order
