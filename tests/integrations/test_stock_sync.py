"""Availability from real stock: what destinations may sell is on hand minus reserved minus
committed, and stock moved by an order reaches them through the real path: the sales service
moves the counts (`catalog/stock.py`), `products_changed` is sent after the commit, the
listing is marked dirty and due, and the beat's `integrations.sync_push` (every 5 seconds)
pushes it."""

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Variant
from config.celery import app as celery_app
from integrations import services, sync, tasks
from integrations.models import Connection, ExternalVariant, Listing
from integrations.stock import available_quantity
from sales import services as sales_services
from sales.models import Order, Reservation, SalesChannel
from tests.catalog.factories import VariantFactory
from tests.integrations.helpers import SHOP, connect, product
from tests.sales.adapters import ADAPTERS, on_commit
from tests.sales.factories import SalesChannelFactory


def tiktok_quantity(server, sku: str) -> int:
    found = server.product_by_sku(sku)
    return next(s for s in found["skus"] if s["seller_sku"] == sku)["inventory"][0]["quantity"]


def connect_tiktok(owner_client) -> Connection:
    connection = connect(owner_client, "tiktok_shop")
    services.connection_update_settings(
        connection_id=connection.pk,
        values={"default_category_id": "600001", "package_weight_kg": "0.4"},
    )
    return connection


def buy(client, variant, *, key: str, quantity: int):
    """The product page's Buy form."""
    data = {"variant": variant.pk, "quantity": quantity, "key": key, "slclid": "",
            "landing": "/products/hoodie/"}  # fmt: skip
    return client.post("/checkout/", data)


def beat_tick():
    """What Celery beat runs every few seconds: a push of each destination with work due."""
    return tasks.sync_push()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("on_hand", "reserved", "committed", "active", "expected"),
    [(10, 0, 0, True, 10), (10, 3, 2, True, 5), (5, 2, 3, True, 0), (10, 1, 1, False, 0)],
)
def test_available_is_on_hand_minus_reserved_minus_committed(
    on_hand, reserved, committed, active, expected
):
    variant = VariantFactory(
        stock_on_hand=on_hand, stock_reserved=reserved, stock_committed=committed, active=active
    )
    assert available_quantity(Variant.objects.get(pk=variant.pk)) == expected


def test_the_beat_pushes_due_destinations_well_within_a_minute():
    entry = celery_app.conf.beat_schedule["integrations-sync-push"]
    assert entry["task"] == "integrations.sync_push" and float(entry["schedule"]) <= 10


@pytest.mark.django_db
def test_a_shopify_order_committing_stock_reaches_tiktok_shop(client, owner_client, tiktok_server):
    tiktok = connect_tiktok(owner_client)
    item = product(sku="TJ-1", stock=7)
    beat_tick()
    assert tiktok_quantity(tiktok_server, "TJ-1") == 7
    listing = Listing.objects.get(connection=tiktok, product=item)
    assert (listing.state, listing.dirty) == ("synced", False)

    # An order sold on Shopify arrives as a signed webhook and commits 2 units here.
    channel = SalesChannelFactory(provider="shopify")
    adapter = ADAPTERS["shopify"]()
    delivery = adapter.order(channel, "5001", sku="TJ-1", quantity=2)
    assert delivery.post(client, channel).status_code == 200
    order = Order.objects.get(external_id="5001")
    assert order.status == "paid" and not order.oversold
    variant = Variant.objects.get(sku="TJ-1")
    assert (variant.stock_on_hand, variant.stock_committed) == (7, 2)

    # The commit told the catalog, which marked the listing dirty and due now: the next beat
    # (every 5 seconds) pushes it.
    listing.refresh_from_db()
    assert listing.dirty and listing.next_attempt_at <= timezone.now()
    assert sync.connections_due() == [tiktok.pk]
    assert beat_tick() == 1
    assert tiktok_quantity(tiktok_server, "TJ-1") == 5
    listing.refresh_from_db()
    assert (listing.state, listing.dirty) == ("synced", False)

    # The order is cancelled on Shopify: its units come back, and so do they at TikTok.
    cancelled = adapter.order(channel, "5001", sku="TJ-1", quantity=2, status="cancelled",
                              updated=int(timezone.now().timestamp()) + 10)  # fmt: skip
    cancelled.post(client, channel)
    assert Variant.objects.get(sku="TJ-1").stock_committed == 0
    beat_tick()
    assert tiktok_quantity(tiktok_server, "TJ-1") == 7


@pytest.mark.django_db
def test_an_order_for_more_than_is_left_lists_zero_not_a_negative(
    client, owner_client, tiktok_server
):
    tiktok = connect_tiktok(owner_client)
    product(sku="LAST-1", stock=1)
    beat_tick()
    channel = SalesChannelFactory(provider="shopify")
    ADAPTERS["shopify"]().order(channel, "5002", sku="LAST-1", quantity=3).post(client, channel)
    assert Order.objects.get(external_id="5002").oversold
    beat_tick()
    assert tiktok_quantity(tiktok_server, "LAST-1") == 0
    assert not Listing.objects.filter(connection=tiktok, dirty=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_test_mode_checkout_holds_and_then_sells_units_at_tiktok_shop(
    client, owner_client, tiktok_server, live_server, settings
):
    settings.CHECKOUT_TEST_MODE = True
    settings.CHECKOUT_TEST_MODE_WITHOUT_DEBUG = True  # tests run with DEBUG off
    settings.PUBLIC_BASE_URL = live_server.url
    tiktok = connect_tiktok(owner_client)
    item = product(sku="HOOD-M", stock=3)
    item.slug = "hoodie"
    item.save(update_fields=["slug"])
    SalesChannelFactory(provider="stripe", checkout=True)
    beat_tick()
    assert tiktok_quantity(tiktok_server, "HOOD-M") == 3

    # Buy: the reservation holds a unit while the shopper pays; TikTok Shop stops offering it.
    variant = Variant.objects.get(sku="HOOD-M")
    response = buy(client, variant, key="k-1", quantity=1)
    assert response.status_code == 303
    assert Variant.objects.get(sku="HOOD-M").stock_reserved == 1
    assert sync.connections_due() == [tiktok.pk]
    beat_tick()
    assert tiktok_quantity(tiktok_server, "HOOD-M") == 2

    # Pay on the test-mode page: the gateway sends a signed Stripe event to the real webhook,
    # which commits the reservation. The unit stays unavailable: nothing new to send.
    pay = response["Location"].removeprefix(live_server.url)
    assert re.match(r"^/checkout/test/[^/]+/$", pay)
    paid = client.post(pay, {"email": "buyer@example.com", "country": "fr"})
    assert paid.status_code == 303, paid.content
    assert Order.objects.get().status == "paid"
    variant = Variant.objects.get(sku="HOOD-M")
    assert (variant.stock_reserved, variant.stock_committed) == (0, 1)
    before = len(tiktok_server.requests_to(r"^/product/202309/products"))
    beat_tick()
    assert tiktok_quantity(tiktok_server, "HOOD-M") == 2
    assert len(tiktok_server.requests_to(r"^/product/202309/products")) == before  # same payload

    # A second checkout that is never paid: its unit is held, then released on expiry.
    buy(client, variant, key="k-2", quantity=2)
    beat_tick()
    assert tiktok_quantity(tiktok_server, "HOOD-M") == 0
    Reservation.objects.filter(key="k-2").update(expires_at=timezone.now())
    assert sales_services.reservations_expire() == 1
    beat_tick()
    assert tiktok_quantity(tiktok_server, "HOOD-M") == 2


# -- Stock Shopify owns, and orders Shopify sold: never counted twice --------------------------


@pytest.fixture
def shopify_shop(owner_client, shopify_server, django_capture_on_commit_callbacks):
    """A connected shop whose jacket has 3 + 4 units at two locations, imported an hour ago."""
    shopify_server.add_product(SHOP, title="Trail Jacket", variants=[
        {"sku": "TJ-S", "price": "99.00", "levels": {"1001": 3, "1002": 4}},
    ])  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        connection = connect(owner_client, "shopify", shop=SHOP)
    mapping = ExternalVariant.objects.get(variant__sku="TJ-S")
    an_hour_ago = (timezone.now() - timedelta(hours=1)).isoformat()
    mapping.levels = {k: {**v, "updated_at": an_hour_ago} for k, v in mapping.levels.items()}
    mapping.save()
    assert Variant.objects.get(sku="TJ-S").stock_on_hand == 7
    return connection


def shopify_sold(client, units: int, *, order_id="7001", status="paid"):
    """Shopify sold `units` a second ago; its order webhook reaches the sales channel."""
    channel = SalesChannel.objects.filter(provider="shopify").first() or SalesChannelFactory(
        provider="shopify"
    )
    sent = ADAPTERS["shopify"]().order(
        channel, order_id, sku="TJ-S", quantity=units, price="99.00", status=status,
        updated=int(time.time()) + 99,  # created_at: a second ago
    )  # fmt: skip
    assert sent.post(client, channel).status_code == 200


def shopify_level(client, server, location: str, available: int):
    """Shopify's inventory_levels/update for the jacket at one location."""
    item = int(ExternalVariant.objects.get(variant__sku="TJ-S").inventory_item_id)
    payload = server.set_level(SHOP, item, location, available)
    for _url, body, headers in server.webhook_requests(SHOP, "inventory_levels/update", payload):
        with on_commit():
            response = client.post("/webhooks/shopify/catalog", body,
                                   content_type="application/json", headers=headers)  # fmt: skip
        assert response.status_code == 200


def counts() -> tuple[int, int, int]:
    variant = Variant.objects.get(sku="TJ-S")
    return variant.stock_on_hand, variant.stock_committed, available_quantity(variant)


@pytest.mark.django_db
def test_the_order_first_then_shopifys_level_sells_the_units_once(
    client, shopify_shop, shopify_server
):
    shopify_sold(client, 2)
    assert counts() == (7, 2, 5)  # Shopify's figure (an hour old) did not know the order yet
    shopify_level(client, shopify_server, "1001", 1)  # Shopify: 3 - 2 at the first location
    assert counts() == (7, 2, 5)  # 1 + 4 available there, plus the 2 held here until shipped


@pytest.mark.django_db
def test_shopifys_level_first_then_the_order_sells_the_units_once(
    client, shopify_shop, shopify_server
):
    shopify_level(client, shopify_server, "1001", 1)  # the sale reached the levels first
    assert counts() == (5, 0, 5)
    shopify_sold(client, 2)  # then the order: its units were already out of Shopify's figure
    assert counts() == (7, 2, 5)
    # Shipped on Shopify: the units leave here too; what may be sold does not move.
    shopify_sold(client, 2, status="fulfilled")
    assert counts() == (5, 0, 5)
    shopify_level(client, shopify_server, "1002", 4)  # a later level: still the same
    assert counts() == (5, 0, 5)


@pytest.mark.django_db
def test_a_merchants_own_stock_edit_is_not_undone_by_an_order(client, shopify_shop, shopify_server):
    variant = Variant.objects.get(sku="TJ-S")
    variant.stock_on_hand = 20
    catalog_services.variant_save(variant=variant)
    shopify_sold(client, 2)
    assert counts() == (20, 2, 18)  # Shopify's next update decides, by the field rule
