"""The console's sidebar in Chromium, at 1440×900 and 1280×720, light and dark: it shows the
role's task groups and pages (the same as config.console.sidebar_for), fits the screen, its
last page can be scrolled to, a click opens the page and marks it, and its text reads
(contrast measured on a screenshot)."""

import io
import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import RequestFactory
from PIL import Image
from playwright.sync_api import expect

from config.console import sidebar_for
from tests.analytics.test_dashboard_browser import contrast

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password-42"
SIZES = [{"width": 1440, "height": 900}, {"width": 1280, "height": 720}]


def expected_for(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return sidebar_for(request)


def text_contrast(page, locator) -> float:
    """The contrast of the glyphs against their background, from a screenshot of the box."""
    shot = Image.open(io.BytesIO(page.screenshot(clip=locator.bounding_box()))).convert("RGB")
    colours = shot.getcolors(shot.width * shot.height)
    background = max(colours)[1]
    text = max(colours, key=lambda c: contrast(c[1], background))[1]
    return contrast(text, background)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s['width']}x{s['height']}")
def test_the_sidebar_shows_the_roles_tasks_fits_and_reads(browser, live_server, merchant_roles,
                                                          size, scheme):  # fmt: skip
    user = User.objects.create_user("finance", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))
    expected = expected_for(User.objects.get(pk=user.pk))
    context = browser.new_context(
        base_url=live_server.url, viewport=size, color_scheme=scheme, device_scale_factor=2
    )
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto("/admin/login/")
        page.fill("#id_username", "finance")
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/admin/$"))
        sidebar = page.locator("#nav-sidebar")
        expect(sidebar).to_be_visible()
        assert page.evaluate("document.documentElement.classList.contains('dark')") == (
            scheme == "dark"
        )

        headings = page.locator("#nav-sidebar-apps h2:visible")
        expect(headings).to_have_text([group["title"] for group in expected])
        links = page.locator("#nav-sidebar-apps ol a:visible").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        assert links == [item["link"] for group in expected for item in group["items"]]
        assert [g["title"] for g in expected] == ["Sell", "Content", "Creators", "Money",
                                                  "Catalog", "Settings"]  # fmt: skip

        # Nothing off-screen: the sidebar inside the window, no sideways scroll.
        box = sidebar.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], box
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") == 0
        last = page.locator("#nav-sidebar-apps ol a:visible").last
        last.scroll_into_view_if_needed()
        expect(last).to_be_in_viewport()

        # A page from the Money group: opened, and marked where you are.
        item = page.locator("#nav-sidebar-apps ol a", has_text="Payout runs")
        item.scroll_into_view_if_needed()
        ratio = text_contrast(page, item)
        assert ratio >= 4.5, (scheme, ratio)
        item.click()
        expect(page).to_have_url(re.compile(r"/admin/sales/payoutrun/$"))
        active = page.locator("#nav-sidebar-apps ol a.active")
        expect(active).to_have_count(1)
        expect(active).to_have_attribute("href", "/admin/sales/payoutrun/")
        ratio = text_contrast(page, page.locator("#nav-sidebar-apps h2", has_text="Money"))
        assert ratio >= 4.5, (scheme, ratio)
        assert errors == []
    finally:
        context.close()
