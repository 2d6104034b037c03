"""Demo parcels for `seed_demo` (issue 19): one order shipped and on its way, one delivered,
each with its shopper's order page; and a low-stock variant for the days-of-cover list."""

import time

from catalog.models import Variant
from demo.sales import DEMO_SECRETS
from sales import fulfilment, services
from sales.fulfilment_models import Fulfilment
from sales.models import Order, SalesChannel
from testservers import webhooks

ORDERS = [
    # (order id, carrier, tracking number, delivered)
    ("demo-ship-1", "ups", "1Z999AA10123456784", False),
    ("demo-ship-2", "usps", "9400111899223197428490", True),
]


def _order(channel, order_id, variant, quantity) -> Order:
    existing = Order.objects.filter(channel=channel, external_id=order_id).first()
    if existing is not None:
        return existing
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    total = str(variant.price * quantity)
    data = {"id": order_id, "name": f"#{order_id}", "status": "paid", "currency": "USD",
            "subtotal": total, "total": total, "placed_at": now, "paid_at": now,
            "updated_at": now, "version": 1,
            "lines": [{"id": f"{order_id}-1", "sku": variant.sku, "title": str(variant),
                       "quantity": quantity, "unit_price": str(variant.price)}]}  # fmt: skip
    body = webhooks.body_of({"type": "order.paid", "timestamp": now, "data": data})
    headers = webhooks.standard_headers(secret=DEMO_SECRETS["standard"], body=body,
                                        msg_id=f"msg_{order_id}")  # fmt: skip
    receipt = services.delivery_receive(provider="standard", token=channel.token, body=body,
                                        headers=headers)  # fmt: skip
    if receipt.delivery_id:
        services.delivery_process(delivery_id=receipt.delivery_id)
    return Order.objects.get(channel=channel, external_id=order_id)


def seed_fulfilment() -> list[Order]:
    """The demo's shipped and delivered orders (made once; a second run changes nothing)."""
    channel = SalesChannel.objects.filter(provider="standard", name="Demo custom checkout").first()
    variants = list(Variant.objects.filter(currency="USD", stock_on_hand__gte=10)
                    .order_by("price", "pk")[:2])  # fmt: skip
    if channel is None or len(variants) < 2:
        return []
    orders = []
    for n, (order_id, carrier, number, delivered) in enumerate(ORDERS):
        order = _order(channel, order_id, variants[n], 2)
        if order.status in fulfilment.FULFILLABLE and not order.fulfilments.exists():
            parcel = fulfilment.fulfilment_create(order_id=order.pk, carrier=carrier,
                                                  tracking_number=number)  # fmt: skip
            if delivered:
                fulfilment.fulfilment_deliver(fulfilment_id=parcel.pk,
                                              reason="Demo: the carrier delivered it.")  # fmt: skip
        order.refresh_from_db()
        orders.append(order)
    return orders


def describe(orders: list[Order]) -> str:
    parts = []
    for order in orders:
        state = "delivered" if order.delivered_at else "shipped"
        count = Fulfilment.objects.filter(order=order).count()
        parts.append(f"{order.name} {state} ({count} parcel) /orders/{order.status_token}/")
    return "; ".join(parts)
