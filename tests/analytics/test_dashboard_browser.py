"""The dashboards in Chromium: the home at 1440×900 and 1280×720 with nothing off-screen, the
range control, a per-link page reached from the home, and the charts' text in dark mode
measured on a screenshot for contrast."""

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from analytics import services
from tests.analytics.helpers import credited_order, refund
from tests.attribution.factories import CreatorFactory, click, link_for, program_with

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password-42"
SIZES = [{"width": 1440, "height": 900}, {"width": 1280, "height": 720}]

# Every element of the dashboard whose box passes the screen's right edge.
OFF_SCREEN_JS = """() => {
  const limit = window.innerWidth + 1;
  const out = [];
  for (const el of document.querySelectorAll('#content-main.dash *')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > limit && !el.closest('details:not([open])'))
      out.push(el.tagName + '.' + el.className + ' ' + (el.textContent || '').trim().slice(0, 30));
  }
  return {out: out.slice(0, 10), page: document.documentElement.scrollWidth - window.innerWidth};
}"""


def shop_with_a_season_of_sales():
    """Three creators, links, clicks from several countries and devices, credited orders in
    two currencies and a refund, folded into the rollups."""
    now = timezone.now()
    handles = ["maya-makes", "leo-lifts", "a-creator-with-a-long-handle"]
    creators = [CreatorFactory(handle=handle) for handle in handles]
    program_with("10", creators=creators)
    for n, creator in enumerate(creators):
        link = link_for(creator)
        for day in range(0, 28, 3):
            click(creator, link=link, at=now - timedelta(days=day, hours=n), country="DE",
                  device_type="mobile", utm_source="tiktok")  # fmt: skip
            click(creator, link=link, at=now - timedelta(days=day), bot=True)
        order = credited_order(creator, link, at=now - timedelta(days=2 + n), total="129.90")
        credited_order(creator, link, at=now - timedelta(days=9 + n), total="19.99")
    refund(order, "29.90", at=now - timedelta(hours=3))
    services.rollups_fold()


def log_in_owner(page):
    user = User.objects.create_user("owner", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Owner"))
    page.goto("/admin/login/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s['width']}x{s['height']}")
def test_the_home_fits_a_laptop_and_its_range_control_works(browser, live_server, merchant_roles,
                                                             size):  # fmt: skip
    shop_with_a_season_of_sales()
    context = browser.new_context(base_url=live_server.url, viewport=size)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        log_in_owner(page)
        expect(page.locator(".dash-kpi")).to_have_count(6)
        expect(page.locator(".dash-chart")).to_have_count(3)
        expect(page.locator("#table-creator tbody tr")).to_have_count(3)
        expect(page.locator("#table-attention")).to_contain_text("Moderation queue")
        found = page.evaluate(OFF_SCREEN_JS)
        assert found == {"out": [], "page": 0}, found
        # The first screen shows the numbers and the charts, not just a header.
        chart_top = page.locator(".dash-chart").first.bounding_box()["y"]
        assert chart_top < size["height"]

        page.get_by_role("link", name="Last 7 days").click()
        expect(page.locator(".dash-range-link.active")).to_have_text("Last 7 days")
        page.get_by_label("From").fill("2026-01-01")
        page.get_by_label("to", exact=True).fill("2025-12-01")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("ul.messagelist li.error")).to_contain_text(
            "The range's start is after its end."
        )
        assert page.evaluate(OFF_SCREEN_JS)["page"] == 0
        assert errors == []
    finally:
        context.close()


def test_the_home_on_a_phone_reads_two_numbers_a_row_and_one_chart_a_row(
    browser, live_server, merchant_roles
):
    """At 390 px three numbers a row broke amounts mid-number (US$2,73|5.98): two a row, one
    chart a row, nothing off-screen."""
    shop_with_a_season_of_sales()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in_owner(page)
        expect(page.locator(".dash-kpi")).to_have_count(6)
        columns = page.locator(".dash-kpi").evaluate_all(
            "kpis => new Set(kpis.map(k => Math.round(k.getBoundingClientRect().left))).size"
        )
        assert columns == 2
        charts = page.locator(".dash-chart").evaluate_all(
            "charts => new Set(charts.map(c => Math.round(c.getBoundingClientRect().left))).size"
        )
        assert charts == 1
        assert page.evaluate(OFF_SCREEN_JS)["page"] == 0
    finally:
        context.close()


def test_a_per_link_page_from_the_home_with_its_chart_and_csv(page, merchant_roles):
    shop_with_a_season_of_sales()
    page.set_viewport_size({"width": 1280, "height": 720})
    log_in_owner(page)
    page.locator("#table-link tbody a").first.click()
    expect(page).to_have_url(re.compile(r"/admin/analytics/link/\d+/"))
    expect(page.locator("h1")).to_contain_text("Link: /p/")
    expect(page.locator(".dash-chart")).to_have_count(3)
    expect(page.locator("#table-days tbody tr")).to_have_count(30)
    with page.expect_download() as download:
        page.locator("#table-days .dash-csv").click()
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()  # noqa: SIM115
    assert lines[0].startswith("day,key,clicks") and len(lines) == 31
    page.get_by_role("link", name=re.compile("^Creator @")).click()
    expect(page.locator("h1")).to_contain_text("Creator: @")
    expect(page.locator("#table-links tbody tr")).to_have_count(1)
    assert page.evaluate(OFF_SCREEN_JS)["page"] == 0
    assert page.js_errors == []


def luminance(rgb) -> float:
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_chart_text_reads_in_dark_mode_and_light_measured_on_a_screenshot(
    browser, live_server, merchant_roles, scheme
):
    shop_with_a_season_of_sales()
    context = browser.new_context(
        base_url=live_server.url, viewport=SIZES[0], color_scheme=scheme, device_scale_factor=2
    )
    page = context.new_page()
    try:
        log_in_owner(page)
        expect(page.locator(".dash-chart-text").first).to_be_visible()
        # Unfold follows the system's scheme: the page's main area is white in light mode,
        # dark in dark mode (Unfold marks it with html.dark).
        is_dark = page.evaluate(
            "() => getComputedStyle(document.querySelector('#main')).backgroundColor"
            " !== 'rgb(255, 255, 255)'"
        )
        assert is_dark == (scheme == "dark")
        assert page.evaluate("document.documentElement.classList.contains('dark')") == is_dark
        label = page.locator(".dash-chart-text").first
        box = label.bounding_box()
        shot = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB")
        colours = shot.getcolors(shot.width * shot.height)
        background = max(colours)[1]  # the commonest colour: the chart's background
        text = max(colours, key=lambda c: contrast(c[1], background))[1]  # the glyphs' cores
        ratio = contrast(text, background)
        assert ratio >= 4.5, (scheme, text, background, ratio)
    finally:
        context.close()
