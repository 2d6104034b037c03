"""The creator portal in a real browser, at phone size (390×844) and on a desktop:

- apply → the merchant approves in the console → the creator sets a password from the email
  → makes a link → a click through it shows on their home;
- submit a photo with consent → a moderator publishes it → the creator sees it published;
- a demo order credited to them (attribution, then `sales.commissions`) shows in their
  earnings with its explanation.
"""

import re
from decimal import Decimal

import pytest
from django.core import mail
from playwright.sync_api import expect

from attribution.services import attribution_decide
from creators.models import CreatorApplication, DiscountCode
from links import snapshots
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.core.test_admin_browser import log_in as console_log_in
from tests.core.test_admin_browser import staff_user
from tests.creators.factories import (
    PASSWORD,
    click,
    creator_account,
    link_for,
    paid_order,
    program_with,
)
from tests.ugc.factories import pattern_bytes
from ugc.models import UGCItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(autouse=True)
def _fresh(settings, live_server):
    from django.core.cache import cache

    cache.clear()
    snapshots._local.clear()
    settings.PUBLIC_BASE_URL = live_server.url
    settings.CLICK_BUFFER_URL = ""  # clicks written at once, so the home page shows them
    yield
    snapshots._local.clear()


@pytest.fixture(params=list(SIZES))
def creator_page(request, browser, live_server):
    """A page for the creator, in its own browser context at phone or desktop size."""
    phone = request.param == "phone"
    context = browser.new_context(
        base_url=live_server.url,
        viewport=SIZES[request.param],
        user_agent=PHONE_UA if phone else None,
        is_mobile=phone,
        has_touch=phone,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.csp_errors = []
    page.on(
        "console",
        lambda m: page.csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield page
    context.close()


def portal_log_in(page, email):
    page.goto("/creators/login/")
    page.fill("#id_email", email)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator("h1")).to_contain_text("Hi ")


def test_apply_approve_set_a_password_make_a_link_and_see_its_click(
    creator_page, page, merchant_roles
):
    program, group = program_with(name="Glow Program", slug="glow")
    product = ProductFactory(title="Glow Serum")
    VariantFactory(product=product, price=Decimal("24.99"), currency="USD")

    # The applicant, on their phone (or desktop).
    creator_page.goto("/creators/apply/glow/")
    creator_page.fill("#id_name", "Maya Makes")
    creator_page.fill("#id_email", "maya@example.com")
    creator_page.fill("#id_handle_tiktok", "@maya.makes")
    creator_page.fill("#id_country", "DE")
    creator_page.fill("#id_audience_size", "12000")
    creator_page.fill("#id_why", "I love the serum.")
    creator_page.check("#id_accept_terms")
    creator_page.get_by_role("button", name="Send my application").click()
    expect(creator_page.locator("h1")).to_have_text("Thank you")
    application = CreatorApplication.objects.get()

    # The merchant approves in the console.
    staff_user("olga", "Owner")
    console_log_in(page, "olga")
    page.goto("/admin/creators/creatorapplication/")
    page.get_by_role("link", name="Maya Makes").click()
    page.check("input[name=decision][value=approve]")
    page.select_option("#decision-form select[name=group]", str(group.pk))
    page.get_by_role("button", name="Send the decision").click()
    expect(page.locator(".messagelist")).to_contain_text("Approved Maya Makes into")
    application.refresh_from_db()
    assert application.status == "approved"

    # The creator sets a password from the email and lands on their home page.
    link = re.search(r"https?://\S+/creators/password/set/\S+/", mail.outbox[-1].body).group(0)
    creator_page.goto(link)
    creator_page.fill("#id_new_password1", PASSWORD)
    creator_page.fill("#id_new_password2", PASSWORD)
    creator_page.get_by_role("button", name="Set my password").click()
    expect(creator_page.locator("h1")).to_have_text("Hi Maya Makes")
    expect(creator_page.locator(".stat-card").first.locator(".clicks")).to_have_text("0")

    # Makes a link and copies it.
    creator_page.get_by_role("link", name="Links", exact=True).click()
    creator_page.select_option("#id_product", str(product.pk))
    creator_page.select_option("#id_platform", "tiktok")
    creator_page.get_by_role("button", name="Make the link").click()
    expect(creator_page.locator(".portal-messages")).to_contain_text("Your link is ready")
    short_url = creator_page.locator("input.copy-source").input_value()
    assert re.fullmatch(rf"{re.escape(page.url.split('/admin')[0])}/p/[A-Za-z0-9]{{7}}", short_url)
    expect(creator_page.locator("img[alt^='QR code']")).to_be_visible()

    # A shopper clicks it; the creator's home counts the click.
    shopper = creator_page.context.browser.new_context(user_agent=PHONE_UA)
    visit = shopper.new_page()
    visit.goto(short_url)
    expect(visit).to_have_url(re.compile(r"/products/.+ref=MAYAMAKES"))
    shopper.close()
    creator_page.get_by_role("link", name="Home", exact=True).click()
    expect(creator_page.locator(".stat-card").first.locator(".clicks")).to_have_text("1")
    expect(creator_page.locator(".two-columns")).to_contain_text("1 clicks")
    assert creator_page.js_errors == [] and creator_page.csp_errors == []


def test_submit_a_photo_a_moderator_publishes_it_and_the_creator_sees_it(
    creator_page, page, merchant_roles, tmp_path
):
    program, group = program_with(name="Glow Program", slug="glow")
    product = ProductFactory(title="Glow Serum")
    VariantFactory(product=product, price=Decimal("24.99"), currency="USD")
    creator_account(group, email="maya@example.com", name="Maya", handle="maya")
    photo = tmp_path / "glow.jpg"
    photo.write_bytes(pattern_bytes(11, "JPEG", (720, 900)))

    portal_log_in(creator_page, "maya@example.com")
    creator_page.get_by_role("link", name="Content", exact=True).click()
    creator_page.get_by_role("link", name="Submit a photo or video").click()
    creator_page.set_input_files("#id_media_file", str(photo))
    creator_page.fill("#id_caption", "My glow routine")
    creator_page.get_by_label("Glow Serum").check()
    expect(creator_page.locator(".terms")).to_contain_text("You let us show it.")
    creator_page.check("#id_accept_licence")
    creator_page.get_by_role("button", name="Submit").click()
    expect(creator_page.locator(".status")).to_have_text("Waiting for review")
    item = UGCItem.objects.get()
    assert item.source == "portal" and item.rights.consent_method == "creator_agreement"

    staff_user("mina", "Moderator")
    console_log_in(page, "mina")
    page.goto(f"/admin/ugc/ugcitem/{item.pk}/change/")
    page.get_by_role("button", name="Claim for review").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Claimed 1: #{item.pk}")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text(f"Approved 1: #{item.pk}")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Published 1: #{item.pk}")

    creator_page.reload()
    expect(creator_page.locator(".status")).to_have_text("Published")
    creator_page.get_by_role("link", name="Content", exact=True).click()
    expect(creator_page.locator(".content-row .status")).to_have_text("Published")
    assert creator_page.js_errors == [] and creator_page.csp_errors == []


def test_an_order_credited_to_the_creator_shows_in_earnings_with_why(creator_page, merchant_roles):
    program, group = program_with(name="Glow Program", slug="glow")
    product = ProductFactory(title="Glow Serum")
    maya = creator_account(group, email="maya@example.com", name="Maya", handle="maya")
    DiscountCode.objects.create(code="MAYA10", creator=maya, program=program)
    visit = click(link_for(maya, product))
    order = paid_order(
        product=product, price="59.00", codes=["MAYA10"], click_id=str(visit.click_id)
    )
    attribution_decide(order_id=order.pk)  # posts the commission through sales.commissions

    portal_log_in(creator_page, "maya@example.com")
    creator_page.get_by_role("link", name="Earnings", exact=True).click()
    earning = creator_page.locator(".earning").first
    expect(earning).to_contain_text("Glow Serum")
    expect(earning.locator(".amount")).to_have_text("$5.90")
    expect(earning.locator(".why")).to_have_text("Your code MAYA10 was used.")
    expect(earning.locator(".hold")).to_contain_text("Held until")
    expect(creator_page.locator("table.balances")).to_contain_text("$5.90")
    assert creator_page.js_errors == [] and creator_page.csp_errors == []
