"""The webhook endpoint, per provider: verification, storage, idempotency, processing."""

import time
from decimal import Decimal

import pytest

from catalog.models import Variant
from core.crypto import keyed_hash
from sales import services
from sales.models import Order, PendingOrderEvent, Refund, WebhookDelivery
from tests.catalog.factories import VariantFactory
from tests.sales.adapters import NESTED, on_commit

pytestmark = pytest.mark.django_db
S = Order.Status


def deliveries(**filters):
    return WebhookDelivery.objects.filter(**filters)


def test_a_valid_delivery_is_stored_then_processed_into_an_order(client, adapter):
    channel = adapter.channel()
    variant = VariantFactory(sku="SKU-1", stock_on_hand=5)
    delivery = adapter.order(channel, "1001", quantity=2, landing="/products/x?slclid=clk-1",
                             codes=("MAYA10",))  # fmt: skip
    response = delivery.post(client, channel)
    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "duplicate": False}
    stored = deliveries(channel=channel).get()
    assert stored.accepted and stored.signature == "valid"
    assert bytes(stored.body) == delivery.body
    assert stored.status == "processed", stored.reason
    order = Order.objects.get(channel=channel, external_id="1001")
    assert stored.order == order
    assert order.status == S.PAID
    assert order.total == Decimal("20.00") and order.currency == "USD"
    assert order.customer_email_hash == keyed_hash("customer-email", "shopper@example.com")
    line = order.lines.get()
    assert (line.sku, line.quantity, line.variant_id) == ("SKU-1", 2, variant.pk)
    variant.refresh_from_db()
    assert (variant.stock_committed, variant.stock_reserved) == (2, 0)
    if adapter.provider != "tiktok_shop":
        assert order.click_id == "clk-1"
    if adapter.provider in ("shopify", "standard"):
        assert order.discount_codes == ["MAYA10"]
    assert list(order.events.values_list("action", "to_status"))[:2] == [
        ("create", "pending"),
        ("pay", "paid"),
    ]


def test_a_forged_delivery_is_401_and_kept_with_its_reason(client, adapter):
    channel = adapter.channel()
    good = adapter.order(channel, "1002")
    forged = adapter.forged(channel, good.body)
    response = forged.post(client, channel)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature"
    kept = deliveries(channel=channel).get()
    assert (kept.accepted, kept.signature, kept.status) == (False, "invalid", "rejected")
    assert kept.reason
    assert not Order.objects.exists()
    # The forged copy did not take the real delivery's id: the real one still goes in.
    assert good.post(client, channel).status_code == 200
    assert Order.objects.filter(external_id="1002").exists()


def test_a_missing_signature_header_is_401(client, adapter):
    channel = adapter.channel()
    response = adapter.without_signature(adapter.order(channel, "1003")).post(client, channel)
    assert response.status_code == 401
    assert deliveries(channel=channel).get().signature == "missing"


def test_a_garbage_signature_header_is_401_not_500(client, adapter):
    channel = adapter.channel()
    response = adapter.garbage(adapter.order(channel, "1004")).post(client, channel)
    assert response.status_code == 401
    assert deliveries(channel=channel).get().signature in ("malformed", "invalid")


def test_a_stale_timestamp_is_401_where_the_provider_signs_one(client, adapter):
    if not adapter.signs_time:
        pytest.skip(f"{adapter.provider} signs no timestamp; replays are stopped by the ids")
    channel = adapter.channel()
    stale = adapter.stale(channel, adapter.order(channel, "1005").body)
    assert stale.post(client, channel).status_code == 401
    assert deliveries(channel=channel).get().signature == "stale"


def test_an_unknown_channel_is_401(client, adapter):
    channel = adapter.channel()
    delivery = adapter.order(channel, "1006")
    url = channel.webhook_path().replace(channel.token, "no-such-token")
    response = client.post(url, data=delivery.body, content_type="application/json",
                           headers={k: v for k, v in delivery.headers.items()
                                    if k != "Content-Type"})  # fmt: skip
    assert response.status_code == 401
    kept = deliveries().get()
    assert (kept.channel, kept.signature) == (None, "no_channel")


def test_a_body_nested_5000_levels_deep_is_400_not_500(client, adapter):
    channel = adapter.channel()
    response = adapter.raw(channel, NESTED).post(client, channel)
    assert response.status_code == 400
    kept = deliveries(channel=channel).get()
    assert kept.signature == "valid" and not kept.accepted
    assert "deep" in kept.reason or "not JSON" in kept.reason or "object" in kept.reason
    assert kept.body_truncated and len(bytes(kept.body)) == 4096


def test_a_body_that_is_not_json_is_400(client, adapter):
    channel = adapter.channel()
    assert adapter.raw(channel, b"\xff\xfe garbage").post(client, channel).status_code == 400


def test_a_replayed_delivery_changes_nothing_and_answers_200(client, adapter):
    channel = adapter.channel()
    VariantFactory(sku="SKU-1", stock_on_hand=5)
    delivery = adapter.order(channel, "1007")
    assert delivery.post(client, channel).json()["duplicate"] is False
    before = (Order.objects.get().updated_at, Variant.objects.get().stock_committed)
    again = delivery.post(client, channel)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert deliveries(channel=channel).count() == 1
    assert (Order.objects.get().updated_at, Variant.objects.get().stock_committed) == before


def test_a_refund_before_its_order_waits_then_applies(client, adapter):
    channel = adapter.channel()
    VariantFactory(sku="SKU-1", stock_on_hand=5)
    order_delivery = adapter.order(channel, "1008", quantity=2)  # the order exists upstream
    refund = adapter.refund(channel, "1008", "5001", amount="5.00")
    assert refund.post(client, channel).status_code == 200
    assert not Order.objects.exists()
    waiting = PendingOrderEvent.objects.get()
    assert (waiting.kind, waiting.applied_at) == ("refund", None)
    assert order_delivery.post(client, channel).status_code == 200
    order = Order.objects.get()
    assert order.status == S.PARTIALLY_REFUNDED
    assert order.refunds.get().total == Decimal("5.00")
    assert PendingOrderEvent.objects.get().applied_at is not None
    # The same refund again is one refund.
    assert (
        adapter.refund(channel, "1008", "5001", amount="5.00").post(client, channel).status_code
        == 200
    )
    assert Refund.objects.count() == 1


def test_an_older_update_never_overwrites_a_newer_one(client, adapter):
    channel = adapter.channel()
    VariantFactory(sku="SKU-1", stock_on_hand=5)
    now = int(time.time())
    newer = adapter.order(channel, "1009", quantity=1, price="30.00", updated=now,
                          status="cancelled")  # fmt: skip
    assert newer.post(client, channel).status_code == 200
    older = adapter.order(channel, "1009", quantity=1, price="12.00", updated=now - 3600,
                          status="paid")  # fmt: skip
    assert older.post(client, channel).status_code == 200
    order = Order.objects.get()
    assert order.status == S.CANCELLED
    assert order.total == Decimal("30.00")
    assert "stale_update" in set(order.events.values_list("action", flat=True))


def test_an_unmapped_sku_is_kept_then_mapped_by_a_replay(client, adapter):
    channel = adapter.channel()
    delivery = adapter.order(channel, "1010", sku="NEW-SKU", quantity=2)
    assert delivery.post(client, channel).status_code == 200
    line = Order.objects.get().lines.get()
    assert (line.sku, line.variant) == ("NEW-SKU", None)
    variant = VariantFactory(sku="NEW-SKU", stock_on_hand=3)
    stored = deliveries(channel=channel, accepted=True).get()
    with on_commit():
        services.delivery_replay(delivery_id=stored.pk)
    line.refresh_from_db()
    variant.refresh_from_db()
    assert line.variant == variant and line.stock_committed == 2
    assert variant.stock_committed == 2
    stored.refresh_from_db()
    assert stored.replays == 1 and stored.status == "processed"


@pytest.mark.parametrize(("currency", "price", "ok"), [
    ("JPY", "1999", True), ("JPY", "1999.5", False), ("KWD", "12.345", True),
    ("KWD", "12.3456", False),
])  # fmt: skip
def test_currency_minor_units(client, adapter, currency, price, ok):
    if not ok and adapter.exact_minor_units_only:
        pytest.skip("Stripe's amounts are integers of minor units: always exact")
    channel = adapter.channel(currency=currency)
    assert adapter.order(channel, "1011", price=price, currency=currency).post(
        client, channel).status_code == 200  # fmt: skip
    stored = deliveries(channel=channel, accepted=True).get()
    if ok:
        order = Order.objects.get()
        assert order.total == Decimal(price) and order.currency == currency
    else:
        assert stored.status == "failed"
        assert f"{currency} allows" in stored.reason
        assert not Order.objects.exists()


def test_shopify_dedupes_on_the_event_id_across_webhook_ids(client):
    from tests.sales.adapters import Delivery, Shopify
    from testservers import webhooks

    adapter = Shopify()
    channel = adapter.channel()
    body = adapter.order(channel, "1201").body
    first = webhooks.shopify_headers(secret=channel.secret, body=body, topic="orders/create",
                                     webhook_id="w-1", event_id="e-1")  # fmt: skip
    second = {**first, "X-Shopify-Webhook-Id": "w-2"}  # a second subscription, same event
    assert Delivery(body, first).post(client, channel).json()["duplicate"] is False
    assert Delivery(body, second).post(client, channel).json()["duplicate"] is True
    assert deliveries(channel=channel).count() == 1


def test_the_same_order_through_two_topics_is_one_order(client):
    from tests.sales.adapters import Delivery, Shopify

    adapter = Shopify()
    channel = adapter.channel()
    VariantFactory(sku="SKU-1", stock_on_hand=5)
    now = int(time.time())
    created = adapter.order(channel, "1301", status="pending", updated=now)
    created.headers = adapter.sign(channel, created.body, topic="orders/create")
    paid = adapter.order(channel, "1301", status="paid", updated=now + 5)
    paid = Delivery(paid.body, adapter.sign(channel, paid.body, topic="orders/paid"))
    created.post(client, channel)
    paid.post(client, channel)
    order = Order.objects.get()
    assert order.status == S.PAID
    assert list(order.events.values_list("action", flat=True)) == ["create", "pay"]
    assert Variant.objects.get().stock_committed == 1  # committed once, at placement
    assert order.deliveries.count() == 2


def test_the_deploy_check_warns_about_the_test_gateway(settings):
    from sales.checks import test_mode_gateway_check

    settings.CHECKOUT_TEST_MODE = True
    settings.CHECKOUT_TEST_MODE_WITHOUT_DEBUG = True
    assert [w.id for w in test_mode_gateway_check(None)] == ["sales.W001"]
    settings.CHECKOUT_TEST_MODE_WITHOUT_DEBUG = False
    assert test_mode_gateway_check(None) == []
