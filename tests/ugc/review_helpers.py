"""A paid order with one line, and its signed review link."""

from sales.models import Order, OrderLine
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.sales.factories import SalesChannelFactory
from ugc.reviews import review_token


def paid_line(product=None, *, status="paid", external_id="1001"):
    product = product or ProductFactory(title="Trail Jacket", slug="trail-jacket")
    if not product.variants.exists():
        VariantFactory(product=product)
    order = Order.objects.create(
        channel=SalesChannelFactory(), external_id=external_id, name=f"#{external_id}",
        status=status, currency="USD",
    )  # fmt: skip
    return OrderLine.objects.create(order=order, product=product, title=product.title, quantity=1)


def review_path(line) -> str:
    return f"/reviews/write/{review_token(line.pk)}/"
