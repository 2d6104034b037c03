"""The moderation queue in a real browser: a bulk reject with its reason page, then one item
claimed and approved with the buttons on its page."""

import re

import pytest
from playwright.sync_api import expect

from tests.core.test_admin_browser import log_in, staff_user
from tests.ugc.factories import RejectionReasonFactory, UGCItemFactory
from ugc.models import UGCItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = UGCItem.Status


def test_a_moderator_rejects_two_items_in_bulk_and_approves_one_on_its_page(page, merchant_roles):
    staff_user("mina", "Moderator")
    RejectionReasonFactory(label="Off-brand")
    first, second, third = UGCItemFactory(), UGCItemFactory(), UGCItemFactory()
    log_in(page, "mina")

    page.goto("/admin/ugc/ugcitem/")
    expect(page.locator('.ugc-status-counts a[data-status="queued"] .count')).to_have_text("3")
    for item in (first, second):
        page.locator(f'input[name="_selected_action"][value="{item.pk}"]').check()
    page.select_option("select[name=action]", "reject_items")
    page.get_by_role("button", name="Run").click()  # Unfold's action button

    expect(page.locator("h1 .page-title")).to_have_text("Reject items")
    page.select_option("select[name=reason]", label="Off-brand")
    page.fill("textarea[name=note]", "Logo cropped")
    page.get_by_role("button", name="Reject").click()

    expect(page.locator(".messagelist")).to_contain_text(f"Rejected 2: #{first.pk}, #{second.pk}")
    expect(page.locator('.ugc-status-counts a[data-status="rejected"] .count')).to_have_text("2")

    page.goto(f"/admin/ugc/ugcitem/{third.pk}/change/")
    page.get_by_role("button", name="Claim for review").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Claimed 1: #{third.pk}")
    # It has no rights yet: approving asks for a confirmation first, and changes nothing.
    expect(page.locator(".ugc-approval-warnings")).to_contain_text(
        "No rights have been granted for this item."
    )
    page.get_by_role("button", name="Approve…", exact=True).click()
    expect(page.locator("h1 .page-title")).to_have_text(f"Approve item #{third.pk}?")
    expect(page.locator(".ugc-warning")).to_have_text("No rights have been granted for this item.")
    assert UGCItem.objects.get(pk=third.pk).status == S.REVIEWING
    page.get_by_role("button", name="Approve anyway").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Approved 1: #{third.pk}")
    expect(page).to_have_url(re.compile(rf"/admin/ugc/ugcitem/{third.pk}/change/$"))
    # Taken back: sent for review again, with a reason, from the approved item's page.
    page.fill("input[name=reason]", "Ask the author for rights first")
    page.get_by_role("button", name="Send back for review").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Sent back to the queue 1: #{third.pk}")
    page.get_by_role("button", name="Claim for review").click()
    page.get_by_role("button", name="Approve…", exact=True).click()
    page.get_by_role("button", name="Approve anyway").click()

    statuses = dict(UGCItem.objects.values_list("pk", "status"))
    assert statuses == {first.pk: S.REJECTED, second.pk: S.REJECTED, third.pk: S.APPROVED}
    assert page.js_errors == []
