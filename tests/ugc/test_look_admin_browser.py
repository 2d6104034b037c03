"""The console's shop-the-look editor: a click on the photo places the chosen product's tag."""

from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from tests.catalog.factories import ProductFactory, image_bytes
from tests.core.test_admin_browser import log_in, staff_user
from tests.ugc.factories import publishable_item
from tests.ugc.test_feed import image_manifest
from ugc.models import UGCProductMap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_moderator_clicks_on_the_photo_to_tag_a_second_product(page, merchant_roles):
    staff_user("mina", "Moderator")
    default_storage.save("ugc/display/41.jpg", ContentFile(image_bytes("JPEG", (360, 450))))
    item = publishable_item(media_manifest=image_manifest(41))
    ProductFactory(title="Canvas Tote")
    log_in(page, "mina")

    page.goto(f"/admin/ugc/ugcitem/{item.pk}/change/")
    page.get_by_role("link", name="Shop the look: place product tags").click()
    page.select_option("select[name=product]", label="Canvas Tote")
    page.get_by_role("button", name="Add").click()
    expect(page.locator(".messagelist")).to_contain_text("Added to the look.")

    tote = UGCProductMap.objects.get(item=item, product__title="Canvas Tote")
    row = page.locator(f'[data-look-row="{tote.product_id}"]')
    row.locator('input[name="pick"]').check()
    photo = page.locator("[data-look-stage] img")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
    )
    size = photo.bounding_box()
    photo.click(position={"x": size["width"] * 0.6, "y": size["height"] * 0.25})
    expect(page.locator(f'[data-marker="{tote.product_id}"]')).to_be_visible()
    row.get_by_role("button", name="Save tag").click()
    expect(page.locator(".messagelist")).to_contain_text("Tag saved.")

    tote.refresh_from_db()
    assert abs(tote.tag_x - Decimal("0.6")) < Decimal("0.01")
    assert abs(tote.tag_y - Decimal("0.25")) < Decimal("0.01")
    assert page.js_errors == []
