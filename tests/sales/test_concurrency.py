"""Concurrency, proven with real threads on PostgreSQL: one order for twenty identical
deliveries sent at once over HTTP, buyers racing for the last units, reservations expiring
while a payment commits them."""

import json
import threading
from datetime import timedelta

import pytest
import requests
from django.db import connections, transaction
from django.utils import timezone

from catalog import stock
from catalog.models import Variant
from core.errors import ApplicationError
from sales import services
from sales.models import Order, Reservation, WebhookDelivery
from tests.catalog.factories import VariantFactory
from tests.sales.factories import SalesChannelFactory


def run_at_once(count, work):
    """Run `work(i)` in `count` threads released together; returns their results by index."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            barrier.wait(timeout=20)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test reads what each thread got
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_identical_deliveries_at_once_make_one_order(live_server, adapter):
    channel = adapter.channel()
    VariantFactory(sku="SKU-1", stock_on_hand=50)
    delivery = adapter.order(channel, "2001", quantity=3)
    url = live_server.url + channel.webhook_path()

    def post(_):
        return requests.post(url, data=delivery.body, headers=delivery.headers, timeout=30)

    answers = run_at_once(20, post)
    assert [a.status_code for a in answers] == [200] * 20, answers
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 19
    assert WebhookDelivery.objects.filter(accepted=True).count() == 1
    order = Order.objects.get()
    assert order.lines.get().quantity == 3
    assert Variant.objects.get().stock_committed == 3


def reserve(variant_id, key, quantity=1):
    try:
        services.reservation_create(variant_id=variant_id, quantity=quantity, key=key)
        return "reserved"
    except ApplicationError as exc:
        return exc.code


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_buyers_racing_for_the_last_units_get_exactly_the_units_there_are(attempt):
    variant = VariantFactory(stock_on_hand=5)
    results = run_at_once(20, lambda i: reserve(variant.pk, f"race-{attempt}-{i}"))
    assert sorted(results) == ["out_of_stock"] * 15 + ["reserved"] * 5
    variant.refresh_from_db()
    assert (variant.stock_on_hand, variant.stock_reserved, variant.stock_committed) == (5, 5, 0)
    assert Reservation.objects.filter(status="active").count() == 5


@pytest.mark.django_db(transaction=True)
def test_existing_allocations_and_reservations_count_in_the_race():
    """Saleor once ignored existing allocations in its locked re-check: here 4 units are
    committed to a paid order and 3 reserved before the race, so 3 of 10 buyers win."""
    variant = VariantFactory(stock_on_hand=10)
    with transaction.atomic():
        assert stock.commit_available({variant.pk: 4}) == {variant.pk: 4}
    for i in range(3):
        assert reserve(variant.pk, f"earlier-{i}") == "reserved"
    results = run_at_once(10, lambda i: reserve(variant.pk, f"late-{i}"))
    assert sorted(results) == ["out_of_stock"] * 7 + ["reserved"] * 3
    variant.refresh_from_db()
    assert (variant.stock_reserved, variant.stock_committed) == (6, 4)


@pytest.mark.django_db(transaction=True)
def test_the_same_key_from_many_requests_is_one_reservation():
    variant = VariantFactory(stock_on_hand=10)
    results = run_at_once(10, lambda i: reserve(variant.pk, "one-key", quantity=2))
    assert results == ["reserved"] * 10
    assert Reservation.objects.count() == 1
    assert Variant.objects.get().stock_reserved == 2


def paid_session_delivery(channel, reservation) -> WebhookDelivery:
    """A verified checkout.session.completed for the reservation, as stored by the endpoint."""
    event = services.test_checkout_event(reservation=reservation)
    return WebhookDelivery.objects.create(
        channel=channel, provider="stripe", delivery_id=event["id"], topic=event["type"],
        body=json.dumps(event).encode(), signature="valid", accepted=True, status="received",
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(4))
def test_expiry_racing_a_payment_never_loses_or_doubles_a_unit(attempt):
    channel = SalesChannelFactory(provider="stripe", checkout=True)
    variant = VariantFactory(stock_on_hand=3)
    reservation = services.reservation_create(
        variant_id=variant.pk, quantity=2, key=f"exp-{attempt}", channel_id=channel.pk
    )
    Reservation.objects.filter(pk=reservation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    delivery = paid_session_delivery(channel, reservation)

    def work(i):
        if i == 0:
            return services.reservations_expire()
        return services.delivery_process(delivery_id=delivery.pk).status

    results = run_at_once(2, work)
    assert not any(isinstance(r, Exception) for r in results), results
    reservation.refresh_from_db()
    variant.refresh_from_db()
    order = Order.objects.get()
    assert order.status == "paid"
    assert reservation.status in ("committed", "expired")
    # Either the payment committed the reservation, or expiry released it first and the
    # payment committed the units from stock: never both, never neither.
    assert (variant.stock_reserved, variant.stock_committed) == (0, 2)
    assert order.lines.get().stock_committed == 2
    assert not order.oversold
