"""The whole moderation loop in a real browser: a moderator claims an item in the console,
maps it to a product, approves and publishes it, and a shopper then sees it on /shop/feed
with its product card."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from links import snapshots
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.core.test_admin_browser import log_in, staff_user
from tests.links.factories import CreatorFactory
from tests.ugc.factories import media_upload, pattern_bytes
from ugc import services
from ugc.models import ModerationEvent, UGCItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = UGCItem.Status


@pytest.fixture(autouse=True)
def _fresh_link_snapshots():
    snapshots._local.clear()
    yield
    snapshots._local.clear()


def test_a_moderator_claims_maps_approves_and_publishes_and_the_item_shows_on_the_feed(
    page, live_server, settings, merchant_roles
):
    settings.PUBLIC_BASE_URL = live_server.url  # where the short link sends the shopper
    staff_user("mina", "Moderator")
    product = ProductFactory(title="Cloud Knit Hoodie", slug="cloud-knit-hoodie")
    VariantFactory(product=product, price=Decimal("59.00"), currency="EUR")
    ProductFactory(title="Trail Runner Jacket")  # another product the search must not pick
    creator = CreatorFactory(handle="maya", affiliate_code="MAYA10")
    item = services.ugc_ingest(  # the media job runs when the ingestion commits
        source=UGCItem.Source.TIKTOK,
        external_id="7301",
        media_file=media_upload("hoodie.jpg", pattern_bytes(5, "JPEG", (720, 900)), "image/jpeg"),
        caption="Cosiest hoodie ever",
        author_handle="maya",
        creator=creator,
        rights={
            "consent_method": "creator_agreement",
            "allowed_channels": ["site", "social"],
            "proof_text": "Creator agreement signed 2026-11-01",
        },
    )
    item.refresh_from_db()
    assert item.media_status == "ready"

    log_in(page, "mina")
    page.goto("/admin/ugc/ugcitem/")
    expect(page.locator('.ugc-status-counts a[data-status="queued"] .count')).to_have_text("1")
    page.locator("#result_list tbody tr").first.locator("a").first.click()
    expect(page).to_have_url(re.compile(rf"/admin/ugc/ugcitem/{item.pk}/change/$"))

    page.get_by_role("button", name="Claim for review").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Claimed 1: #{item.pk}")

    # Map it to the hoodie with the product autocomplete of the mappings inline.
    row = page.locator("#product_maps-group tr.form-row").first
    row.locator(".field-product .select2-selection").click()
    page.locator(".select2-search__field").fill("Cloud")
    page.locator(".select2-results__option", has_text="Cloud Knit Hoodie").click()
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("changed successfully")

    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text(f"Approved 1: #{item.pk}")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Published 1: #{item.pk}")
    assert page.js_errors == []

    item.refresh_from_db()
    assert item.status == S.PUBLISHED
    actions = list(ModerationEvent.objects.filter(item=item).values_list("action", flat=True))
    assert actions == ["ingest", "rights_grant", "claim", "map_product", "approve", "publish"]

    # A shopper opens the feed: the item, its caption and the hoodie's card.
    shopper = page.context.new_page()
    shopper.js_errors = []
    shopper.on("pageerror", lambda error: shopper.js_errors.append(str(error)))
    response = shopper.goto("/shop/feed")
    assert response.status == 200
    card_item = shopper.locator(f'.feed-item[data-id="{item.pk}"]')
    expect(card_item).to_be_visible()
    expect(card_item).to_contain_text("Cosiest hoodie ever")
    expect(card_item).to_contain_text("Cloud Knit Hoodie")
    expect(card_item).to_contain_text("59")
    button = card_item.locator("a.feed-card-button")
    expect(button).to_have_attribute("href", re.compile(r"^/p/\w+\?ugc_placement=home_feed$"))
    picture = card_item.locator("img.feed-media")
    expect(picture).to_have_js_property("complete", True)
    assert picture.evaluate("img => img.naturalWidth") > 0  # the processed display copy

    button.click()
    expect(shopper).to_have_url(re.compile(r"/products/cloud-knit-hoodie/\?"))
    expect(shopper.locator("h1")).to_have_text("Cloud Knit Hoodie")
    assert f"utm_content=ugc-{item.pk}" in shopper.url
    assert "ref=MAYA10" in shopper.url
    assert shopper.js_errors == []
