"""Days of cover on a fixture of orders with refunds; the console's parcels, low-stock list
(and CSV), stock alerts and throttles (issue 19)."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from sales import cover, defence
from sales.fulfilment_models import Fulfilment, ReservationThrottle, StockAlert
from sales.models import Order, OrderLine, Refund, RefundLine
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.sales.factories import SalesChannelFactory
from tests.sales.fulfil_helpers import paid_order

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def sale(variant, quantity, *, days_ago, status=Order.Status.PAID, refunded=0):
    channel = SalesChannelFactory()
    order = Order.objects.create(
        channel=channel, external_id=f"s-{channel.pk}", status=status, currency="USD",
        paid_at=NOW - timedelta(days=days_ago) if status != Order.Status.PENDING else None,
        placed_at=NOW - timedelta(days=days_ago),
    )  # fmt: skip
    line = OrderLine.objects.create(order=order, sku=variant.sku, variant=variant,
                                    product=variant.product, quantity=quantity)  # fmt: skip
    if refunded:
        refund = Refund.objects.create(order=order, channel=channel, external_id=f"r-{line.pk}",
                                       currency="USD", total=Decimal("1.00"))  # fmt: skip
        RefundLine.objects.create(refund=refund, line=line, sku=variant.sku, quantity=refunded)


@pytest.fixture
def shelf():
    """Two variants of one product (reorder below 10 days) and one of another (default 14)."""
    tee = ProductFactory(title="Tee", reorder_days=10)
    fast = VariantFactory(product=tee, sku="TEE-S", stock_on_hand=30)
    slow = VariantFactory(product=tee, sku="TEE-L", stock_on_hand=200)
    mug = VariantFactory(product=ProductFactory(title="Mug"), sku="MUG", stock_on_hand=5)
    # TEE-S: 14 units this week (2 refunded), 28 in the month before: 7 d 12 -> 1.71/day,
    # 28 d 40 -> 1.43/day; 30 free units at 1.714.../day = 17.5 days: not below 10.
    sale(fast, 10, days_ago=2, refunded=2)
    sale(fast, 4, days_ago=6)
    sale(fast, 28, days_ago=20)
    sale(fast, 50, days_ago=40)  # outside 28 days
    sale(fast, 9, days_ago=1, status=Order.Status.CANCELLED)  # never a sale
    sale(fast, 9, days_ago=1, status=Order.Status.PENDING)  # never a sale
    # TEE-L: 56 in the month, none this week: 2/day, 200 units = 100 days.
    sale(slow, 56, days_ago=15)
    # MUG: 7 this week, 1/day; 5 units -> 5 days, below the default 14.
    sale(mug, 7, days_ago=3)
    return fast, slow, mug


def test_velocity_and_days_of_cover_net_of_refunds(shelf):
    fast, slow, mug = shelf
    rows = {r.sku: r for r in cover.product_cover(fast.product_id)}
    assert (rows["TEE-S"].sold_7, rows["TEE-S"].sold_28) == (12, 40)
    assert rows["TEE-S"].velocity_7 == Decimal("1.71") and rows["TEE-S"].velocity_28 == Decimal(
        "1.43"
    )
    assert rows["TEE-S"].days_left == Decimal("17.5") and not rows["TEE-S"].reorder
    assert rows["TEE-L"].days_left == Decimal("100.0") and rows["TEE-L"].threshold == 10
    (mug_row,) = cover.product_cover(mug.product_id)
    assert mug_row.days_left == Decimal("5.0") and mug_row.threshold == 14 and mug_row.reorder


def test_a_higher_threshold_flags_the_variant_and_the_low_stock_list_sorts_by_days(shelf):
    fast, _, _ = shelf
    fast.product.reorder_days = 20
    fast.product.save()
    assert [r.sku for r in cover.low_stock()] == ["MUG", "TEE-S"]


def test_a_variant_that_never_sells_has_no_days_left():
    variant = VariantFactory(stock_on_hand=3)
    (row,) = cover.product_cover(variant.product_id)
    assert row.days_left is None and not row.reorder


@pytest.fixture
def owner(client):
    user = User.objects.create_user("owner", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Owner"))
    client.force_login(user)
    return user


def test_the_console_lists_low_stock_and_exports_it_as_csv(client, owner, shelf):
    page = client.get("/admin/sales/fulfilment/low-stock/")
    assert page.status_code == 200 and b'data-sku="MUG"' in page.content
    export = client.get("/admin/sales/fulfilment/low-stock/?format=csv")
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0] == cover.CSV_HEADER
    assert rows[1][:4] == ["MUG", "Mug", "M", "5"] and rows[1][-1] == "yes"
    product_page = client.get(f"/admin/catalog/product/{shelf[0].product_id}/change/")
    assert b"days-of-cover" in product_page.content and b'data-sku="TEE-S"' in product_page.content


def test_ship_a_parcel_from_the_order_page(client, owner):
    order = paid_order([("A", 2, "10.00")], name="#3001")
    line = order.lines.get()
    page = client.get(f"/admin/sales/order/{order.pk}/change/")
    assert b"Ship a parcel" in page.content
    answer = client.post(f"/admin/sales/fulfilment/ship/{order.pk}/", {
        "carrier": "ups", "tracking_number": "1Z-CONSOLE-1", f"line_{line.pk}": 1,
    })  # fmt: skip
    assert answer.status_code == 302
    parcel = Fulfilment.objects.get()
    assert (parcel.source, parcel.created_by, parcel.lines.get().quantity) == ("console", owner, 1)
    refused = client.post(f"/admin/sales/fulfilment/ship/{order.pk}/", {
        "carrier": "ups", "tracking_number": "1Z-CONSOLE-2", f"line_{line.pk}": 0,
    })  # fmt: skip
    assert b"at least one unit" in refused.content and Fulfilment.objects.count() == 1


def test_upload_a_csv_of_parcels_in_the_console(client, owner):
    paid_order([("A", 1, "10.00")], name="#4001")
    body = b"order,sku,quantity,carrier,tracking\n#4001,A,1,fedex,FX-000111\n"
    answer = client.post("/admin/sales/fulfilment/upload/",
                         {"file": SimpleUploadedFile("p.csv", body, "text/csv")})  # fmt: skip
    assert answer.status_code == 302 and Fulfilment.objects.get().carrier == "fedex"
    bad = b"order,sku,quantity,carrier,tracking\n#4001,A,1,fedex,FX-000112\n"
    page = client.post("/admin/sales/fulfilment/upload/",
                       {"file": SimpleUploadedFile("p.csv", bad, "text/csv")})  # fmt: skip
    assert b"Row 2: A: 1 cannot ship, only 0 of 1 are left" in page.content


def test_alerts_show_their_evidence_and_throttles_can_be_lifted(client, owner):
    throttle = ReservationThrottle.objects.create(
        network="203.0.113.0/24", max_active=2, ttl_seconds=120, reason="test",
        expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    alert = StockAlert.objects.create(kind="network_hoarding", network="203.0.113.0/24",
                                      message="203.0.113.0/24 made 300 reservations",
                                      evidence={"reservations": 300, "paid": 0},
                                      throttle=throttle)  # fmt: skip
    page = client.get(f"/admin/sales/stockalert/{alert.pk}/change/")
    assert b"&quot;reservations&quot;: 300" in page.content
    client.post("/admin/sales/reservationthrottle/",
                {"action": "lift", "_selected_action": [throttle.pk]})  # fmt: skip
    throttle.refresh_from_db()
    assert throttle.lifted_at is not None and defence.active_throttle(throttle.network) is None


def test_a_catalog_manager_cannot_ship_parcels(client):
    user = User.objects.create_user("cm", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    client.force_login(user)
    order = paid_order([("A", 1, "10.00")])
    assert client.get(f"/admin/sales/fulfilment/ship/{order.pk}/").status_code == 403
    assert client.get("/admin/sales/fulfilment/low-stock/").status_code == 200
