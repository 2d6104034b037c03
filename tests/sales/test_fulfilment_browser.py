"""Fulfilment in a real browser (issue 19): buy in test mode, follow the confirmation's link
to the order page (nothing shipped), ship the order from the console in two parcels, and see
the tracking (and then the delivery) on the shopper's page."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from sales.fulfilment_models import Fulfilment
from sales.models import Order
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.core.test_admin_browser import log_in, staff_user
from tests.sales.factories import SalesChannelFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_fulfil_in_the_console_and_see_tracking_on_the_shoppers_page(
    page, live_server, settings, merchant_roles
):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.CHECKOUT_TEST_MODE = True
    settings.CHECKOUT_TEST_MODE_WITHOUT_DEBUG = True
    product = ProductFactory(title="Trail Mug", slug="trail-mug")
    VariantFactory(product=product, sku="MUG-1", price=Decimal("12.00"), stock_on_hand=6)
    SalesChannelFactory(provider="stripe", name="Shop checkout", checkout=True)
    staff_user("boss", "Owner")

    page.goto("/products/trail-mug/")
    form = page.locator("form.buy-form")
    form.locator("input[name=quantity]").fill("3")
    form.get_by_role("button", name="Buy").click()
    page.fill("input[name=email]", "shopper@example.com")
    page.get_by_role("button", name="Pay (test mode)").click()
    expect(page.locator(".checkout-done")).to_contain_text("confirmed")
    page.get_by_role("link", name="Follow your order").click()
    expect(page).to_have_url(re.compile(r"/orders/[A-Za-z0-9_-]{40,}/$"))
    shopper_url = page.url
    expect(page.locator(".order-state")).to_have_text("We have your order.")
    expect(page.locator(".no-parcels")).to_be_visible()
    assert "shopper@example.com" not in page.content()
    order = Order.objects.get()

    log_in(page, "boss")
    page.goto(f"/admin/sales/order/{order.pk}/change/")
    page.get_by_role("link", name="Ship a parcel").click()
    page.select_option("select[name=carrier]", "ups")
    page.fill("input[name=tracking_number]", "1Z999AA10123456784")
    line = order.lines.get()
    page.fill(f"input[name=line_{line.pk}]", "2")
    page.get_by_role("button", name="Record the parcel").click()
    expect(page.locator(".messagelist")).to_contain_text("Parcel UPS 1Z999AA10123456784 recorded")
    expect(page.locator("body")).to_contain_text("1 unit(s) to ship")

    page.goto(shopper_url)
    expect(page.locator(".order-state")).to_have_text("Part of your order has shipped.")
    link = page.get_by_role("link", name="Track 1Z999AA10123456784")
    expect(link).to_have_attribute("href", "https://www.ups.com/track?tracknum=1Z999AA10123456784")
    expect(page.locator('tr[data-sku="MUG-1"]')).to_contain_text("2 of 3")

    page.goto(f"/admin/sales/fulfilment/ship/{order.pk}/")
    page.select_option("select[name=carrier]", "usps")
    page.fill("input[name=tracking_number]", "9400111899223197428490")
    page.get_by_role("button", name="Record the parcel").click()
    expect(page.locator(".messagelist")).to_contain_text("recorded")
    page.goto("/admin/sales/fulfilment/")
    page.locator("#result_list tbody tr input[type=checkbox]").first.check()
    page.locator("#result_list tbody tr input[type=checkbox]").nth(1).check()
    page.select_option("select[name=action]", "mark_delivered")
    page.locator(".actions button[name=index]").click()
    expect(page.locator(".messagelist")).to_contain_text("2 parcel(s) delivered")

    page.goto(shopper_url)
    expect(page.locator(".order-state")).to_have_text("Your order was delivered.")
    expect(page.locator(".parcel")).to_have_count(2)
    expect(page.get_by_role("link", name="Track 9400111899223197428490")).to_be_visible()
    order.refresh_from_db()
    assert order.status == "fulfilled" and order.delivered_at is not None
    assert Fulfilment.objects.filter(order=order, status="delivered").count() == 2
    assert page.js_errors == []
