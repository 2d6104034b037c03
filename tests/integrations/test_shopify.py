"""Shopify -> catalog: the full import (bulk operation), webhooks verified and stored once,
field ownership per connection, inventory per location, pasted custom-app tokens."""

import json
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.db import connection as db
from django.urls import reverse

from catalog.models import Product, Variant
from core.errors import ApplicationError
from integrations import inbound, services, sync
from integrations.models import (
    Connection,
    ExternalProduct,
    ExternalVariant,
    FieldRule,
    WebhookDelivery,
)
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.integrations.helpers import SHOP, connect

pytestmark = pytest.mark.django_db

WEBHOOK = "/webhooks/shopify/catalog"


@pytest.fixture
def shop(owner_client, shopify_server, django_capture_on_commit_callbacks):
    """A connected shop with two products, imported."""
    shopify_server.add_product(
        SHOP,
        title="Trail Jacket",
        vendor="Northwind",
        body_html="<p>Waterproof.</p>",
        options=["Size"],
        images=["https://cdn.shopify.com/s/files/jacket.jpg"],
        variants=[
            {
                "sku": "TJ-S",
                "price": "99.00",
                "compare_at_price": "120.00",
                "barcode": "4006381333931",
                "options": {"Size": "S"},
                "levels": {"1001": 3, "1002": 4},
            },
            {"sku": "TJ-M", "price": "99.00", "options": {"Size": "M"}, "levels": {"1001": 0}},
        ],
    )
    shopify_server.add_product(SHOP, title="Cap", variants=[{"sku": "CAP-1", "price": "12.00"}])
    with django_capture_on_commit_callbacks(execute=True):
        connection = connect(owner_client, "shopify", shop=SHOP)
    return connection


@pytest.fixture(autouse=True)
def _webhook_poster(client, django_capture_on_commit_callbacks):
    """Shopify posts to PUBLIC_BASE_URL; here its signed requests go through the test client,
    and the job each one queues runs when the request's transaction commits."""
    global _post

    def post(url, body, headers):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                urlsplit(url).path, body, content_type="application/json", headers=headers
            )
        return response.status_code

    _post = post
    yield


_post = None


def deliver(server, topic, payload, **kwargs):
    return [
        _post(url, body, headers)
        for url, body, headers in server.webhook_requests(SHOP, topic, payload, **kwargs)
    ]


def test_the_full_import_brings_products_variants_stock_and_images(shop, shopify_server):
    jacket = Product.objects.get(title="Trail Jacket")
    assert (jacket.brand, jacket.description, jacket.active) == (
        "Northwind",
        "<p>Waterproof.</p>",
        True,
    )
    small = Variant.objects.get(sku="TJ-S")
    assert small.product == jacket
    assert (small.price, small.compare_at_price, small.gtin) == (
        Decimal("99.00"),
        Decimal("120.00"),
        "4006381333931",
    )
    assert small.stock_on_hand == 7  # 3 + 4 over two locations
    assert small.attributes == {"Size": "S"}
    assert Variant.objects.get(sku="TJ-M").stock_on_hand == 0
    mapping = ExternalProduct.objects.get(product=jacket)
    assert mapping.image_urls == ["https://cdn.shopify.com/s/files/jacket.jpg"]
    levels = ExternalVariant.objects.get(variant=small).levels
    assert {k: v["available"] for k, v in levels.items()} == {"1001": 3, "1002": 4}
    run = shop.runs.get()
    assert run.counts["created"] == 2 and run.counts["products"] == 2
    assert run.status == "done"


def test_a_second_import_changes_nothing_and_matches_by_id(shop):
    before = set(Variant.objects.values_list("pk", "updated_at"))
    run = sync.shopify_import_run(connection_id=shop.pk)
    assert run.counts["unchanged"] == 2 and run.counts["created"] == 0
    assert set(Variant.objects.values_list("pk", "updated_at")) == before
    assert Product.objects.count() == 2


def test_products_are_matched_by_sku_before_being_created(owner_client, shopify_server):
    existing = ProductFactory(title="Cap (ours)")
    VariantFactory(product=existing, sku="CAP-1", price=Decimal("11.00"))
    shopify_server.add_product(SHOP, title="Cap", variants=[{"sku": "CAP-1", "price": "12.00"}])
    connection = connect(owner_client, "shopify", shop=SHOP)
    sync.shopify_import_run(connection_id=connection.pk)
    assert Product.objects.count() == 1
    assert ExternalProduct.objects.get(connection=connection).product == existing
    assert Variant.objects.get(sku="CAP-1").price == Decimal("12.00")


def test_invalid_shopify_values_are_recorded_not_imported(owner_client, shopify_server):
    shopify_server.add_product(
        SHOP,
        title="Odd",
        variants=[
            {"sku": "has space", "price": "5.00", "barcode": "123", "compare_at_price": "4.00"}
        ],
    )
    connection = connect(owner_client, "shopify", shop=SHOP)
    sync.shopify_import_run(connection_id=connection.pk)
    variant = Variant.objects.get()
    assert variant.sku.startswith("shopify-")
    assert variant.gtin == "" and variant.compare_at_price is None
    conflicts = ExternalProduct.objects.get().conflicts
    notes = " ".join(c.get("note", "") for c in conflicts.values())
    assert "'has space' is not a valid Shoploop SKU" in notes
    assert "'123' is not a valid GTIN" in notes


def test_webhooks_are_verified_by_hmac_and_stored_once(shop, shopify_server, client):
    product_id = next(iter(shopify_server.shops[SHOP].products))
    shopify_server.update_product(SHOP, product_id, title="Trail Jacket 2")
    payload = shopify_server.rest_product(SHOP, product_id)
    body = json.dumps(payload).encode()
    # A forged webhook (wrong secret) is refused before anything is stored.
    bad = client.post(
        WEBHOOK,
        body,
        content_type="application/json",
        headers={
            "X-Shopify-Topic": "products/update",
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": "w-1",
            "X-Shopify-Hmac-Sha256": "AAAA",
        },
    )
    assert bad.status_code == 401
    assert not WebhookDelivery.objects.exists()
    assert deliver(shopify_server, "products/update", payload, webhook_id="w-1") == [200]
    assert deliver(shopify_server, "products/update", payload, webhook_id="w-1") == [200]  # again
    assert WebhookDelivery.objects.count() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "applied"  # the job ran (eagerly) after the commit
    assert Product.objects.filter(title="Trail Jacket 2").exists()
    # An unknown shop and a missing id are refused.
    assert (
        client.post(
            WEBHOOK,
            body,
            content_type="application/json",
            headers={"X-Shopify-Shop-Domain": "nope.myshopify.com"},
        ).status_code
        == 404
    )


def test_a_webhook_older_than_the_applied_update_is_ignored(shop, shopify_server):
    product_id = next(iter(shopify_server.shops[SHOP].products))
    newer = shopify_server.rest_product(SHOP, product_id)
    newer.update(title="Newer", updated_at="2099-01-01T00:00:00+00:00")
    older = {**newer, "title": "Older", "updated_at": "2098-01-01T00:00:00+00:00"}
    deliver(shopify_server, "products/update", newer)
    deliver(shopify_server, "products/update", older)
    assert Product.objects.filter(title="Newer").exists()
    assert not Product.objects.filter(title="Older").exists()


def test_field_rules_keep_what_shoploop_owns_and_record_both_sides(shop, shopify_server):
    services.connection_set_field_rules(
        connection_id=shop.pk, owners={"title": "shoploop", "price": "shoploop"}
    )
    jacket = Product.objects.get(title="Trail Jacket")
    product_id = int(ExternalProduct.objects.get(product=jacket).external_id)
    shopify_server.update_product(
        SHOP,
        product_id,
        title="Shopify title",
        vendor="Southwind",
        variants=[{"price": "79.00"}],
    )
    deliver(shopify_server, "products/update", shopify_server.rest_product(SHOP, product_id))
    jacket.refresh_from_db()
    assert jacket.title == "Trail Jacket"  # Shoploop owns it
    assert jacket.brand == "Southwind"  # Shopify owns it
    assert Variant.objects.get(sku="TJ-S").price == Decimal("99.00")
    conflicts = ExternalProduct.objects.get(product=jacket).conflicts
    assert conflicts["title"]["kept"] == "Trail Jacket"
    assert conflicts["title"]["shopify"] == "Shopify title"
    price_key = next(k for k in conflicts if k.endswith(".price"))
    assert conflicts[price_key]["shopify"] == "79.00"


def test_a_local_edit_overwritten_by_shopify_is_recorded(shop, shopify_server):
    jacket = Product.objects.get(title="Trail Jacket")
    jacket.brand = "Edited here"
    jacket.save()
    product_id = int(ExternalProduct.objects.get(product=jacket).external_id)
    shopify_server.update_product(SHOP, product_id, vendor="Shopify vendor")
    deliver(shopify_server, "products/update", shopify_server.rest_product(SHOP, product_id))
    jacket.refresh_from_db()
    assert jacket.brand == "Shopify vendor"
    conflict = ExternalProduct.objects.get(product=jacket).conflicts["brand"]
    assert (conflict["overwritten"], conflict["shopify"]) == ("Edited here", "Shopify vendor")
    # The console shows it on the connection's page.
    page = Client_for(shop).get(reverse("admin:integrations_connection_change", args=[shop.pk]))
    assert "overwrote your “Edited here” with Shopify's “Shopify vendor”" in page.content.decode()


def Client_for(connection):  # noqa: N802 - a tiny helper
    from django.test import Client

    client = Client()
    client.force_login(connection.created_by)
    return client


def test_products_delete_takes_the_product_off_sale(shop, shopify_server):
    jacket = Product.objects.get(title="Trail Jacket")
    external_id = ExternalProduct.objects.get(product=jacket).external_id
    deliver(shopify_server, "products/delete", {"id": int(external_id)})
    jacket.refresh_from_db()
    assert jacket.active is False
    assert ExternalProduct.objects.get(product=jacket).deleted_at is not None


def test_a_full_import_takes_off_sale_what_shopify_no_longer_has(shop, shopify_server):
    cap = ExternalProduct.objects.get(product__title="Cap")
    del shopify_server.shops[SHOP].products[int(cap.external_id)]
    run = sync.shopify_import_run(connection_id=shop.pk)
    assert run.counts["removed"] == 1
    assert Product.objects.get(title="Cap").active is False


def test_inventory_levels_update_changes_one_location(shop, shopify_server):
    small = Variant.objects.get(sku="TJ-S")
    item_id = int(ExternalVariant.objects.get(variant=small).inventory_item_id)
    payload = shopify_server.set_level(SHOP, item_id, "1002", 10)
    deliver(shopify_server, "inventory_levels/update", payload)
    small.refresh_from_db()
    assert small.stock_on_hand == 13  # 3 at 1001, 10 at 1002
    # An older level for that location is ignored.
    deliver(
        shopify_server,
        "inventory_levels/update",
        {**payload, "available": 1, "updated_at": "2000-01-01T00:00:00+00:00"},
    )
    small.refresh_from_db()
    assert small.stock_on_hand == 13


def test_unknown_levels_are_fetched_once_from_shopify(shop, shopify_server):
    small = Variant.objects.get(sku="TJ-S")
    mapping = ExternalVariant.objects.get(variant=small)
    ExternalVariant.objects.filter(pk=mapping.pk).update(levels=None)  # first seen by a webhook
    calls = len(shopify_server.requests_to("graphql"))
    payload = shopify_server.set_level(SHOP, int(mapping.inventory_item_id), "1001", 1)
    deliver(shopify_server, "inventory_levels/update", payload)
    small.refresh_from_db()
    assert small.stock_on_hand == 5  # 1 at 1001 and the 4 at 1002 fetched from Shopify
    assert len(shopify_server.requests_to("graphql")) == calls + 1


def test_stock_owned_by_shoploop_is_not_overwritten(shop, shopify_server):
    services.connection_set_field_rules(connection_id=shop.pk, owners={"stock": "shoploop"})
    small = Variant.objects.get(sku="TJ-S")
    item_id = int(ExternalVariant.objects.get(variant=small).inventory_item_id)
    deliver(
        shopify_server,
        "inventory_levels/update",
        shopify_server.set_level(SHOP, item_id, "1001", 50),
    )
    small.refresh_from_db()
    assert small.stock_on_hand == 7


def test_pasting_a_custom_app_token_connects_after_checking_it(
    owner_client, shopify_server, django_capture_on_commit_callbacks
):
    shopify_server.add_custom_app(SHOP, token="shpat_good", secret="custom-secret")
    url = reverse("admin:integrations_connection_paste")
    page = owner_client.post(url, {"shop": SHOP, "access_token": "shpat_bad", "app_secret": "x"})
    assert "Shopify refused this access token." in page.content.decode()
    assert not Connection.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            url, {"shop": "acme", "access_token": "shpat_good", "app_secret": "custom-secret"}
        )
    assert response.status_code == 302
    connection = Connection.objects.get()
    assert (connection.auth_method, connection.account_id) == ("pasted_token", SHOP)
    assert connection.app_secret == "custom-secret"
    with db.cursor() as cursor:
        cursor.execute("SELECT app_secret FROM integrations_connection")
        assert "custom-secret" not in cursor.fetchone()[0]
    # Its webhooks are signed with the custom app's secret, not the OAuth app's.
    shopify_server.add_product(SHOP, title="Mug", variants=[{"sku": "MUG-1"}])
    product_id = max(shopify_server.shops[SHOP].products)
    statuses = deliver(
        shopify_server, "products/update", shopify_server.rest_product(SHOP, product_id)
    )
    assert statuses == [200]
    assert Variant.objects.filter(sku="MUG-1").exists()


def test_pasted_tokens_need_the_scopes_and_name_each_bad_field(owner_client, shopify_server):
    shopify_server.add_custom_app(SHOP, token="shpat_narrow", secret="s", scopes=["read_products"])
    with pytest.raises(ApplicationError) as exc:
        services.connection_connect_shopify_token(
            shop=SHOP, access_token="shpat_narrow", app_secret="s", actor=None
        )
    assert "read_inventory" in exc.value.message
    with pytest.raises(ApplicationError) as exc:
        services.connection_connect_shopify_token(
            shop="not a shop!", access_token="", app_secret="", actor=None
        )
    assert set(exc.value.fields) == {"shop", "access_token", "app_secret"}
    assert not Connection.objects.exists()


def test_a_throttled_query_waits_and_goes_on(owner_client, shopify_server):
    shopify_server.add_product(SHOP, title="Cap", variants=[{"sku": "CAP-1"}])
    connection = connect(owner_client, "shopify", shop=SHOP)
    shopify_server.bucket_size, shopify_server.restore_rate = 10.0, 40.0  # one query at a time
    run = sync.shopify_import_run(connection_id=connection.pk)
    assert run.status == "done"
    assert run.counts["throttled"] >= 1
    assert Variant.objects.filter(sku="CAP-1").exists()


def test_disconnecting_shopify_deletes_subscriptions_and_revokes(shop, shopify_server):
    assert len(shopify_server.subscriptions(SHOP)) == 4  # the catalog topics, app/uninstalled
    services.connection_disconnect(connection_id=shop.pk)
    assert shopify_server.subscriptions(SHOP) == []
    assert shopify_server.requests_to("api_permissions/current.json", "DELETE")
    shop.refresh_from_db()
    assert (shop.status, shop.access_token) == ("disconnected", "")
    assert "revoked at the platform" in shop.events.order_by("-pk").first().reason


def test_field_rules_accept_only_known_fields_and_owners(shop):
    with pytest.raises(ApplicationError) as exc:
        services.connection_set_field_rules(
            connection_id=shop.pk, owners={"colour": "shopify", "title": "nobody"}
        )
    assert set(exc.value.fields) == {"colour", "title"}
    assert FieldRule.objects.get(connection=shop, field="title").owner == "shopify"


def test_bulk_lines_are_put_together_whatever_their_order():
    lines = [
        {
            "id": "gid://shopify/InventoryLevel/9",
            "location": {"id": "gid://shopify/Location/1"},
            "quantities": [{"name": "available", "quantity": 2}],
            "__parentId": "gid://shopify/InventoryItem/77",
        },
        {
            "id": "gid://shopify/ProductVariant/5",
            "sku": "A",
            "price": "1.00",
            "inventoryItem": {"id": "gid://shopify/InventoryItem/77"},
            "__parentId": "gid://shopify/Product/4",
        },
        {"id": "gid://shopify/Product/4", "title": "T", "status": "DRAFT"},
    ]
    [product] = inbound.products_from_bulk(lines)
    assert (product.external_id, product.active) == ("4", False)
    assert product.variants[0].levels == {"1": {"available": 2, "updated_at": ""}}
