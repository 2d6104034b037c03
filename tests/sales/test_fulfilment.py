"""Parcels (issue 19): partial fulfilment, idempotency, CSV, delivery ending the ledger's hold,
and the shopper's order page."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from catalog.models import Variant
from core.errors import ApplicationError
from sales import commissions
from sales.fulfilment import (
    ParcelLine,
    fulfilment_create,
    fulfilment_deliver,
    fulfilments_import_csv,
)
from sales.fulfilment_models import Fulfilment, FulfilmentLine
from sales.ledger_models import Commission
from sales.models import Order
from tests.links.factories import CreatorFactory
from tests.sales.fulfil_helpers import paid_order

pytestmark = pytest.mark.django_db


def stock_of(sku):
    v = Variant.objects.get(sku=sku)
    return v.stock_on_hand, v.stock_committed


def test_lines_ship_in_parts_and_the_order_is_fulfilled_when_the_last_unit_ships():
    order = paid_order([("A", 2, "10.00"), ("B", 1, "5.00")])
    assert stock_of("A") == (50, 2)
    first = fulfilment_create(order_id=order.pk, carrier="UPS", tracking_number="1Z999AA10123",
                              lines=[ParcelLine(quantity=1, sku="A")])  # fmt: skip
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.fulfilled_at is None
    assert first.carrier == "ups" and "1Z999AA10123" in first.tracking_url
    assert stock_of("A") == (49, 1)  # the parcel's unit left the warehouse
    second = fulfilment_create(order_id=order.pk, carrier="usps", tracking_number="9400 1000 01")
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED and order.fulfilled_at is not None
    assert sorted(second.lines.values_list("line__sku", "quantity")) == [("A", 1), ("B", 1)]
    assert stock_of("A") == (48, 0) and stock_of("B") == (49, 0)
    assert list(order.events.filter(action="ship").values_list("actor", flat=True)) == [None] * 2


def test_more_than_is_left_is_refused_and_changes_nothing():
    order = paid_order([("A", 2, "10.00")])
    fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="TRACK-0001",
                      lines=[ParcelLine(quantity=2, sku="A")])  # fmt: skip
    with pytest.raises(ApplicationError, match="only 0 of 2 are left"):
        fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="TRACK-0002",
                          lines=[ParcelLine(quantity=1, sku="A")])  # fmt: skip
    assert Fulfilment.objects.filter(order=order).count() == 1


@pytest.mark.parametrize(
    ("carrier", "number", "message"),
    [
        ("pigeon", "TRACK-0001", "Unknown carrier 'pigeon'; use one of: ups"),
        ("ups", "x", "is not valid"),
        ("ups", "TRACK<script>", "is not valid"),
    ],
)
def test_a_bad_carrier_or_tracking_number_is_named(carrier, number, message):
    order = paid_order([("A", 1, "10.00")])
    with pytest.raises(ApplicationError, match=message):
        fulfilment_create(order_id=order.pk, carrier=carrier, tracking_number=number)
    assert not Fulfilment.objects.exists() and stock_of("A") == (50, 1)


def test_an_unpaid_order_does_not_ship():
    order = paid_order([("A", 1, "10.00")])
    Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELLED)
    with pytest.raises(ApplicationError, match="only paid orders ship"):
        fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="TRACK-0001")


def test_the_same_tracking_number_twice_is_the_same_parcel():
    order = paid_order([("A", 3, "10.00")])
    lines = [ParcelLine(quantity=1, sku="A")]
    first = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="TRACK-1",
                              lines=lines)  # fmt: skip
    again = fulfilment_create(order_id=order.pk, carrier="UPS", tracking_number=" TRACK-1 ",
                              lines=lines)  # fmt: skip
    assert again.pk == first.pk
    assert FulfilmentLine.objects.filter(fulfilment__order=order).count() == 1
    assert stock_of("A") == (49, 2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_clerks_shipping_the_last_unit_at_once_only_one_ships_it(attempt):
    order = paid_order([("A", 1, "10.00")])
    barrier = threading.Barrier(2)
    outcomes = []

    def ship(number):
        try:
            barrier.wait(timeout=10)
            fulfilment_create(order_id=order.pk, carrier="ups", tracking_number=number)
            outcomes.append("shipped")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ship, args=(f"TRACK-{n}{attempt}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "shipped"]
    assert FulfilmentLine.objects.filter(fulfilment__order=order).count() == 1
    assert stock_of("A") == (49, 0)


def _earn(order, creator, hold_days=30):
    line = order.lines.first()
    return commissions.commission_post(
        key=f"attr:{order.pk}:{line.pk}", order_id=order.pk, line_id=line.pk,
        creator_id=creator.pk, base=1000, amount=100, hold_days=hold_days,
        rule={"description": "10%"},
    )  # fmt: skip


def test_delivery_ends_the_hold_in_the_ledger():
    order = paid_order([("A", 1, "10.00"), ("B", 1, "10.00")], paid_days_ago=20)
    commission = _earn(order, CreatorFactory(handle="ana"), hold_days=14)
    assert commission.hold_until == order.paid_at + timedelta(days=14)
    one = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="TRACK-A",
                            lines=[ParcelLine(quantity=1, sku="A")])  # fmt: skip
    two = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="TRACK-B")
    order.refresh_from_db()
    commission.refresh_from_db()
    shipped_hold = order.fulfilled_at + timedelta(days=14)
    assert commission.hold_until == shipped_hold  # fulfilment counts first
    delivered_first = timezone.now() - timedelta(days=3)
    fulfilment_deliver(fulfilment_id=one.pk, at=delivered_first)
    order.refresh_from_db()
    assert order.delivered_at is None  # one parcel is still on its way
    delivered_last = timezone.now() - timedelta(days=2)
    fulfilment_deliver(fulfilment_id=two.pk, at=delivered_last)
    fulfilment_deliver(fulfilment_id=two.pk, at=timezone.now())  # again: the first time stays
    order.refresh_from_db()
    commission.refresh_from_db()
    assert order.delivered_at == delivered_last
    assert commission.hold_until == delivered_last + timedelta(days=14)
    assert commission.status == Commission.Status.PENDING
    assert commissions.commissions_release_due() == 0  # 12 days of the hold are left
    assert order.events.filter(action="deliver").count() == 1


def test_a_hold_already_over_at_delivery_releases_on_the_next_run():
    order = paid_order([("A", 1, "10.00")], paid_days_ago=40)
    commission = _earn(order, CreatorFactory(handle="ben"), hold_days=7)
    parcel = fulfilment_create(order_id=order.pk, carrier="dhl", tracking_number="DHL-12345")
    fulfilment_deliver(fulfilment_id=parcel.pk, at=timezone.now() - timedelta(days=8))
    commission.refresh_from_db()
    assert commission.hold_until < timezone.now()
    assert commissions.commissions_release_due() == 1


def test_a_delivery_time_in_the_future_is_refused():
    order = paid_order([("A", 1, "10.00")])
    parcel = fulfilment_create(order_id=order.pk, carrier="dhl", tracking_number="DHL-12345")
    with pytest.raises(ApplicationError, match="future"):
        fulfilment_deliver(fulfilment_id=parcel.pk, at=timezone.now() + timedelta(days=1))
    parcel.refresh_from_db()
    assert parcel.delivered_at is None


def test_a_csv_of_parcels_groups_rows_by_tracking_number():
    one = paid_order([("A", 2, "10.00"), ("B", 1, "5.00")], name="#1001")
    two = paid_order([("C", 1, "10.00")], name="#1002")
    made = fulfilments_import_csv(data=(
        b"order,sku,quantity,carrier,tracking\n"
        b"#1001,A,2,UPS,1Z-AAA-1\n"
        b"#1001,B,1,UPS,1Z-AAA-1\n"
        b"#1002,C,1,Royal Mail,RM-0001\n"
    ))  # fmt: skip
    assert len(made) == 2
    for order in (one, two):
        order.refresh_from_db()
        assert order.status == Order.Status.FULFILLED
    assert made[1].carrier == "royal_mail"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("order,sku,qty\n", "The first row must be the header"),
        ("order,sku,quantity,carrier,tracking\n#1001,A,1,UPS,1Z-1\n#9,A,1,UPS,1Z-2\n",
         "Row 3: no order is named '#9'"),
        ("order,sku,quantity,carrier,tracking\n#1001,A,1,UPS,1Z-1\n#1001,A,5,UPS,1Z-2\n",
         "Row 3: A: 5 cannot ship"),
        ("order,sku,quantity,carrier,tracking\n#1001,A,two,UPS,1Z-1\n", "not a whole number"),
    ],
)  # fmt: skip
def test_a_bad_csv_names_its_row_and_records_nothing(body, message):
    paid_order([("A", 2, "10.00")], name="#1001")
    with pytest.raises(ApplicationError, match=message):
        fulfilments_import_csv(data=body)
    assert not Fulfilment.objects.exists() and stock_of("A") == (50, 2)


def test_the_shoppers_page_shows_lines_and_tracking_and_nothing_else(client):
    order = paid_order([("A", 2, "10.00")], name="#2001")
    page = client.get(f"/orders/{order.status_token}/")
    assert page.status_code == 200 and b"Nothing has shipped yet" in page.content
    fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="1Z999AA10123",
                      lines=[ParcelLine(quantity=1, sku="A")])  # fmt: skip
    page = client.get(f"/orders/{order.status_token}/")
    html = page.content.decode()
    assert "Part of your order has shipped." in html
    assert "https://www.ups.com/track?tracknum=1Z999AA10123" in html
    assert "1 of 2" in html
    assert page["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "no-store" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]


def test_an_unknown_token_is_not_found_and_tokens_are_unguessable(client):
    order = paid_order([("A", 1, "10.00")])
    other = paid_order([("B", 1, "10.00")])
    assert len(order.status_token) >= 40 and order.status_token != other.status_token
    assert client.get(f"/orders/{order.status_token[:-1]}x/").status_code == 404
    assert client.get(f"/orders/{order.pk}/").status_code == 404


def test_tiktok_shops_delivery_time_moves_the_holds(client, tiktok_server):
    """An order update from TikTok Shop with its `delivery_time` (issue 19): the order's
    delivered time is set and its pending commissions' holds count from it."""
    from tests.sales.adapters import ADAPTERS

    adapter = ADAPTERS["tiktok_shop"](tiktok_server)
    channel = adapter.channel()
    adapter.order(channel, "77001", sku="A").post(client, channel)
    order = Order.objects.get(external_id="77001")
    line = order.lines.get()
    commission = commissions.commission_post(
        key="tt-1", order_id=order.pk, line_id=line.pk, creator_id=CreatorFactory().pk,
        base=1000, amount=100, hold_days=30, rule={"description": "10%"},
    )  # fmt: skip
    remote = tiktok_server.orders["77001"]

    def update(status, **fields):
        remote.update(status=status, update_time=remote["update_time"] + 10, **fields)
        data = {"order_id": "77001", "order_status": status, "update_time": remote["update_time"]}
        adapter._notify(channel, 1, data).post(client, channel)

    update("IN_TRANSIT")  # shipped on TikTok Shop: fulfilled, the holds count from then
    order.refresh_from_db()
    commission.refresh_from_db()
    assert order.status == "fulfilled" and order.delivered_at is None
    assert commission.hold_until == order.fulfilled_at + timedelta(days=30)
    delivered = int((timezone.now() - timedelta(days=1)).timestamp())
    update("DELIVERED", delivery_time=delivered)  # no status move: the delivery alone
    order.refresh_from_db()
    commission.refresh_from_db()
    assert int(order.delivered_at.timestamp()) == delivered
    assert commission.hold_until == order.delivered_at + timedelta(days=30)
