"""Connecting Shopify from the console in a real browser: the OAuth flow against the local
Shopify, the import it starts, then a webhook Shopify sends to the shop."""

import re

import pytest
from playwright.sync_api import expect

from catalog.models import Product, Variant
from integrations.models import Connection, ExternalProduct
from tests.core.test_admin_browser import log_in, staff_user
from tests.integrations.helpers import SHOP

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_connects_shopify_through_oauth_and_its_products_come_in(
    page, live_server, merchant_roles, shopify_server, settings
):
    settings.PUBLIC_BASE_URL = live_server.url  # the redirect URI and the webhooks' address
    shopify_server.add_product(
        SHOP,
        title="Harbour Beanie",
        vendor="Northwind",
        variants=[{"sku": "HB-1", "price": "24.00", "levels": {"1001": 9}}],
    )
    staff_user("olivia", "Owner")
    log_in(page, "olivia")

    page.goto("/admin/integrations/connection/")
    page.get_by_role("link", name=re.compile("Add connection")).click()
    expect(page.locator("h1 .page-title")).to_have_text("Connect a platform")
    shopify = page.locator('section[data-platform="shopify"]')
    expect(shopify).to_contain_text("/integrations/oauth/shopify/callback")
    shopify.locator("#id_shop").fill("acme")
    shopify.get_by_role("button", name="Connect Shopify").click()

    # Shopify's consent page (the local server), then back to the console.
    expect(page.locator("h1")).to_contain_text("Install this app on Acme Outfitters?")
    page.get_by_role("link", name="Install app").click()
    expect(page.locator(".messagelist")).to_contain_text("Connected Shopify: Acme Outfitters.")
    expect(page.locator("#scopes")).to_contain_text("read_products")
    expect(page.locator("#scopes")).to_contain_text("read_inventory")
    expect(page.locator("#connection-facts")).to_contain_text("Connected")

    connection = Connection.objects.get()
    assert (connection.status, connection.account_id) == ("active", SHOP)
    # The import ran after the connection was stored, and the webhooks point at this shop.
    beanie = Variant.objects.get(sku="HB-1")
    assert (beanie.price, beanie.stock_on_hand) == (24, 9)
    assert {url for _, url in shopify_server.subscriptions(SHOP)} == {
        f"{live_server.url}/webhooks/shopify/catalog"
    }
    page.reload()
    expect(page.locator("#recent-runs")).to_contain_text("Full import")

    # Shopify tells the shop about a new price; the signed webhook is applied.
    product_id = int(ExternalProduct.objects.get().external_id)
    shopify_server.update_product(SHOP, product_id, variants=[{"price": "19.00"}])
    payload = shopify_server.rest_product(SHOP, product_id)
    assert shopify_server.deliver(SHOP, "products/update", payload) == [200]
    assert Variant.objects.get(sku="HB-1").price == 19
    page.goto(f"/admin/catalog/product/{Product.objects.get().pk}/change/")
    # The console shows USD with its own two digits.
    expect(page.locator("#id_variants-0-price")).to_have_value("19.00")
    assert page.js_errors == []
