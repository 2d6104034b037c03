"""Placement from the impression to the order credit, in a real browser: the home feed's (or
a collection page's) impression and card click, the product page's Buy (add to cart), the
test-mode payment, and the order's attribution all say "home_feed" (or "collection")."""

import json
import re
import time
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from attribution.models import Attribution
from attribution.services import attribution_decide
from links import snapshots
from sales.models import Order
from tests.catalog.factories import ProductFactory, VariantFactory, image_bytes
from tests.links.factories import CreatorFactory
from tests.sales.factories import SalesChannelFactory
from tests.ugc.factories import publishable_item, with_card_links
from tests.ugc.test_feed import image_manifest
from ugc import metrics, services
from ugc.models import UGCItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def clean_counters():
    buf = metrics.buffer
    buf.client().delete(buf.list_key, buf.lock_key)
    snapshots._local.clear()
    yield
    buf.client().delete(buf.list_key, buf.lock_key)


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("url", "placement"),
    [("/shop/feed", "home_feed"), ("/shop/collections/summer/", "collection")],
    ids=["home_feed", "collection"],
)
def test_the_placement_rides_from_impression_to_the_order_credit(
    page, live_server, settings, url, placement
):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.CHECKOUT_TEST_MODE = True
    settings.CHECKOUT_TEST_MODE_WITHOUT_DEBUG = True
    creator = CreatorFactory(handle="maya", affiliate_code="MAYA10")
    product = ProductFactory(title="Cloud Knit Hoodie", slug="cloud-knit-hoodie")
    variant = VariantFactory(product=product, price=Decimal("59.00"), stock_on_hand=5)
    SalesChannelFactory(provider="stripe", name="Shop checkout", checkout=True)
    default_storage.save("ugc/display/51.jpg", ContentFile(image_bytes("JPEG", (360, 450))))
    item = publishable_item(
        status=UGCItem.Status.PUBLISHED, media_manifest=image_manifest(51), creator=creator
    )
    item.product_maps.update(product=product)
    with_card_links(item)
    summer = services.ugc_collection_save(name="Summer looks", slug="summer")
    services.ugc_collection_set_items(collection_id=summer.pk, item_ids=[item.pk])

    beacons = []
    page.on(
        "request",
        lambda r: (
            beacons.append(json.loads(r.post_data))
            if r.url.endswith("/shop/feed/events") and r.method == "POST"
            else None
        ),
    )
    page.goto(url)
    section = page.locator(f'.feed-item[data-id="{item.pk}"]')
    with page.expect_navigation(url="**/products/cloud-knit-hoodie/**"):
        section.locator("a.feed-card-button").click()
    assert f"utm_content=ugc-{item.pk}" in page.url and f"ugc_placement={placement}" in page.url

    form = page.locator("form.buy-form")
    form.locator("select[name=variant]").select_option(str(variant.pk))
    form.get_by_role("button", name="Buy").click()
    expect(page).to_have_url(re.compile(r"/checkout/test/[^/]+/$"))
    page.fill("input[name=email]", "shopper@example.com")
    page.fill("input[name=country]", "FR")
    page.get_by_role("button", name="Pay (test mode)").click()
    expect(page).to_have_url(re.compile(r"/checkout/done/"))

    # Every step was counted in the page's placement (the product page's gallery, which
    # shows the item too, counts its own impression as product_page).
    day = metrics.today()
    wait_for(
        lambda: metrics.pending_by_placement().get((item.pk, day, "add_to_carts", placement)) == 1
    )
    assert metrics.pending_by_placement() == {
        (item.pk, day, "impressions", "product_page"): 1,
        (item.pk, day, "impressions", placement): 1,
        (item.pk, day, "clicks", placement): 1,
        (item.pk, day, "add_to_carts", placement): 1,
    }
    assert {"add_to_carts": [item.pk], "placement": placement} in beacons

    # The order credit carries the item and its placement.
    order = Order.objects.get()
    assert f"ugc_placement={placement}" in order.landing_url
    attribution = Attribution.objects.filter(order=order).first() or attribution_decide(
        order_id=order.pk
    )
    assert (attribution.content_item_id, attribution.content_placement) == (item.pk, placement)
    assert attribution.creator_id == creator.pk

    metrics.flush()
    row = item.metrics.get(placement=placement)
    assert (row.impressions, row.clicks, row.add_to_carts) == (1, 1, 1)
    assert page.js_errors == []
