"""Parcels pushed to the channel the order came from (issue 19), against the Shopify and TikTok
Shop test servers: partial parcels, a refused carrier or tracking number, a retry after 429,
idempotent replays; Shopify's own fulfilment webhooks; the carrier tracking poll."""

from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.utils import timezone

from integrations import fulfilment as push
from integrations import tracking
from integrations.models import Connection
from sales.fulfilment import ParcelLine
from sales.fulfilment import fulfilment_create as _create
from sales.fulfilment_models import Fulfilment
from sales.ledger_models import Commission
from sales.models import Order, Provider
from tests.integrations.helpers import SHOP
from tests.links.factories import CreatorFactory
from tests.sales.factories import SalesChannelFactory
from tests.sales.fulfil_helpers import paid_order
from testservers import aftership

pytestmark = pytest.mark.django_db
Push = Fulfilment.Push
POST_PATH = r"/api/[0-9-]+/fulfillments\.json$"  # the POST, not an order's list


def shopify_side(server, fo_id, tracking):
    """A fulfilment made on Shopify itself (by the merchant there, or a push whose answer was
    lost on the way back)."""
    return requests.post(
        f"{server.url}/{SHOP}/admin/api/2025-01/fulfillments.json",
        headers={"X-Shopify-Access-Token": "shpat_fulfil"}, timeout=5,
        json={"fulfillment": {
            "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo_id}],
            "tracking_info": tracking,
        }},
    ).json()["fulfillment"]  # fmt: skip


@pytest.fixture(autouse=True)
def _after_commit(django_capture_on_commit_callbacks):
    """Run what commits trigger (the signal that queues the push) as production would."""
    global fulfilment_create

    def ship(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return _create(**kwargs)

    fulfilment_create = ship
    yield
    fulfilment_create = _create


@pytest.fixture
def shopify_shop(shopify_server):
    shopify_server.add_custom_app(SHOP, token="shpat_fulfil", secret="shop-secret")
    Connection.objects.create(platform="shopify", status="active", account_id=SHOP,
                              account_name="Acme", access_token="shpat_fulfil")  # fmt: skip
    channel = SalesChannelFactory(provider=Provider.SHOPIFY, shop_domain=SHOP,
                                  secret="shop-secret")  # fmt: skip
    order = paid_order([("A", 2, "10.00"), ("B", 1, "5.00")], channel=channel, name="#5001")
    Order.objects.filter(pk=order.pk).update(external_id="820982911946154508")
    order.lines.filter(sku="A").update(external_id="466157049")
    order.lines.filter(sku="B").update(external_id="518995019")
    shopify_server.add_order(SHOP, 820982911946154508, [(466157049, "A", 2), (518995019, "B", 1)])
    order.refresh_from_db()
    return shopify_server, order


def shopify_fulfillments(server):
    return server.shops[SHOP].orders[820982911946154508]["fulfillments"]


def test_shopify_partial_parcels_are_pushed_with_their_tracking(shopify_shop):
    server, order = shopify_shop
    first = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="1Z-SHOP-0001",
                              lines=[ParcelLine(quantity=1, sku="A")])  # fmt: skip
    first.refresh_from_db()  # pushed by the job the signal queued (eager in tests)
    assert first.push_state == Push.PUSHED and first.external_id
    (made,) = shopify_fulfillments(server)
    assert made["tracking_number"] == "1Z-SHOP-0001" and made["tracking_company"] == "UPS"
    assert made["line_items"] == [{"id": 466157049, "quantity": 1, "sku": "A"}]
    second = fulfilment_create(order_id=order.pk, carrier="usps", tracking_number="9400-SHOP-2")
    second.refresh_from_db()
    assert second.push_state == Push.PUSHED
    fo = next(iter(server.shops[SHOP].fulfillment_orders.values()))
    assert fo["status"] == "closed" and all(x["fulfillable_quantity"] == 0
                                            for x in fo["line_items"])  # fmt: skip
    posted = server.requests_to(r"/fulfillments\.json$", "POST")
    assert [r.json()["fulfillment"]["tracking_info"]["number"] for r in posted] == [
        "1Z-SHOP-0001", "9400-SHOP-2",
    ]  # fmt: skip


def test_a_tracking_number_shopify_refuses_is_shown_with_its_message(shopify_shop):
    server, order = shopify_shop
    server.refused_tracking.add("1Z-BAD-0001")
    parcel = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="1Z-BAD-0001")
    parcel.refresh_from_db()
    assert parcel.push_state == Push.REFUSED
    assert "1Z-BAD-0001 is not a valid tracking number for UPS" in parcel.push_message
    assert parcel.events.filter(action="push_refused").exists()
    assert not shopify_fulfillments(server)


def test_a_429_is_waited_out_and_the_push_goes_through_once(shopify_shop):
    server, order = shopify_shop
    server.fail_next(1, status=429, body={"errors": "Exceeded 2 calls per second"},
                     headers={"Retry-After": "0.5"}, path=POST_PATH)  # fmt: skip
    parcel = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="1Z-SLOW-0001")
    parcel.refresh_from_db()
    assert parcel.push_state == Push.PUSHED and parcel.push_attempts == 1
    posted = server.requests_to(r"/fulfillments\.json$", "POST")
    assert len(posted) == 2 and len(shopify_fulfillments(server)) == 1


def test_a_push_whose_answer_was_lost_is_not_sent_twice(shopify_shop, settings):
    server, order = shopify_shop
    server.fail_next(
        3, status=503, path=r"/api/[0-9-]+/fulfillments\.json$"
    )  # the platform is down
    settings.INTEGRATIONS_MAX_RETRIES_PER_CALL = 2
    parcel = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="1Z-LOST-0001")
    parcel.refresh_from_db()
    assert parcel.push_state == Push.FAILED and parcel.push_next_at > timezone.now()
    assert "HTTP 503" in parcel.push_message
    # Meanwhile the fulfilment reached Shopify anyway (say the answer was lost on the way):
    fo = next(iter(server.shops[SHOP].fulfillment_orders.values()))
    shopify_side(server, fo["id"], {"number": "1Z-LOST-0001", "company": "UPS"})
    Fulfilment.objects.filter(pk=parcel.pk).update(push_next_at=timezone.now())
    assert push.fulfilments_push_due() == 1
    parcel.refresh_from_db()
    assert parcel.push_state == Push.PUSHED and "already had" in parcel.push_message
    assert len(shopify_fulfillments(server)) == 1
    assert push.fulfilment_push(fulfilment_id=parcel.pk) == Push.PUSHED  # again: nothing sent
    assert len(server.requests_to(r"/fulfillments\.json$", "POST")) == 4


def test_more_than_shopify_has_left_is_refused_before_sending(shopify_shop):
    server, order = shopify_shop
    fo = next(iter(server.shops[SHOP].fulfillment_orders.values()))
    fo["line_items"][0]["fulfillable_quantity"] = 0  # fulfilled on Shopify meanwhile
    parcel = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="1Z-GONE-0001",
                               lines=[ParcelLine(quantity=1, sku="A")])  # fmt: skip
    parcel.refresh_from_db()
    assert parcel.push_state == Push.REFUSED
    assert "Shopify has 0 of A left to fulfil" in parcel.push_message
    assert not server.requests_to(r"/fulfillments\.json$", "POST")


def test_no_connection_is_refused_with_what_to_do():
    channel = SalesChannelFactory(provider=Provider.SHOPIFY, shop_domain="nobody.myshopify.com")
    order = paid_order([("A", 1, "10.00")], channel=channel)
    parcel = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="1Z-NONE-001")
    parcel.refresh_from_db()
    assert parcel.push_state == Push.REFUSED and "Integrations › Connections" in parcel.push_message


# -- TikTok Shop ------------------------------------------------------------------------------


@pytest.fixture
def tiktok_shop_order(tiktok_server):
    from testservers.tiktok_shop import order as tiktok_order

    Connection.objects.create(
        platform="tiktok_shop", status="active", account_id=tiktok_server.shop_id,
        account_name="TT", access_token=tiktok_server.access_token,
        settings={"shop_cipher": tiktok_server.shop_cipher},
    )  # fmt: skip
    channel = SalesChannelFactory(provider=Provider.TIKTOK_SHOP)
    lines = [("A", "10.00", 2), ("B", "5.00", 1)]
    remote = tiktok_server.add_order(tiktok_order("576461413038785752", lines=lines))
    order = paid_order([("A", 2, "10.00"), ("B", 1, "5.00")], channel=channel)
    Order.objects.filter(pk=order.pk).update(external_id=remote["id"])
    order.refresh_from_db()
    return tiktok_server, order


def test_tiktok_partial_packages_go_to_mark_package_as_shipped(tiktok_shop_order):
    server, order = tiktok_shop_order
    first = fulfilment_create(order_id=order.pk, carrier="usps", tracking_number="9400TT0001",
                              lines=[ParcelLine(quantity=1, sku="A")])  # fmt: skip
    first.refresh_from_db()
    assert first.push_state == Push.PUSHED and first.external_id in server.packages
    items = server.orders[order.external_id]["line_items"]
    assert sum(1 for i in items if i.get("tracking_number") == "9400TT0001") == 1
    assert server.orders[order.external_id]["status"] == "PARTIALLY_SHIPPING"
    (sent,) = server.requests_to(r"/packages$", "POST")
    assert sent.json()["shipping_provider_id"] == "6617675021119438849"  # USPS, from its list
    rest = fulfilment_create(order_id=order.pk, carrier="fedex", tracking_number="FX99TT0002")
    rest.refresh_from_db()
    assert rest.push_state == Push.PUSHED
    assert server.orders[order.external_id]["status"] == "IN_TRANSIT"
    # Replayed: the package is found by its tracking number, nothing is sent again.
    Fulfilment.objects.filter(pk=rest.pk).update(push_state=Push.PENDING)
    assert push.fulfilment_push(fulfilment_id=rest.pk) == Push.PUSHED
    assert len(server.requests_to(r"/packages$", "POST")) == 2


def test_a_carrier_tiktok_does_not_offer_is_refused_before_sending(tiktok_shop_order):
    server, order = tiktok_shop_order
    parcel = fulfilment_create(order_id=order.pk, carrier="dhl", tracking_number="DHL-TT-0001")
    parcel.refresh_from_db()
    assert parcel.push_state == Push.REFUSED
    assert "does not offer DHL Express" in parcel.push_message
    assert "USPS" in parcel.push_message and not server.requests_to(r"/packages$", "POST")


def test_a_tracking_number_tiktok_refuses_carries_its_code_and_message(tiktok_shop_order):
    server, order = tiktok_shop_order
    server.refused_tracking.add("UPS-BAD-001")
    parcel = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="UPS-BAD-001")
    parcel.refresh_from_db()
    assert parcel.push_state == Push.REFUSED
    assert "invalid for the shipping provider" in parcel.push_message
    assert "21011012" in parcel.push_message


def test_tiktok_429_is_retried_after_retry_after(tiktok_shop_order):
    server, order = tiktok_shop_order
    server.fail_next(1, status=429, body={"code": 36009002, "message": "Too many requests."},
                     headers={"Retry-After": "1"}, path=r"/packages$")  # fmt: skip
    parcel = fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="1ZTT00003")
    parcel.refresh_from_db()
    assert parcel.push_state == Push.PUSHED
    assert len(server.requests_to(r"/packages$", "POST")) == 2


# -- Shopify's own fulfilment webhooks, and delivery -------------------------------------------


def test_shopify_fulfilment_webhooks_record_the_parcel_and_delivery_ends_the_hold(
    shopify_shop, live_server, settings
):
    server, order = shopify_shop
    settings.SITE_URL = live_server.url
    line = order.lines.get(sku="A")
    from sales import commissions

    commission = commissions.commission_post(
        key="w-1", order_id=order.pk, line_id=line.pk, creator_id=CreatorFactory().pk,
        base=2000, amount=200, hold_days=30, rule={"description": "10%"},
    )  # fmt: skip
    fo = next(iter(server.shops[SHOP].fulfillment_orders.values()))
    made = shopify_side(server, fo["id"], {"number": "1ZSHOPIFYSIDE", "company": "UPS",
                                           "url": "https://ups.example/1ZSHOPIFYSIDE"})  # fmt: skip
    url = live_server.url + order.channel.webhook_path()

    def send(topic, payload=made):
        body, headers = server.fulfillment_webhook(SHOP, payload, secret="shop-secret",
                                                   topic=topic)  # fmt: skip
        return requests.post(url, data=body, headers=headers, timeout=10).status_code

    assert send("fulfillments/create") == 200
    parcel = Fulfilment.objects.get(order=order)
    assert (parcel.source, parcel.external_id, parcel.push_state) == ("channel", str(made["id"]),
                                                                       "not_needed")  # fmt: skip
    assert sorted(parcel.lines.values_list("line__sku", "quantity")) == [("A", 2), ("B", 1)]
    assert send("fulfillments/create") == 200  # delivered twice: one parcel
    assert Fulfilment.objects.filter(order=order).count() == 1
    delivered = server.set_shipment_status(SHOP, made["id"], "delivered")
    assert send("fulfillments/update", delivered) == 200
    order.refresh_from_db()
    commission.refresh_from_db()
    at = datetime.fromisoformat(delivered["updated_at"])
    assert order.delivered_at == at and order.status == Order.Status.FULFILLED
    assert commission.hold_until == at + timedelta(days=30)
    assert commission.status == Commission.Status.PENDING


def test_the_carrier_tracking_poll_delivers_parcels(settings):
    settings.INTEGRATIONS_RATE_LIMITS = {**settings.INTEGRATIONS_RATE_LIMITS,
                                         "aftership": (100.0, 100)}  # fmt: skip
    with aftership.Server() as server:
        settings.CARRIER_TRACKING_API_BASE = server.url + "/tracking/2024-10"
        settings.CARRIER_TRACKING_API_KEY = server.api_key
        order = paid_order([("A", 1, "10.00")])
        parcel = _create(order_id=order.pk, carrier="ups", tracking_number="1ZPOLL0001")
        assert tracking.tracking_poll() == {"checked": 1, "delivered": 0, "errors": 0}
        parcel.refresh_from_db()
        assert parcel.tracking_status == "InfoReceived" and parcel.tracking_checked_at
        assert tracking.tracking_poll()["checked"] == 0  # not due again yet
        when = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
        server.set_tag("1ZPOLL0001", "Delivered", at=when)
        settings.FULFILMENT_TRACKING_EVERY = 0
        assert tracking.tracking_poll() == {"checked": 1, "delivered": 1, "errors": 0}
        order.refresh_from_db()
        assert order.delivered_at == when
        assert len(server.requests_to(r"/trackings$", "POST")) == 1  # created once
        assert tracking.tracking_poll()["checked"] == 0  # delivered parcels are not polled


def test_a_wrong_tracking_api_key_is_an_error_not_a_delivery(settings):
    settings.INTEGRATIONS_RATE_LIMITS = {**settings.INTEGRATIONS_RATE_LIMITS,
                                         "aftership": (100.0, 100)}  # fmt: skip
    with aftership.Server() as server:
        settings.CARRIER_TRACKING_API_BASE = server.url + "/tracking/2024-10"
        settings.CARRIER_TRACKING_API_KEY = "wrong"
        order = paid_order([("A", 1, "10.00")])
        fulfilment_create(order_id=order.pk, carrier="ups", tracking_number="1ZPOLL0002")
        assert tracking.tracking_poll() == {"checked": 0, "delivered": 0, "errors": 1}
