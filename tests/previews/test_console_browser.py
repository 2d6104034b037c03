"""The merchant console's previews in a real browser (issue 10): a catalog manager previews
a URL, sees its card, writes the card's own title and image, and sees why a page that fails
or is not allowed has no card."""

import io

import pytest
from django.core.cache import cache
from PIL import Image
from playwright.sync_api import expect

from previews.models import LinkPreview
from tests.core.test_admin_browser import log_in, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE = """<!doctype html><html><head><title>Linen Shirt | Example Shop</title>
<meta property="og:title" content="Linen Shirt">
<meta property="og:description" content="Breezy linen, made in Porto.">
<meta property="og:site_name" content="Example Shop">
<meta property="og:image" content="{image}"></head><body></body></html>"""


def jpeg(size, color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _quick(settings, allow_local):
    cache.clear()
    settings.PREVIEW_HOST_INTERVAL = 0
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0.01


def test_a_catalog_manager_previews_a_url_and_writes_its_card(
    page, server, merchant_roles, tmp_path
):
    server.page("/shirt", PAGE.format(image=server.url("/shirt.jpg")))
    server.reply("/shirt.jpg", body=jpeg((1400, 900), (20, 90, 160)),
                 headers={"Content-Type": "image/jpeg"})  # fmt: skip
    server.reply("/gone", status=404)
    photo = tmp_path / "ours.jpg"
    photo.write_bytes(jpeg((1600, 1000), (200, 40, 40)))
    staff_user("cm", "Catalog manager")
    log_in(page, "cm")

    page.goto("/admin/previews/linkpreview/")
    page.get_by_role("link", name="Preview a URL").click()
    page.fill("#id_url", server.url("/shirt"))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("made: Linen Shirt")
    card = page.frame_locator("iframe[title='Preview card']")
    expect(card.locator(".sl-card-title")).to_have_text("Linen Shirt")
    expect(card.locator(".sl-card-description")).to_have_text("Breezy linen, made in Porto.")
    scraped_image = card.locator(".sl-card-image").get_attribute("src")

    # The merchant's own title and image, kept apart from what the page says.
    page.fill("#id_title_override", "Our linen shirt")
    page.set_input_files("#id_image_upload", photo)
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("was changed successfully")
    expect(card.locator(".sl-card-title")).to_have_text("Our linen shirt")
    expect(card.locator(".sl-card-description")).to_have_text("Breezy linen, made in Porto.")
    assert card.locator(".sl-card-image").get_attribute("src") != scraped_image
    expect(page.locator(".field-title .readonly")).to_have_text("Linen Shirt")
    preview = LinkPreview.objects.get()
    assert (preview.title, preview.title_override) == ("Linen Shirt", "Our linen shirt")

    # "Fetch again now" refreshes what was scraped and leaves the merchant's card alone.
    page.get_by_role("button", name="Fetch again now").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("made: Our linen shirt")
    expect(card.locator(".sl-card-title")).to_have_text("Our linen shirt")

    # A page that fails: the reason, where the card would be.
    page.goto("/admin/previews/linkpreview/add/")
    page.fill("#id_url", server.url("/gone"))
    page.get_by_role("button", name="Preview").click()
    reason = "The server answered with HTTP status 404."
    expect(page.locator("ul.messagelist li.error")).to_have_text(
        f"No preview of {server.url('/gone')}: {reason}"
    )
    expect(card.locator(".sl-card-missing")).to_have_text(f"No preview: {reason}")
    expect(page.locator(".field-state .readonly")).to_have_text(f"Failed: {reason}")

    # A target that is not allowed is refused on the form, and nothing is stored.
    page.goto("/admin/previews/linkpreview/add/")
    page.fill("#id_url", "http://LOCALHOST./admin")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".errorlist")).to_have_text("This address is not allowed.")
    assert LinkPreview.objects.count() == 2

    page.goto("/admin/previews/linkpreview/")
    expect(page.locator("td.field-problem").filter(has_text="HTTP status 404")).to_have_count(1)
    assert page.js_errors == []
