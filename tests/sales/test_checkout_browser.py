"""The test-mode checkout in a real browser: product page → Buy → the "Test mode" payment page
→ Pay → the gateway sends a signed Stripe event to the real webhook → the order is in the
console, paid, with its stock committed."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from catalog.models import Variant
from sales.models import Order, Reservation
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.core.test_admin_browser import log_in, staff_user
from tests.sales.factories import SalesChannelFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_buy_pay_in_test_mode_and_find_the_order_in_the_console(
    page, live_server, settings, merchant_roles
):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.CHECKOUT_TEST_MODE = True
    settings.CHECKOUT_TEST_MODE_WITHOUT_DEBUG = True  # the test server runs with DEBUG off
    product = ProductFactory(title="Cloud Knit Hoodie", slug="cloud-knit-hoodie")
    VariantFactory(product=product, sku="HOOD-S", price=Decimal("59.00"), stock_on_hand=0,
                   attributes={"size": "S"})  # fmt: skip
    medium = VariantFactory(product=product, sku="HOOD-M", price=Decimal("59.00"),
                            stock_on_hand=5, attributes={"size": "M"})  # fmt: skip
    SalesChannelFactory(provider="stripe", name="Shop checkout", checkout=True)
    staff_user("fin", "Finance")

    page.goto("/products/cloud-knit-hoodie/?slclid=clk-browser-1")
    form = page.locator("form.buy-form")
    expect(form.locator('option[data-sku="HOOD-S"]')).to_be_disabled()  # sold out
    form.locator("select[name=variant]").select_option(str(medium.pk))
    form.locator("input[name=quantity]").fill("2")
    form.get_by_role("button", name="Buy").click()

    expect(page).to_have_url(re.compile(r"/checkout/test/[^/]+/$"))
    expect(page.locator(".test-mode-banner")).to_contain_text("Test mode")
    expect(page.locator(".amount")).to_contain_text("$118.00")
    assert Variant.objects.get(pk=medium.pk).stock_reserved == 2
    page.fill("input[name=email]", "shopper@example.com")
    page.fill("input[name=country]", "FR")
    page.get_by_role("button", name="Pay (test mode)").click()

    expect(page).to_have_url(re.compile(r"/checkout/done/\?session_id=cs_test_"))
    expect(page.locator(".checkout-done")).to_contain_text("confirmed")
    order = Order.objects.get()
    assert (order.status, order.total, order.click_id) == ("paid", Decimal("118.00"),
                                                           "clk-browser-1")  # fmt: skip
    assert order.reservation == Reservation.objects.get(status="committed")
    medium.refresh_from_db()
    assert (medium.stock_reserved, medium.stock_committed) == (0, 2)

    log_in(page, "fin")
    page.goto("/admin/sales/order/")
    row = page.locator("#result_list tbody tr").first
    expect(row).to_contain_text("Shop checkout")
    expect(row).to_contain_text("Paid")
    expect(row).to_contain_text("$118.00")
    row.locator("a").first.click()
    expect(page.locator("[data-inline-type]").first).to_contain_text("HOOD-M")
    expect(page.locator("body")).to_contain_text("checkout.session.completed")
    assert page.js_errors == []
