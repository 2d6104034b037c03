"""The merchant console at a laptop's size (1440×900, the navigation open), in Chromium.

Every list each role reaches is opened with rows in it, and no column may leave the list's
box or the screen; the product page's variant rows must fit; the link form's variant list
shows only the chosen product's variants. Measured from the elements' boxes, not by eye.
"""

import io
import re

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect
from rest_framework.authtoken.models import Token

from catalog.models import Product, Variant
from links import services as link_services
from previews.models import LinkPreview
from sales import services as sales_services
from tests.sales.adapters import ADAPTERS
from tests.sales.factories import SalesChannelFactory
from ugc import services as ugc_services
from ugc.models import UGCItem, UGCMetricDaily

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password-42"
LAPTOP = {"width": 1440, "height": 900}
ROLES = ["Owner", "Catalog manager", "Moderator", "Finance"]
WITH_ROWS = {
    f"/admin/{name}/" for name in [
        "auth/group", "auth/user", "authtoken/tokenproxy", "catalog/product", "catalog/variant",
        "creators/creator", "previews/linkpreview", "links/shortlink", "links/alloweddomain",
        "links/alloweddomainchange", "links/campaign", "ugc/ugcitem", "ugc/rejectionreason",
        "ugc/blocklistentry", "ugc/moderationevent", "ugc/ugcmetricdaily", "ugc/ugccollection",
        "sales/saleschannel", "sales/webhookdelivery", "sales/order", "sales/unmappedline",
        "sales/reservation",
    ]
}  # fmt: skip

# Every cell of the list, its box against the list's own box (the element that scrolls it
# sideways: Unfold's results box) and the screen.
OVERFLOW_JS = """() => {
  const table = document.querySelector('#changelist-form #result_list');
  if (!table) return null;
  let box = table.parentElement;
  while (box && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) {
    box = box.parentElement;
  }
  if (!box) box = table.parentElement;
  const limit = box.getBoundingClientRect();
  const right = Math.min(limit.right, window.innerWidth) + 1;
  const outside = [];
  for (const cell of table.querySelectorAll('thead th, tbody td, tbody th')) {
    const r = cell.getBoundingClientRect();
    if (r.right > right || r.left < limit.left - 1) {
      const name = [...cell.classList].find(c => c.startsWith('column-') || c.startsWith('field-'))
        || cell.textContent.trim().slice(0, 30);
      if (!outside.includes(name)) outside.push(name);
    }
  }
  return {rows: table.querySelectorAll('tbody tr').length, outside,
          scroll: box.scrollWidth - box.clientWidth,
          page: document.documentElement.scrollWidth - window.innerWidth};
}"""


def shop_with_rows_in_every_list(monkeypatch):
    """What a merchant's console holds after a while: the demo shop (images only, for speed),
    plus previews, an allowed domain and its audit, orders with an unmapped line and a refund,
    a reservation, feed metrics and an API token."""
    monkeypatch.setattr("demo.ugc.can_make_video", lambda: False)
    call_command("seed_demo", "--allow-production", stdout=io.StringIO())
    admin = User.objects.get(username="admin")
    Token.objects.create(user=admin)
    link_services.allowed_domain_create(
        domain="partner-shop.example.com", include_subdomains=True, ports="8443",
        note="Our wholesale partner's storefront, for creator links", actor=admin,
    )  # fmt: skip
    LinkPreview.objects.create(
        url="https://partner-shop.example.com/collections/spring/products/linen-shirt-sand"
        "?variant=4471&utm_source=newsletter",
        title="Linen Shirt in Sand, relaxed fit, garment-dyed European flax",
        site_name="Partner Shop", status=LinkPreview.Status.OK, http_status=200,
        price="89.00", currency="EUR", fetched_at=timezone.now(),
    )  # fmt: skip
    LinkPreview.objects.create(
        url="https://partner-shop.example.com/pages/a-page-that-went-away-long-ago",
        status=LinkPreview.Status.FAILED, http_status=404,
        error="The server answered with HTTP status 404. Gave up after 3 attempts.",
    )  # fmt: skip
    channel = SalesChannelFactory(name="Northloop Shopify store")
    adapter, client = ADAPTERS["shopify"](), Client()
    sku = Variant.objects.order_by("pk").first().sku
    for n, line_sku in enumerate([sku, sku, "UNKNOWN-SKU-FROM-SHOPIFY"]):
        delivery = adapter.order(channel, str(5100 + n), sku=line_sku, price="59.00")
        assert delivery.post(client, channel).status_code == 200
    assert adapter.refund(channel, "5100", "9100", sku=sku).post(client, channel).status_code == 200
    variant = Variant.objects.filter(stock_on_hand__gt=5).order_by("pk").last()
    sales_services.reservation_create(variant_id=variant.pk, quantity=2, key="checkout-key-1")
    for item in UGCItem.objects.filter(status=UGCItem.Status.PUBLISHED)[:3]:
        UGCMetricDaily.objects.create(day=timezone.now().date(), item=item, impressions=1204,
                                      clicks=87, add_to_carts=12, purchases=3)  # fmt: skip
    # A moderator at work: an item under review (its claimer shows in the queue).
    queued = UGCItem.objects.filter(status=UGCItem.Status.QUEUED).order_by("pk").first()
    ugc_services.ugc_claim(item_id=queued.pk, moderator=User.objects.get(username="demo-moderator"))


def log_in(page, username):
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def lists_on_the_index(page) -> list[str]:
    """The pages the console's sidebar offers this user (Unfold's task-ordered navigation:
    tests/core/test_sidebar.py checks it offers every list the role may open), less the
    home, which is where the user is."""
    expect(page.locator("#nav-sidebar-apps a").first).to_be_attached()  # the page has loaded
    hrefs = page.locator("#nav-sidebar-apps a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return sorted(set(hrefs) - {"/admin/"})


def test_no_list_a_role_reaches_leaves_a_laptops_screen(
    browser, live_server, merchant_roles, monkeypatch
):
    shop_with_rows_in_every_list(monkeypatch)
    problems, seen = [], set()
    for role in ROLES:
        user = User.objects.create_user(f"staff-{role.lower().replace(' ', '-')}",
                                        password=PASSWORD, is_staff=True)  # fmt: skip
        user.groups.add(Group.objects.get(name=role))
        context = browser.new_context(viewport=LAPTOP, base_url=live_server.url)
        page = context.new_page()
        log_in(page, user.username)
        urls = lists_on_the_index(page)
        assert urls, f"{role} reaches no list"
        for url in urls:
            page.goto(url)
            found = page.evaluate(OVERFLOW_JS)
            if found is None:  # an empty list shows no table; its page must still fit
                found = {
                    "rows": 0,
                    "outside": [],
                    "scroll": 0,
                    "page": page.evaluate("document.documentElement.scrollWidth - 1440"),
                }
            if found["rows"]:
                seen.add(url)
            if found["outside"] or found["scroll"] > 1 or found["page"] > 0:
                problems.append(f"{role} {url}: {found}")
        context.close()
    assert problems == [], "\n".join(problems)
    # Each of these lists was measured with rows in it, by at least one role.
    assert WITH_ROWS <= seen, sorted(WITH_ROWS - seen)


def test_the_queue_reads_captions_as_lines_and_shows_the_claimer_and_the_time(
    page, merchant_roles, monkeypatch
):
    shop_with_rows_in_every_list(monkeypatch)
    user = User.objects.create_user("mod", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Moderator"))
    page.set_viewport_size(LAPTOP)
    log_in(page, "mod")
    page.goto("/admin/ugc/ugcitem/")
    viewport_right = LAPTOP["width"]
    for column in ("column-claimed_by", "column-created"):
        box = page.locator(f"#result_list thead th.{column}").bounding_box()
        assert box["x"] + box["width"] <= viewport_right, column
    expect(page.locator("#result_list thead th.column-claimed_by")).to_be_visible()
    claimer = page.locator("#result_list tbody td.field-claimed_by", has_text="demo-moderator")
    expect(claimer).to_have_count(1)
    # A caption's column is wide enough for words to share a line.
    widths = page.locator("#result_list tbody td.field-caption_excerpt").evaluate_all(
        "cells => cells.map(c => c.getBoundingClientRect().width)"
    )
    assert widths and min(widths) >= 140, widths
    lines = page.locator("#result_list tbody td.field-caption_excerpt").first.evaluate(
        "c => { const s = c.querySelector('.ugc-caption'); const h = parseFloat("
        "getComputedStyle(s).lineHeight) || 16; return Math.round(s.getBoundingClientRect()"
        ".height / h); }"
    )
    words = len(page.locator("#result_list tbody td.field-caption_excerpt").first.inner_text()
                .split())  # fmt: skip
    assert lines < words / 2, (lines, words)
    assert page.js_errors == []


def test_the_product_page_variant_rows_fit_and_read_prices_in_the_currency(page, merchant_roles):
    call_command("seed_demo", "--allow-production", "--skip-ugc", stdout=io.StringIO())
    user = User.objects.create_user("cat", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    product = Product.objects.get(title="Cloud Knit Hoodie")
    page.set_viewport_size(LAPTOP)
    log_in(page, "cat")
    page.goto(f"/admin/catalog/product/{product.pk}/change/")
    fit = page.locator("#variants-group").evaluate(
        "g => { const t = g.querySelector('table'); const r = t.getBoundingClientRect();"
        " return {table: t.scrollWidth, box: g.clientWidth, right: r.right,"
        " page: document.documentElement.scrollWidth}; }"
    )
    assert fit["table"] <= fit["box"] + 1, fit
    assert fit["right"] <= LAPTOP["width"] and fit["page"] <= LAPTOP["width"], fit
    expect(page.locator("input[name=variants-0-price]")).to_have_value("59.00")
    expect(page.locator("#variants-group td.field-held").first).to_contain_text("0 reserved")
    assert page.js_errors == []


def test_the_link_forms_variant_list_shows_only_the_chosen_products_variants(page, merchant_roles):
    call_command("seed_demo", "--allow-production", "--skip-ugc", stdout=io.StringIO())
    user = User.objects.create_user("cat", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    page.set_viewport_size(LAPTOP)
    log_in(page, "cat")
    page.goto("/admin/links/shortlink/add/")

    def variant_choices():
        """Open the variant list; what the server answered, as the list shows it."""
        with page.expect_response(
            lambda r: "/admin/autocomplete/" in r.url and "field_name=variant" in r.url
        ) as answer:
            page.locator("select[name=variant] + .select2 .select2-selection").click()
        expected = len(answer.value.json()["results"])
        options = page.locator(".select2-results__option:not(.loading-results)")
        expect(options).to_have_count(expected)
        texts = options.all_text_contents()
        page.keyboard.press("Escape")
        return sorted(texts)

    assert len(variant_choices()) == Variant.objects.count()  # no product yet: every variant
    page.locator("select[name=product] + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill("Cloud")
    page.locator(".select2-results__option", has_text="Cloud Knit Hoodie").click()
    hoodie = Product.objects.get(title="Cloud Knit Hoodie")
    expected = sorted(str(v) for v in hoodie.variants.order_by("pk"))
    assert variant_choices() == expected
    page.locator("select[name=variant] + .select2 .select2-selection").click()
    page.locator(".select2-results__option", has_text=expected[1].split(" ")[0]).click()
    # Another product: the variant chosen for the hoodie goes, and the list follows.
    page.locator("select[name=product] + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill("Trail")
    page.locator(".select2-results__option", has_text="Trail Runner 2").click()
    expect(page.locator("select[name=variant]")).to_have_value("")
    runner = Product.objects.get(title="Trail Runner 2")
    assert variant_choices() == sorted(str(v) for v in runner.variants.order_by("pk"))
    assert page.js_errors == []
