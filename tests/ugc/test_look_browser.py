"""Shop the look on a phone (390×844): tags sit on their products in the frame, the sheet
lists every tagged product, and save and share work on the card."""

from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from links import snapshots
from tests.catalog.factories import ProductFactory, VariantFactory, image_bytes
from tests.ugc.factories import publishable_item, with_card_links
from tests.ugc.test_feed import image_manifest
from ugc.models import UGCItem, UGCItemLink, UGCProductMap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def fresh_link_snapshots():
    snapshots._local.clear()  # links made by earlier tests' databases are gone
    yield
    snapshots._local.clear()


def tagged_look():
    """A 4:5 photo with three products: two tagged at known points, one untagged."""
    default_storage.save("ugc/display/31.jpg", ContentFile(image_bytes("JPEG", (360, 450))))
    item = publishable_item(status=UGCItem.Status.PUBLISHED, media_manifest=image_manifest(31))
    products = []
    for title, price in (("Linen Shirt", "45.00"), ("Canvas Tote", "25.00"), ("Socks", "9.00")):
        product = ProductFactory(title=title)
        VariantFactory(product=product, price=price, currency="USD")
        products.append(product)
    item.product_maps.update(product=products[0], tag_x=Decimal("0.25"), tag_y=Decimal("0.4"))
    UGCProductMap.objects.create(
        item=item, product=products[1], placement="home_feed",
        tag_x=Decimal("0.75"), tag_y=Decimal("0.8"),
    )  # fmt: skip
    UGCProductMap.objects.create(item=item, product=products[2], placement="home_feed")
    return with_card_links(item), products


def box(locator):
    found = locator.bounding_box()
    assert found is not None
    return found


def test_tags_sit_on_their_points_of_the_photo_at_phone_size(page, live_server):
    item, (shirt, tote, socks) = tagged_look()
    page.set_viewport_size(PHONE)
    page.goto("/shop/feed")
    section = page.locator(f'.feed-item[data-id="{item.pk}"]')
    media = section.locator("img.feed-media")
    expect(media).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=media.element_handle()
    )

    # The frame is the photo as shown (contained, 4:5): its width is the phone's.
    frame = box(section.locator(".feed-frame"))
    assert frame["width"] == pytest.approx(390, abs=1)
    assert frame["height"] == pytest.approx(390 * 450 / 360, abs=1)
    # Each tag's centre is at its fractions of the frame.
    for product, (x, y) in ((shirt, (0.25, 0.4)), (tote, (0.75, 0.8))):
        dot = box(section.locator(f'.feed-tag[data-product="{product.pk}"] .feed-tag-dot'))
        assert dot["x"] + dot["width"] / 2 == pytest.approx(frame["x"] + x * frame["width"], abs=2)
        assert dot["y"] + dot["height"] / 2 == pytest.approx(
            frame["y"] + y * frame["height"], abs=2
        )
    assert section.locator(f'.feed-tag[data-product="{socks.pk}"]').count() == 0
    # Tags are inside the phone's screen and at least a thumb wide.
    tag = box(section.locator(f'.feed-tag[data-product="{tote.pk}"]'))
    assert tag["x"] + tag["width"] <= 390 and tag["width"] >= 44

    # Tapping a tag opens the sheet at its product; the sheet lists all three.
    section.locator(f'.feed-tag[data-product="{tote.pk}"]').click()
    sheet = section.locator(".feed-look-sheet")
    expect(sheet).to_be_visible()
    expect(sheet.locator(".feed-card-title")).to_have_text(["Linen Shirt", "Canvas Tote", "Socks"])
    expect(sheet.locator(f'.feed-card[data-product="{tote.pk}"]')).to_have_class(
        "feed-card is-picked"
    )
    link = UGCItemLink.objects.select_related("short_link").get(item=item, product=tote)
    expect(
        sheet.locator(f'.feed-card[data-product="{tote.pk}"] a.feed-card-button')
    ).to_have_attribute("href", f"/p/{link.short_link.code}?ugc_placement=home_feed")
    assert page.js_errors == []


def test_save_is_kept_for_the_visitor_and_share_uses_the_web_share_api(page, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url  # short links are made absolute with it
    item, (shirt, _, _) = tagged_look()
    page.add_init_script(
        "window.__shared = []; navigator.share = d => { window.__shared.push(d); "
        "return Promise.resolve(); };"
    )
    page.set_viewport_size(PHONE)
    page.goto("/shop/feed")
    section = page.locator(f'.feed-item[data-id="{item.pk}"]')
    save = section.locator(".feed-save")
    expect(save).to_have_attribute("aria-pressed", "false")
    save.click()
    expect(save).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".feed-saved-count")).to_have_text("1")

    page.reload()  # kept in this browser
    expect(page.locator(f'.feed-item[data-id="{item.pk}"] .feed-save')).to_have_attribute(
        "aria-pressed", "true"
    )

    page.locator(f'.feed-item[data-id="{item.pk}"] .feed-share').click()
    shared = page.evaluate("window.__shared")
    link = UGCItemLink.objects.select_related("short_link").get(item=item, product=shirt)
    assert shared == [
        {"title": "Linen Shirt", "url": f"{live_server.url}/p/{link.short_link.code}"}
    ]
    # The short link carries the item: following it lands with utm_content=ugc-<id>.
    page.goto(shared[0]["url"])
    page.wait_for_url(f"**utm_content=ugc-{item.pk}*")
    assert page.js_errors == []


def test_without_the_web_share_api_the_link_is_copied(browser, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    item, (shirt, _, _) = tagged_look()
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.add_init_script("delete Navigator.prototype.share;")
    page.goto("/shop/feed")
    share = page.locator(f'.feed-item[data-id="{item.pk}"] .feed-share')
    share.click()
    expect(share).to_have_text("Link copied")
    link = UGCItemLink.objects.select_related("short_link").get(item=item, product=shirt)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{live_server.url}/p/{link.short_link.code}"
    context.close()
