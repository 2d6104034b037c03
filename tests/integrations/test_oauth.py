"""Connecting from the console: each platform's OAuth flow against its local server, the state
bound to the session, PKCE, tokens encrypted at rest, Shopify's signed callback."""

from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.db import connection as db
from django.test import Client
from django.urls import reverse

from core.crypto import EncryptedTextField, decrypt
from core.management.commands.rotate_encryption_keys import Command as RotateCommand
from integrations.models import Connection, ConnectionEvent, FieldRule, Listing
from tests.integrations.helpers import SHOP, callback, connect, consent, product, staff, start

pytestmark = pytest.mark.django_db


def raw_columns(connection_id: int) -> tuple[str, str]:
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM integrations_connection WHERE id = %s",
            [connection_id],
        )
        return cursor.fetchone()


def test_shopify_connects_through_oauth_and_starts_an_import(
    owner_client, shopify_server, django_capture_on_commit_callbacks
):
    shopify_server.add_product(SHOP, title="Cap", variants=[{"sku": "CAP-1", "price": "12.00"}])
    location = start(owner_client, "shopify", shop="Acme")  # the domain is completed
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{shopify_server.url}/{SHOP}/admin/oauth/authorize?")
    assert query["redirect_uri"] == ["https://shop.example.com/integrations/oauth/shopify/callback"]
    assert query["scope"] == ["read_products,read_inventory"]
    assert "code_challenge" not in query  # Shopify does not support PKCE
    with django_capture_on_commit_callbacks(execute=True):
        response = callback(owner_client, consent(location))
    connection = Connection.objects.get()
    assert response["Location"] == reverse(
        "admin:integrations_connection_change", args=[connection.pk]
    )
    assert (connection.platform, connection.status, connection.account_id) == (
        "shopify",
        "active",
        SHOP,
    )
    assert connection.account_name == "Acme Outfitters"
    assert connection.scopes == ["read_inventory", "read_products"]
    assert connection.created_by == owner_client.user
    # The import and the webhook subscriptions ran (eagerly here) after the commit.
    assert connection.runs.get().status == "done"
    assert {topic for topic, _ in shopify_server.subscriptions(SHOP)} == {
        "PRODUCTS_UPDATE",
        "PRODUCTS_DELETE",
        "INVENTORY_LEVELS_UPDATE",
        "APP_UNINSTALLED",
    }
    assert set(
        FieldRule.objects.filter(connection=connection).values_list("field", flat=True)
    ) == set(FieldRule.Field.values)
    assert ConnectionEvent.objects.filter(connection=connection).count() == 2  # grant, activate


def test_tokens_are_encrypted_at_rest_and_rotated_by_the_command(
    owner_client, tiktok_server, settings
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    connection = connect(owner_client, "tiktok_shop")
    access, refresh = raw_columns(connection.pk)
    assert connection.access_token.startswith("TTP_")
    assert connection.access_token not in access and connection.refresh_token not in refresh
    assert decrypt(access) == connection.access_token
    assert decrypt(refresh) == connection.refresh_token

    # The command rotates every EncryptedTextField of every model: the connection's are among
    # them. (Its columns are rotated one by one here: tests/core/test_crypto.py registers a
    # model whose table exists only during its own test.)
    encrypted = {
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    }
    assert {(Connection, n) for n in ("access_token", "refresh_token", "app_secret")} <= encrypted
    settings.ENCRYPTION_KEYS = [new, old]
    report = {"columns": 0, "rotated": 0, "unreadable": []}
    for name in ("access_token", "refresh_token", "app_secret"):
        RotateCommand()._rotate_column(Connection, Connection._meta.get_field(name), report)
    assert report["unreadable"] == [] and report["rotated"] == 2  # app_secret is empty
    rotated_access, rotated_refresh = raw_columns(connection.pk)
    settings.ENCRYPTION_KEYS = [new]  # the old key is dropped: the tokens still read
    assert Fernet(new.encode()).decrypt(rotated_access.encode()).decode() == connection.access_token
    assert Connection.objects.get().refresh_token == connection.refresh_token


def test_tiktok_shop_grant_covers_one_shop_which_is_connected_at_once(owner_client, tiktok_server):
    location = start(owner_client, "tiktok_shop")
    assert location.startswith(f"{tiktok_server.url}/open/authorize?")
    assert parse_qs(urlsplit(location).query)["service_id"] == [tiktok_server.service_id]
    callback(owner_client, consent(location))
    connection = Connection.objects.get()
    shop = tiktok_server.shop
    assert (connection.status, connection.account_id, connection.account_name) == (
        "active",
        shop["id"],
        shop["name"],
    )
    assert connection.settings["shop_cipher"] == shop["cipher"]
    assert connection.access_token_expires_at is not None
    assert connection.refresh_token_expires_at is not None
    assert "seller.product.write" in connection.scopes


@pytest.mark.parametrize("platform", ["meta", "google"])
def test_pkce_is_sent_and_checked_by_the_platform(
    owner_client, platform, meta_server, google_server
):
    location = start(owner_client, platform)
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # base64url of a SHA-256, no padding
    assert query["redirect_uri"] == [
        f"https://shop.example.com/integrations/oauth/{platform}/callback"
    ]
    # A verifier that does not match the challenge is refused by the platform.
    session = owner_client.session
    pending = session["integrations.oauth"]
    for entry in pending.values():
        entry["verifier"] = "not-the-verifier-" + "x" * 40
    session["integrations.oauth"] = pending
    session.save()
    response = callback(owner_client, consent(location))
    assert response.status_code == 302
    assert not Connection.objects.exists()


def test_google_connects_with_offline_access_and_learns_its_account(owner_client, google_server):
    location = start(owner_client, "google")
    query = parse_qs(urlsplit(location).query)
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    callback(owner_client, consent(location))
    connection = Connection.objects.get()
    assert connection.status == "active"
    assert connection.account_id == google_server.account_id
    assert connection.account_name == "Demo Merchant"
    assert connection.refresh_token.startswith("1//")
    assert connection.settings["language"] == "en"


def test_meta_with_several_catalogs_asks_which_one(owner_client, meta_server):
    meta_server.catalogs["880000000000002"] = {"name": "Second catalog", "items": {}}
    meta_server.businesses[0]["catalogs"].append("880000000000002")
    location = start(owner_client, "meta")
    response = callback(owner_client, consent(location))
    connection = Connection.objects.get()
    assert connection.status == "pending"
    assert response["Location"] == reverse(
        "admin:integrations_connection_choose", args=[connection.pk]
    )
    page = owner_client.get(response["Location"])
    assert b"Second catalog" in page.content and b"Demo catalog" in page.content
    bad = owner_client.post(response["Location"], {"account_id": "999"})
    assert b"Not one of the accounts" in bad.content or b"Choose one of the accounts" in bad.content
    owner_client.post(response["Location"], {"account_id": "880000000000002"})
    connection.refresh_from_db()
    assert (connection.status, connection.account_id) == ("active", "880000000000002")
    assert connection.account_choices == []
    assert connection.scopes == ["business_management", "catalog_management"]


def test_a_callback_from_another_session_is_refused(owner_client, tiktok_server, merchant_roles):
    location = start(owner_client, "tiktok_shop")
    redirect = consent(location)
    other = Client()
    other.force_login(staff("Owner", "mallory"))
    response = callback(other, redirect)
    assert response.status_code == 302
    assert not Connection.objects.exists()
    # The state works once, in the session that started it.
    callback(owner_client, redirect)
    assert Connection.objects.count() == 1
    callback(owner_client, redirect)  # replayed
    assert Connection.objects.count() == 1


def test_a_callback_for_another_platform_or_without_state_is_refused(
    owner_client, tiktok_server, google_server
):
    redirect = consent(start(owner_client, "tiktok_shop"))
    path = "/integrations/oauth/google/callback"
    response = owner_client.get(path, parse_qs(urlsplit(redirect).query))
    assert response.status_code == 302
    response = callback(owner_client, redirect, state="")
    assert not Connection.objects.exists()


def test_shopify_callback_with_a_bad_hmac_or_another_shop_is_refused(owner_client, shopify_server):
    shopify_server.add_shop("evil.myshopify.com")
    redirect = consent(start(owner_client, "shopify", shop=SHOP))
    response = callback(owner_client, redirect, hmac="0" * 64)
    assert response.status_code == 302
    assert not Connection.objects.exists()
    redirect = consent(start(owner_client, "shopify", shop=SHOP))
    callback(owner_client, redirect, shop="evil.myshopify.com")
    assert not Connection.objects.exists()


def test_a_merchant_who_denies_access_is_told_so(owner_client, google_server):
    location = start(owner_client, "google")
    state = parse_qs(urlsplit(location).query)["state"][0]
    response = owner_client.get(
        "/integrations/oauth/google/callback",
        {"state": state, "error": "access_denied"},
        follow=True,
    )
    assert b"did not grant access: access_denied" in response.content
    assert not Connection.objects.exists()


def test_only_staff_who_may_add_connections_can_start_or_finish(
    client, merchant_roles, tiktok_server
):
    client.force_login(staff("Catalog manager", "carl"))
    response = client.post(reverse("admin:integrations_connection_start", args=["tiktok_shop"]))
    assert response.status_code == 403
    anonymous = Client()
    response = anonymous.get(
        "/integrations/oauth/tiktok_shop/callback", {"code": "x", "state": "y"}
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_reconnecting_replaces_the_tokens_of_the_same_connection(owner_client, tiktok_server):
    connection = connect(owner_client, "tiktok_shop")
    first = connection.access_token
    location = start(owner_client, "tiktok_shop", connection=connection.pk)
    callback(owner_client, consent(location))
    assert Connection.objects.count() == 1
    connection.refresh_from_db()
    assert connection.access_token != first and connection.token_version == 2
    assert list(connection.events.values_list("action", flat=True)) == [
        "grant",
        "activate",
        "reconnect",
    ]


def test_a_new_destination_marks_every_product_for_its_first_push(
    owner_client, google_server, django_capture_on_commit_callbacks
):
    items = [product(sku=f"G-{n}", announce=False) for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        connection = connect(owner_client, "google")
    listings = Listing.objects.filter(connection=connection)
    assert {lst.product_id for lst in listings} == {p.pk for p in items}
    assert all(lst.state == "synced" for lst in listings)  # pushed by the queued job
    assert set(google_server.offers()) == {"G-0", "G-1", "G-2"}
