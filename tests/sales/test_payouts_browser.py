"""A payout run in a real browser, end to end: Finance makes the run, the Owner approves it,
the approval sends a Stripe Connect transfer to the Stripe test server, which sends its signed
`transfer.created` webhook back to the running site, and the payout is paid; the balances page
and the creator's statement say so."""

import re

import pytest
from playwright.sync_api import expect

from sales.models import Payout
from tests.core.test_admin_browser import log_in, staff_user
from tests.links.factories import CreatorFactory
from tests.sales.ledger_helpers import available, give_details
from testservers import stripe as stripe_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_makes_a_run_the_owner_approves_it_and_stripe_pays_it(
    page, live_server, settings, merchant_roles
):
    settings.PAYOUT_MINIMUM = "10"
    maya = CreatorFactory(handle="maya", name="Maya Makes")
    give_details(maya, method="stripe", account="acct_maya1")
    available(maya, 4321)
    leo = CreatorFactory(handle="leo", name="Leo Lifts")
    available(leo, 2500)  # no payout details: listed, not paid
    staff_user("fin", "Finance")
    staff_user("boss", "Owner")
    with stripe_server.Server(
        api_key="sk_test_platform", accounts={"acct_maya1"}, payouts_webhook_secret="whsec_pay",
        payouts_webhook_url=f"{live_server.url}/webhooks/payouts/stripe/",
    ) as stripe:  # fmt: skip
        settings.STRIPE_API_BASE = stripe.url
        settings.STRIPE_PAYOUTS_API_KEY = "sk_test_platform"
        settings.STRIPE_PAYOUTS_WEBHOOK_SECRET = "whsec_pay"

        log_in(page, "fin")
        page.goto("/admin/sales/payoutrun/add/")
        page.select_option("select[name=currency]", "USD")
        page.fill("textarea[name=note]", "December commissions")
        page.get_by_role("button", name="Make the run").click()
        expect(page).to_have_url(re.compile(r"/admin/sales/payoutrun/\d+/change/$"))
        expect(page.locator(".refusal")).to_contain_text("someone other than the person who")
        expect(page.locator("body")).to_contain_text("Missing: payout details.")  # leo
        expect(page.locator("[data-inline-type]").first).to_contain_text("$43.21")
        run_url = page.url

        page.context.clear_cookies()  # Finance leaves; the Owner signs in
        log_in(page, "boss")
        page.goto(run_url)
        page.fill(".approve-form input[name=note]", "Checked against the orders")
        page.get_by_role("button", name="Approve and send").click()
        expect(page.locator(".messagelist")).to_contain_text("approved")
        expect(page.locator("[data-inline-type]").first).to_contain_text("Paid")
        assert stripe.sent == [("transfer.created", 200)]  # the webhook reached the site

        page.goto("/admin/sales/creatorbalance/")
        row = page.locator("tr.balance-row", has_text="@maya")
        expect(row).to_contain_text("$43.21")  # paid
        expect(page.locator("tr.balance-row", has_text="@leo")).to_contain_text("$25.00")
        row.get_by_role("link", name="HTML").click()
        expect(page.locator(".statement-lines")).to_contain_text("Payout paid")
        expect(page.locator(".statement-lines")).to_contain_text("Commission earned")
    payout = Payout.objects.get()
    assert payout.status == "paid" and payout.provider_ref.startswith("tr_")
    assert page.js_errors == []
