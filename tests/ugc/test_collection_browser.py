"""A collection page on a phone (390×844), in Chromium: the collection's name in the header,
nothing off the screen, tags tappable, the shop-the-look sheet and its cards in view, and the
feed's script paging in the rest of the collection, in its order, from the collection's API."""

import re

import pytest
from playwright.sync_api import expect

from links import snapshots
from tests.browser import open_page
from tests.ugc.test_feed import published
from tests.ugc.test_look_browser import PHONE, box, tagged_look
from ugc import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

URL = "/shop/collections/weekend-edit-for-the-whole-family/"

# Every element of the item on screen whose box leaves the screen's width.
OFF_SCREEN_JS = """item => {
  const out = [];
  for (const el of item.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!r.width || !r.height || style.visibility === 'hidden') continue;
    if (r.left < -1 || r.right > window.innerWidth + 1) out.push(el.className || el.tagName);
  }
  return out;
}"""


@pytest.fixture
def phone(browser, live_server):
    """A touch phone's page (390×844, mobile, taps)."""
    page = open_page(browser, live_server, viewport=PHONE, is_mobile=True, has_touch=True)
    yield page
    page.context.close()


@pytest.fixture(autouse=True)
def fresh_link_snapshots():
    snapshots._local.clear()  # links made by earlier tests' databases are gone
    yield
    snapshots._local.clear()


def make_collection(*items):
    made = services.ugc_collection_save(
        name="Weekend edit for the whole family, sun or rain",
        slug="weekend-edit-for-the-whole-family",
        description="Looks from our customers.",
    )
    services.ugc_collection_set_items(collection_id=made.pk, item_ids=[i.pk for i in items])
    return made


def test_a_collection_fits_a_phone_and_its_tags_are_tappable(phone):
    page = phone
    look, (shirt, tote, socks) = tagged_look()
    later = published()
    make_collection(look, later)
    page.goto(URL)

    # The header: the way back, the collection's long name cut short, inside the screen.
    title = page.locator("h1.feed-title")
    expect(title).to_be_visible()
    title_box = box(title)
    assert title_box["x"] + title_box["width"] <= PHONE["width"]
    assert title.evaluate("h => h.scrollWidth > h.clientWidth")  # ellipsis, not overflow
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    section = page.locator(f'.feed-item[data-id="{look.pk}"]')
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0",
        arg=section.locator("img.feed-media").element_handle(),
    )
    assert section.evaluate(OFF_SCREEN_JS) == []
    item_box = box(section)
    for part in (".feed-card", ".feed-save", ".feed-share", ".feed-look > summary"):
        found = box(section.locator(part).first)
        assert found["y"] >= item_box["y"] and found["y"] + found["height"] <= PHONE["height"]

    # Tags are a thumb wide, on the screen, and a tap opens the sheet at the product.
    for product in (shirt, tote):
        tag = box(section.locator(f'.feed-tag[data-product="{product.pk}"]'))
        assert tag["width"] >= 44 and tag["height"] >= 44
        assert 0 <= tag["x"] and tag["x"] + tag["width"] <= PHONE["width"]
    section.locator(f'.feed-tag[data-product="{tote.pk}"]').tap()
    sheet = section.locator(".feed-look-sheet")
    expect(sheet).to_be_visible()
    expect(sheet.locator(".feed-card-title")).to_have_text(["Linen Shirt", "Canvas Tote", "Socks"])
    picked = sheet.locator(f'.feed-card[data-product="{tote.pk}"]')
    expect(picked).to_have_class("feed-card is-picked")
    expect(picked.locator("a.feed-card-button")).to_have_attribute(
        "href", re.compile(r"^/p/\w+\?ugc_placement=collection$")
    )
    assert section.evaluate(OFF_SCREEN_JS) == []
    assert page.js_errors == []


def test_the_script_pages_in_the_rest_of_the_collection_in_its_order(phone, settings):
    page = phone
    settings.UGC_FEED_PAGE_SIZE = 2
    items = [published() for _ in range(4)]
    newest_first = published()  # in the feed, not in the collection
    order = [items[2], items[0], items[3], items[1]]
    make_collection(*order)
    api_pages = []
    page.on(
        "request", lambda r: api_pages.append(r.url) if "/api/ugc/collections/" in r.url else None
    )
    # The server renders the first page; the script may page in the next at once (two short
    # items do not fill a phone), so the first page is counted in the HTML, not the DOM.
    first_page = page.goto(URL).text()
    assert first_page.count('<section class="feed-item"') == 2
    feed = page.locator(".ugc-feed")
    for n in range(4):  # scroll one screen at a time, as a thumb does
        feed.evaluate("(f, n) => f.scrollTo(0, f.clientHeight * n)", n)
        page.wait_for_timeout(300)
    expect(feed.locator(".feed-item")).to_have_count(4)
    shown = feed.locator(".feed-item").evaluate_all("items => items.map(i => Number(i.dataset.id))")
    assert shown == [i.pk for i in order]
    assert newest_first.pk not in shown
    assert api_pages and all("weekend-edit-for-the-whole-family?cursor=" in u for u in api_pages)
    buttons = feed.locator("a.feed-card-button").evaluate_all("a => a.map(b => b.href)")
    assert buttons and all(b.endswith("?ugc_placement=collection") for b in buttons)
    assert page.js_errors == []
