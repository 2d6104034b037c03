"""The console: connections with their status and sync, the connect page, a connection's page
and its buttons, settings with clear errors, listings per product, roles, query budgets."""

import pytest
from django.test import Client
from django.urls import reverse

from integrations import push
from integrations.models import Connection, Listing
from tests.integrations.helpers import SHOP, connect, product, staff

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/integrations/connection/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_the_changelist_shows_status_errors_and_sync_in_fixed_queries(
    owner_client, google_server, django_assert_max_num_queries
):
    google = connect(owner_client, "google")
    product(sku="A-1")
    push.connection_push(connection_id=google.pk)
    Connection.objects.filter(pk=google.pk).update(last_error="Google: quota exceeded")
    page = owner_client.get(CHANGELIST)
    content = page.content.decode()
    assert "Demo Merchant" in content and "Connected" in content
    assert "Google: quota exceeded" in content
    assert "1 in sync · 0 pending · 0 failed" in content
    with django_assert_max_num_queries(12) as small:
        owner_client.get(CHANGELIST)
    for n in range(15):
        Connection.objects.create(
            platform="meta", status="active", account_id=f"88{n}", account_name=f"Catalog {n}"
        )
    with django_assert_max_num_queries(len(small.captured_queries)):
        owner_client.get(CHANGELIST)


def test_the_connect_page_lists_each_platform_with_its_redirect_uri(owner_client, settings):
    settings.META_APP_ID = settings.META_APP_SECRET = ""
    settings.GOOGLE_CLIENT_ID, settings.GOOGLE_CLIENT_SECRET = "id", "secret"
    page = owner_client.get(reverse("admin:integrations_connection_connect")).content.decode()
    assert "https://shop.example.com/integrations/oauth/google/callback" in page
    assert 'data-platform="meta"' in page and "Not configured" in page
    assert "Shopify custom app: paste its token" in page
    # The add button leads there.
    response = owner_client.get("/admin/integrations/connection/add/")
    assert response["Location"] == reverse("admin:integrations_connection_connect")


def test_an_invalid_shop_domain_is_refused_beside_its_field(owner_client, shopify_server):
    url = reverse("admin:integrations_connection_start", args=["shopify"])
    page = owner_client.post(url, {"shop": "not a shop"})
    assert page.status_code == 200
    assert "Enter the shop&#x27;s myshopify.com domain" in page.content.decode()


def test_a_connection_page_shows_scopes_last_call_and_error_but_no_token(
    owner_client, tiktok_server
):
    connection = connect(owner_client, "tiktok_shop")
    Connection.objects.filter(pk=connection.pk).update(last_error="TikTok Shop: busy")
    page = owner_client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
    content = page.content.decode()
    assert "seller.product.write" in content
    assert "TikTok Shop: busy" in content
    assert connection.access_token not in content and connection.refresh_token not in content
    assert "(never shown)" in content
    assert ">Sync now</button>" in content and ">Disconnect</button>" in content


def test_settings_are_validated_with_the_rule_named_and_nothing_saved(owner_client, tiktok_server):
    connection = connect(owner_client, "tiktok_shop")
    operate = reverse("admin:integrations_connection_operate", args=[connection.pk])
    response = owner_client.post(
        operate,
        {
            "operation": "settings",
            "default_category_id": "shoes",
            "package_weight_kg": "-1",
            "warehouse_id": "",
        },
        follow=True,
    )
    text = " ".join(messages_of(response))
    assert "a TikTok Shop category id is digits only" in text
    assert "above 0 and at most 5000" in text
    connection.refresh_from_db()
    assert "default_category_id" not in connection.settings
    owner_client.post(
        operate,
        {
            "operation": "settings",
            "default_category_id": "600001",
            "package_weight_kg": "0.5",
            "warehouse_id": "",
        },
    )
    connection.refresh_from_db()
    assert connection.settings["default_category_id"] == "600001"


def test_sync_now_and_disconnect_from_the_page(owner_client, google_server):
    google = connect(owner_client, "google")
    product(sku="S-1")
    operate = reverse("admin:integrations_connection_operate", args=[google.pk])
    response = owner_client.post(operate, {"operation": "sync"}, follow=True)
    assert "Every product will be checked" in " ".join(messages_of(response))
    listing = Listing.objects.get(connection=google)
    assert listing.dirty and listing.attempts == 0
    response = owner_client.post(operate, {"operation": "disconnect"}, follow=True)
    assert "The grant was revoked at the platform." in " ".join(messages_of(response))
    google.refresh_from_db()
    assert google.status == "disconnected" and google.access_token == ""


def test_catalog_managers_may_sync_but_not_disconnect_and_moderators_see_nothing(
    owner_client, google_server, merchant_roles
):
    google = connect(owner_client, "google")
    operate = reverse("admin:integrations_connection_operate", args=[google.pk])
    manager = Client()
    manager.force_login(staff("Catalog manager", "carl"))
    assert manager.get(CHANGELIST).status_code == 200
    page = manager.get(reverse("admin:integrations_connection_change", args=[google.pk]))
    assert ">Sync now</button>" in page.content.decode()
    assert ">Disconnect</button>" not in page.content.decode()
    assert manager.post(operate, {"operation": "disconnect"}).status_code == 403
    assert manager.post(operate, {"operation": "sync"}).status_code == 302
    moderator = Client()
    moderator.force_login(staff("Moderator", "mina"))
    assert moderator.get(CHANGELIST).status_code == 403


def test_a_products_listings_everywhere_with_the_platforms_messages(
    owner_client, google_server, meta_server
):
    google = connect(owner_client, "google")
    meta = connect(owner_client, "meta")
    item = product(sku="P-1", brand="", gtin="")
    push.connection_push(connection_id=google.pk)
    push.connection_push(connection_id=meta.pk)
    page = owner_client.get(reverse("admin:integrations_listing_product", args=[item.pk]))
    content = page.content.decode()
    assert 'data-platform="google"' in content and 'data-platform="meta"' in content
    assert "A brand is required." in content  # Google's rule
    assert "a brand, GTIN or MPN is required" in content  # Meta's rule
    # And on the catalog's own product page.
    product_page = owner_client.get(f"/admin/catalog/product/{item.pk}/change/").content.decode()
    assert "Listings on platforms" in product_page and "A brand is required." in product_page


def test_the_listing_changelist_filters_problems_in_fixed_queries(
    owner_client, google_server, django_assert_max_num_queries
):
    google = connect(owner_client, "google")
    for n in range(3):
        product(sku=f"F-{n}", image=n != 0)
    push.connection_push(connection_id=google.pk)
    url = "/admin/integrations/listing/?state=problems"
    page = owner_client.get(url).content.decode()
    assert "An image is required." in page
    assert page.count('class="sl-badge sl-state-invalid"') == 1
    with django_assert_max_num_queries(15) as small:
        owner_client.get("/admin/integrations/listing/")
    for n in range(10):
        product(sku=f"G-{n}")
    push.connection_push(connection_id=google.pk)
    with django_assert_max_num_queries(len(small.captured_queries)):
        owner_client.get("/admin/integrations/listing/")


def test_a_listings_category_is_edited_through_the_service(owner_client, google_server):
    google = connect(owner_client, "google")
    item = product(sku="C-1")
    push.connection_push(connection_id=google.pk)
    listing = Listing.objects.get(connection=google, product=item)
    url = reverse("admin:integrations_listing_change", args=[listing.pk])
    owner_client.post(url, {"category": "1604"})
    listing.refresh_from_db()
    assert (listing.category, listing.dirty) == ("1604", True)
    push.connection_push(connection_id=google.pk)
    assert google_server.offers()["C-1"]["productAttributes"]["googleProductCategory"] == "1604"


def test_shopify_field_rules_are_edited_on_the_connection_page(owner_client, shopify_server):
    connection = connect(owner_client, "shopify", shop=SHOP)
    from integrations.models import FieldRule
    from integrations.services import _after_activation  # noqa: F401 - rules made at activation

    FieldRule.objects.bulk_create(
        [FieldRule(connection=connection, field=f) for f in FieldRule.Field.values],
        ignore_conflicts=True,
    )
    operate = reverse("admin:integrations_connection_operate", args=[connection.pk])
    owner_client.post(operate, {"operation": "rules", "title": "shoploop", "price": "shopify"})
    assert FieldRule.objects.get(connection=connection, field="title").owner == "shoploop"
    page = owner_client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
    assert "Which side owns each field" in page.content.decode()
