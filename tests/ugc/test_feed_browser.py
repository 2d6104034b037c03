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
from tests.ugc.test_feed import image_manifest, video_manifest
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
    assert beacons[0] == {"impressions": [item.pk], "clicks": [], "placement": "home_feed"}
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
    assert {"impressions": [], "clicks": [item.pk], "placement": "home_feed"} in beacons
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


# --- the feed on a laptop and on a phone ---------------------------------------------------

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# Where the media's picture is drawn (its content box, after object-fit), the item's box, the
# header's box and what sits on top at the brand's centre.
BOXES_JS = """item => {
  const box = e => { const r = e.getBoundingClientRect();
                     return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const media = item.querySelector('.feed-media');
  const m = box(media);
  const natural = media.tagName === 'VIDEO'
    ? [media.videoWidth || +media.getAttribute('width'),
       media.videoHeight || +media.getAttribute('height')]
    : [media.naturalWidth, media.naturalHeight];
  const w = m.right - m.left, h = m.bottom - m.top, fit = getComputedStyle(media).objectFit;
  const scale = fit === 'cover' ? Math.max(w / natural[0], h / natural[1])
              : fit === 'contain' ? Math.min(w / natural[0], h / natural[1]) : null;
  const drawn = scale === null ? m : {
    left: m.left + (w - natural[0] * scale) / 2, right: m.right - (w - natural[0] * scale) / 2,
    top: m.top + (h - natural[1] * scale) / 2, bottom: m.bottom - (h - natural[1] * scale) / 2};
  const brand = document.querySelector('.site-header .brand');
  const b = box(brand);
  const onTop = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2);
  return {item: box(item), media: m, drawn, fit, natural,
          header: box(document.querySelector('.site-header')), brand: b,
          brandOnTop: brand.contains(onTop), card: box(item.querySelector('.feed-card')),
          back: box(document.querySelector('.feed-nav a'))};
}"""


def photo_item(product, *, n, size):
    default_storage.save(f"ugc/display/{n}.jpg", ContentFile(image_bytes("JPEG", size)))
    manifest = image_manifest(n)
    manifest.update(width=size[0], height=size[1], aspect=round(size[0] / size[1], 4))
    manifest["display"].update(width=size[0], height=size[1])
    item = publishable_item(status=UGCItem.Status.PUBLISHED, media_manifest=manifest,
                            caption=f"A {size[0]}×{size[1]} picture")  # fmt: skip
    item.product_maps.update(product=product)
    return with_card_links(item)


def inside(inner, outer, slack=1.0) -> bool:
    return (inner["left"] >= outer["left"] - slack and inner["top"] >= outer["top"] - slack
            and inner["right"] <= outer["right"] + slack
            and inner["bottom"] <= outer["bottom"] + slack)  # fmt: skip


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["laptop-1440x900", "phone-390x844"])
def test_each_item_is_seen_whole_under_the_sites_header(page, viewport):
    product = ProductFactory(title="Recycled Yoga Mat")
    VariantFactory(product=product, price="68.00", currency="EUR")
    shapes = [(360, 640), (640, 360), (360, 450)]  # 9:16, 16:9 and 4:5 (shown first)
    items = [photo_item(product, n=n, size=size) for n, size in enumerate(shapes)]
    page.set_viewport_size(viewport)
    page.goto("/shop/feed")
    screen = {"left": 0, "top": 0, "right": viewport["width"], "bottom": viewport["height"]}

    for item in reversed(items):  # newest first
        section = page.locator(f'.feed-item[data-id="{item.pk}"]')
        section.scroll_into_view_if_needed()
        page.wait_for_function(
            "id => { const img = document.querySelector(`.feed-item[data-id='${id}'] img`);"
            " return img.complete && img.naturalWidth > 0; }",
            arg=str(item.pk),
        )
        page.wait_for_timeout(300)  # scroll snapping settles
        found = section.evaluate(BOXES_JS)
        below_header = {**screen, "top": found["header"]["bottom"]}
        # The header stays on top: the brand and the way back to the shop are on screen.
        assert found["brandOnTop"], found
        assert inside(found["brand"], screen) and inside(found["back"], screen), found
        assert found["header"]["top"] == 0
        # One item a screen: the item fills what the header leaves, whatever the media's size.
        assert inside(found["item"], below_header), found
        assert found["item"]["bottom"] - found["item"]["top"] >= (
            viewport["height"] - found["header"]["bottom"] - 1
        )
        # The picture is contained, never cropped: all of it is drawn on screen.
        assert found["fit"] == "contain", found
        assert inside(found["drawn"], below_header), found
        drawn_w = found["drawn"]["right"] - found["drawn"]["left"]
        drawn_h = found["drawn"]["bottom"] - found["drawn"]["top"]
        assert abs(drawn_w / drawn_h - found["natural"][0] / found["natural"][1]) < 0.02
        # And its product card with the Shop button.
        assert inside(found["card"], below_header), found
    back = page.locator(".feed-nav a")
    expect(back).to_be_visible()
    with page.expect_navigation():
        back.click()
    assert page.url == page.context.pages[0].url and page.url.endswith("/")
    assert page.js_errors == []


def test_the_sound_control_turns_sound_on_and_off_for_every_clip(page, settings):
    settings.UGC_FEED_PAGE_SIZE = 1
    product = ProductFactory(title="Wireless Earbuds Mini")
    VariantFactory(product=product, price="79.00")
    clips = []
    for n in range(3):
        item = publishable_item(status=UGCItem.Status.PUBLISHED, media_manifest=video_manifest(n))
        item.product_maps.update(product=product)
        clips.append(with_card_links(item))
    page.set_viewport_size(PHONE)
    page.goto("/shop/feed")
    button = page.locator(".site-header .feed-sound")
    expect(button).to_be_visible()
    expect(button).to_have_text("Unmute")
    muted = "() => [...document.querySelectorAll('video.feed-media')].map(v => v.muted)"
    assert set(page.evaluate(muted)) == {True}  # clips start muted, so that they may autoplay

    button.click()
    expect(button).to_have_text("Mute")
    shown = page.evaluate(muted)
    assert len(shown) < 3 and set(shown) == {False}
    # Clips paged in later follow the choice.
    for _ in range(5):
        page.locator(".feed-item").last.scroll_into_view_if_needed()
        page.wait_for_timeout(200)
    expect(page.locator("video.feed-media")).to_have_count(3)
    assert page.evaluate(muted) == [False, False, False]
    button.click()
    expect(button).to_have_text("Unmute")
    assert page.evaluate(muted) == [True, True, True]
    assert page.js_errors == []


def test_a_feed_without_clips_has_no_sound_control(page):
    product = ProductFactory(title="Mug")
    VariantFactory(product=product, price="12.00")
    photo_item(product, n=7, size=(360, 450))
    page.goto("/shop/feed")
    expect(page.locator(".feed-item")).to_have_count(1)
    expect(page.locator(".feed-sound")).to_be_hidden()


def test_a_tiktok_item_links_its_video_on_tiktok_server_and_script_rendered(page, settings):
    """A pulled TikTok video is its cover in the feed, with a link to the video on TikTok,
    whether the server rendered the page or feed.js loaded it."""
    from ugc.models import SocialPost

    settings.UGC_FEED_PAGE_SIZE = 1
    product = ProductFactory(title="Trail Runner 2")
    VariantFactory(product=product, price="89.00", currency="EUR")
    photo = feed_item(product, n=1, caption="A customer photo")
    videos = [feed_item(product, n=n, caption=f"TikTok {n}") for n in (2, 3)]
    urls = {}
    for n, item in enumerate(videos):
        UGCItem.objects.filter(pk=item.pk).update(source="tiktok", external_id=f"73{n}")
        urls[item.pk] = f"https://www.tiktok.com/@acme.tok/video/73{n}"
        SocialPost.objects.create(item=item, permalink=urls[item.pk])

    response = page.goto("/shop/feed")
    assert response.text().count('class="feed-watch"') == 1  # the newest, server-rendered
    for _ in range(4):
        page.locator(".feed-item").last.scroll_into_view_if_needed()
        page.wait_for_timeout(200)
    expect(page.locator(".feed-item")).to_have_count(3)
    for item in videos:
        link = page.locator(f'.feed-item[data-id="{item.pk}"] .feed-watch')
        expect(link).to_have_text("Watch on TikTok")
        expect(link).to_have_attribute("href", urls[item.pk])
        expect(link).to_have_attribute("target", "_blank")
        expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(page.locator(f'.feed-item[data-id="{photo.pk}"] .feed-watch')).to_have_count(0)
    assert page.js_errors == []
