"""The shoppable feed in a real browser: the card, its short link, and the beacons."""

import json
import time

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from links import snapshots
from tests.catalog.factories import ProductFactory, VariantFactory, image_bytes
from tests.links.factories import CreatorFactory
from tests.ugc.factories import publishable_item, with_card_links
from tests.ugc.test_feed import image_manifest
from ugc import metrics
from ugc.models import UGCItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def clean_feed_counters():
    buf = metrics.buffer
    buf.client().delete(buf.list_key, buf.lock_key)
    snapshots._local.clear()
    yield
    buf.client().delete(buf.list_key, buf.lock_key)


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def feed_item(product, *, n, creator=None, caption="Loving it"):
    default_storage.save(f"ugc/display/{n}.jpg", ContentFile(image_bytes("JPEG", (360, 450))))
    item = publishable_item(
        status=UGCItem.Status.PUBLISHED,
        media_manifest=image_manifest(n),
        creator=creator,
        caption=caption,
    )
    item.product_maps.update(product=product)
    return with_card_links(item)


def test_the_card_shows_the_product_and_its_button_goes_through_the_short_link(
    page, live_server, settings
):
    # The redirect sends shoppers to PUBLIC_BASE_URL: here, the live server.
    settings.PUBLIC_BASE_URL = live_server.url
    creator = CreatorFactory(handle="maya", affiliate_code="MAYA10")
    product = ProductFactory(title="Cloud Knit Hoodie", slug="cloud-knit-hoodie")
    VariantFactory(product=product, price="59.00", currency="USD")
    older = feed_item(product, n=1, caption="Older one")
    item = feed_item(product, n=2, creator=creator, caption="<script>window.pwned=1</script>")

    beacons, navigations = [], []
    page.on("request", lambda r: navigations.append(r.url) if r.is_navigation_request() else None)
    page.on(
        "request",
        lambda r: (
            beacons.append(json.loads(r.post_data))
            if r.url.endswith("/shop/feed/events") and r.method == "POST"
            else None
        ),
    )
    with page.expect_response(lambda r: r.url.endswith("/shop/feed/events")):
        page.goto("/shop/feed")
        first = page.locator(".feed-item").first
        expect(first).to_have_attribute("data-id", str(item.pk))
        expect(first.locator(".feed-card-title")).to_have_text("Cloud Knit Hoodie")
        expect(first.locator(".feed-card-price")).to_have_text("$59.00")
        expect(first.locator(".feed-caption")).to_have_text("<script>window.pwned=1</script>")
    # The beacon carried the impression of the visible item only, and it was counted.
    assert beacons[0] == {"impressions": [item.pk], "clicks": []}
    assert metrics.pending()[(item.pk, metrics.today(), "impressions")] == 1
    assert older.pk not in beacons[0]["impressions"]
    assert page.evaluate("window.pwned") is None

    button = first.locator("a.feed-card-button")
    href = button.get_attribute("href")
    assert href.startswith("/p/")
    with page.expect_navigation(url="**/products/cloud-knit-hoodie/**"):
        button.click()
    # Through the short link: /p/<code> answered with the redirect to the product page.
    assert navigations[-2:] == [live_server.url + href, page.url]
    expect(page.locator("h1")).to_have_text("Cloud Knit Hoodie")
    assert f"utm_content=ugc-{item.pk}" in page.url
    assert "ref=MAYA10" in page.url
    # The click beacon was sent as the page left, and counted.
    assert {"impressions": [], "clicks": [item.pk]} in beacons
    wait_for(lambda: metrics.pending().get((item.pk, metrics.today(), "clicks")) == 1)
    assert page.js_errors == []


def test_scrolling_loads_the_next_pages_from_the_api(page, live_server, settings):
    settings.UGC_FEED_PAGE_SIZE = 2
    product = ProductFactory(title="Mug")
    VariantFactory(product=product, price="12.00", currency="EUR")
    items = [feed_item(product, n=n, caption=f"Item {n} <b>x</b>") for n in range(5)]
    expected = [str(i.pk) for i in reversed(items)]

    response = page.goto("/shop/feed")
    assert response.text().count('class="feed-item"') == 2  # the server renders one page
    # Each page is fetched ahead, when the item before last comes into view.
    for _ in range(5):
        page.locator(".feed-item").last.scroll_into_view_if_needed()
        page.wait_for_timeout(200)
    expect(page.locator(".feed-item")).to_have_count(5)
    ids = page.locator(".feed-item").evaluate_all("els => els.map(e => e.dataset.id)")
    assert ids == expected
    last = page.locator(".feed-item").last
    expect(last.locator(".feed-caption")).to_have_text("Item 0 <b>x</b>")
    expect(last.locator(".feed-card-price")).to_have_text("€12.00")
    assert last.locator(".feed-card-button").get_attribute("href").startswith("/p/")
    expect(page.locator(".feed-more")).to_have_count(0)  # the last page removes "More"
    assert page.js_errors == []
