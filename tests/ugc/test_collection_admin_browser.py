"""The console's collection page in Chromium at a laptop's size: a moderator finds published
items with the inline's item picker (published items only), orders them by position, saves,
and the public page shows them in that order."""

import re

import pytest
from playwright.sync_api import expect

from tests.core.test_admin_browser import log_in, staff_user
from tests.ugc.factories import publishable_item
from tests.ugc.test_feed import published
from ugc.models import UGCCollection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1440, "height": 900}


def pick(page, row: int, term: str, label: str) -> None:
    """Choose an item in the inline's row `row` through its autocomplete (select2)."""
    page.locator(f"select[name=entries-{row}-item] + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill(term)
    option = page.locator(".select2-results__option", has_text=label)
    expect(option).to_have_count(1)
    option.click()


def test_a_moderator_builds_and_orders_a_collection(page, merchant_roles):
    staff_user("mina", "Moderator")
    dress = published(caption="Linen dress on the beach")
    hat = published(caption="Straw hat at noon")
    publishable_item(caption="Linen shorts, approved only")  # not offered
    page.set_viewport_size(LAPTOP)
    log_in(page, "mina")

    page.goto("/admin/ugc/ugccollection/add/")
    page.locator("#id_name").press_sequentially("Beach days")  # keys: the slug follows
    expect(page.locator("#id_slug")).to_have_value("beach-days")  # from the name
    pick(page, 0, "linen", str(dress))
    page.fill("#id_entries-0-position", "2")
    # The picker offers published items only: the approved "Linen shorts" is not there.
    page.locator("#entries-group").get_by_text(re.compile("^Add another", re.I)).click()
    page.locator("select[name=entries-1-item] + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill("linen")
    expect(page.locator(".select2-results__option")).to_have_text([str(dress)])
    page.keyboard.press("Escape")
    pick(page, 1, "straw", str(hat))
    page.fill("#id_entries-1-position", "1")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    collection = UGCCollection.objects.get()
    assert list(collection.entries.values_list("item_id", flat=True)) == [hat.pk, dress.pk]
    # The list fits the laptop's screen and links the public page.
    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    with page.context.expect_page() as opened:  # the page opens in a new tab
        page.get_by_role("link", name="/shop/collections/beach-days/").click()
    public = opened.value
    expect(public.locator(".feed-item")).to_have_count(2)
    ids = public.locator(".feed-item").evaluate_all("s => s.map(i => Number(i.dataset.id))")
    assert ids == [hat.pk, dress.pk]
    assert page.js_errors == []
