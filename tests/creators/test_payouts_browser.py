"""The portal's Payouts page in a real browser at phone size (390×844): the home page's
"payout details" item leads to it; balances and the payout history with the provider's
reference; a statement downloaded; payout details changed with the password (and the email
that says so); a program renamed .pdf refused and a PDF tax form accepted and downloaded."""

import pytest
from django.core import mail
from playwright.sync_api import expect

from sales import payouts
from sales.models import PayoutDetails, TaxForm
from tests.creators.factories import PASSWORD, creator_account, program_with
from tests.creators.test_payouts_page import EXE, PDF
from tests.creators.test_portal_browser import PHONE_UA, portal_log_in
from tests.sales.ledger_helpers import approve, available, give_details, staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone(browser, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.PAYOUT_MINIMUM = "10"
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        user_agent=PHONE_UA,
        is_mobile=True,
        has_touch=True,
        accept_downloads=True,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.js_errors, page.csp_errors = [], []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.on(
        "console",
        lambda m: page.csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield page
    context.close()


def a_paid_payout(maya):
    """40.00 USD paid to Maya by hand (bank reference SEPA-77), then 12.50 more available."""
    give_details(maya, method="manual")
    available(maya, 4_000)
    run = payouts.payout_run_create(currency="USD", actor=staff("fin", "Finance"))
    approve(run, staff("own", "Owner"))
    payout = run.payouts.get()
    payouts.payout_confirm(
        payout_id=payout.pk,
        source="manual",
        reference="SEPA-77",
        provider_ref="SEPA-77",
        actor=staff("own", "Owner"),
    )
    available(maya, 1_250)
    return payout


def test_payouts_page_on_a_phone(phone, merchant_roles, tmp_path):
    _, group = program_with(name="Glow Program", slug="glow")
    maya = creator_account(group, email="maya@example.com", name="Maya", handle="maya")
    a_paid_payout(maya)
    give_details(maya, method="manual", tax=False)  # the tax form is missing now
    mail.outbox.clear()

    # Home says what is missing and leads to the Payouts page.
    portal_log_in(phone, "maya@example.com")
    phone.locator(".attention-payout a").click()
    expect(phone.locator("h1")).to_have_text("Payouts")
    expect(phone.get_by_role("link", name="Payouts", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    expect(phone.locator(".attention-payout")).to_contain_text("your tax form")

    # Balances and history, fitting the phone's width.
    usd = phone.locator(".balance[data-currency=USD]")
    expect(usd.locator(".available")).to_have_text("$12.50")
    expect(usd.locator(".paid")).to_have_text("$40.00")
    expect(usd.locator(".in_payout")).to_have_text("$0.00")
    payout = phone.locator(".payout").first
    expect(payout.locator(".status")).to_have_text("Paid")
    expect(payout.locator(".amount")).to_have_text("$40.00")
    expect(payout.locator(".ref")).to_have_text("SEPA-77")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    # A statement, downloaded as CSV.
    with phone.expect_download() as download:
        phone.locator(".statement").first.get_by_role("link", name="CSV").click()
    csv_text = open(download.value.path(), encoding="utf-8").read()
    assert "Opening balance" in csv_text and "Payout paid" in csv_text

    # New payout details: a wrong password changes nothing, the right one saves and emails.
    phone.check("input[name=method][value=paypal]")
    phone.fill("#id_account", "maya@paypal.example")
    phone.fill("#id_country", "FR")
    phone.fill("#id_password", "not my password")
    phone.get_by_role("button", name="Save my payout details").click()
    expect(phone.locator("#payout-details .error")).to_have_text("That is not your password.")
    assert PayoutDetails.objects.get(creator=maya).data["method"] == "manual"
    assert not mail.outbox
    phone.fill("#id_account", "maya@paypal.example")
    phone.fill("#id_password", PASSWORD)
    phone.get_by_role("button", name="Save my payout details").click()
    expect(phone.locator(".portal-messages")).to_contain_text("We emailed you")
    expect(phone.locator(".current-details")).to_contain_text("PayPal to may…ple")
    assert PayoutDetails.objects.get(creator=maya).data["account"] == "maya@paypal.example"
    assert [m.to for m in mail.outbox] == [["maya@example.com"]]
    assert "payout details were changed" in mail.outbox[0].subject

    # A program renamed .pdf is refused; a real PDF is accepted and downloads.
    renamed = tmp_path / "w9.pdf"
    renamed.write_bytes(EXE)
    phone.set_input_files("#id_file", str(renamed))
    phone.get_by_role("button", name="Upload").click()
    expect(phone.locator("#tax-forms .error")).to_contain_text("this file is neither")
    assert not TaxForm.objects.exists()
    real = tmp_path / "my-w9.pdf"
    real.write_bytes(PDF)
    phone.set_input_files("#id_file", str(real))
    phone.get_by_role("button", name="Upload").click()
    expect(phone.locator(".portal-messages")).to_contain_text("your tax form is uploaded")
    expect(phone.locator(".attention-payout")).to_have_count(0)  # nothing missing now
    with phone.expect_download() as download:
        phone.locator(".tax-form a").first.click()
    assert open(download.value.path(), "rb").read() == PDF
    assert PayoutDetails.objects.get(creator=maya).complete
    assert phone.js_errors == [] and phone.csp_errors == []
