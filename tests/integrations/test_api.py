"""The integrations API: connections with their sync status (never a token), listings,
"sync now" and "disconnect", permissions, query budgets and the OpenAPI schema."""

import pytest
import yaml
from django.test import Client
from rest_framework.authtoken.models import Token

from integrations import push
from integrations.models import Connection, Listing
from tests.integrations.helpers import connect, product, staff

pytestmark = pytest.mark.django_db


def api_client(user) -> Client:
    token = Token.objects.create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


@pytest.fixture
def owner_api(owner_client):
    return api_client(owner_client.user)


def test_connections_show_status_scopes_and_sync_but_never_tokens(
    owner_client, owner_api, google_server, tiktok_server
):
    google = connect(owner_client, "google")
    connect(owner_client, "tiktok_shop")
    product(sku="A-1")
    push.connection_push(connection_id=google.pk)
    response = owner_api.get("/api/integrations/connections")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    first = next(c for c in body["results"] if c["platform"] == "google")
    assert first["status"] == "active" and first["account_name"] == "Demo Merchant"
    assert first["scopes"] == ["https://www.googleapis.com/auth/content"]
    assert first["sync"]["in_sync"] == 1 and first["sync"]["listings"]["synced"] == 1
    assert first["sync"]["last_run"]["status"] == "done"
    assert first["last_call_at"] is not None
    text = response.content.decode()
    for connection in Connection.objects.all():
        for secret in (connection.access_token, connection.refresh_token):
            assert secret and secret not in text
    for row in body["results"]:
        assert not {"access_token", "refresh_token", "app_secret"} & set(row)
        assert "shop_cipher" not in row["settings"]
    filtered = owner_api.get("/api/integrations/connections?platform=tiktok_shop").json()
    assert [c["platform"] for c in filtered["results"]] == ["tiktok_shop"]


def test_the_connection_list_has_a_fixed_query_count(
    owner_client, owner_api, google_server, django_assert_num_queries
):
    connect(owner_client, "google")
    # The token and its user, the user's permissions (2), the count, the page.
    with django_assert_num_queries(5):
        owner_api.get("/api/integrations/connections")
    for n in range(3):
        Connection.objects.create(platform="meta", status="active", account_id=f"88{n}")
    with django_assert_num_queries(5):
        assert owner_api.get("/api/integrations/connections").json()["count"] == 4


def test_listings_are_filtered_and_read_in_a_fixed_number_of_queries(
    owner_client, owner_api, google_server, django_assert_num_queries
):
    google = connect(owner_client, "google")
    items = [product(sku=f"L-{n}", image=n != 0) for n in range(4)]
    push.connection_push(connection_id=google.pk)
    with django_assert_num_queries(5):
        body = owner_api.get(f"/api/integrations/listings?connection={google.pk}").json()
    assert body["count"] == 4
    invalid = owner_api.get(
        f"/api/integrations/listings?state=invalid&product={items[0].pk}"
    ).json()
    [row] = invalid["results"]
    assert row["platform"] == "google" and row["state"] == "invalid"
    assert row["messages"][0]["field"] == "imageLink"
    bad = owner_api.get("/api/integrations/listings?connection=abc")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"connection": ["A whole number is required."]}


def test_sync_now_and_disconnect_need_their_permissions(
    owner_client, owner_api, google_server, merchant_roles
):
    google = connect(owner_client, "google")
    finance = api_client(staff("Finance", "fiona"))
    assert finance.get("/api/integrations/connections").status_code == 200
    assert finance.post(f"/api/integrations/connections/{google.pk}/sync").status_code == 403
    catalog = api_client(staff("Catalog manager", "carl"))
    assert catalog.post(f"/api/integrations/connections/{google.pk}/sync").status_code == 202
    assert catalog.post(f"/api/integrations/connections/{google.pk}/disconnect").status_code == 403
    response = owner_api.post(f"/api/integrations/connections/{google.pk}/disconnect")
    assert response.status_code == 200 and response.json()["status"] == "disconnected"
    assert google_server.requests_to("^/revoke$", "POST")
    again = owner_api.post(f"/api/integrations/connections/{google.pk}/sync")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_transition"
    missing = owner_api.post("/api/integrations/connections/999999/sync")
    assert missing.status_code == 404


def test_moderators_cannot_read_connections(merchant_roles):
    moderator = api_client(staff("Moderator", "mina"))
    assert moderator.get("/api/integrations/connections").status_code == 403


def test_the_schema_describes_the_endpoints_without_token_fields(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    paths = schema["paths"]
    assert "/api/integrations/connections" in paths
    assert "/api/integrations/connections/{id}/sync" in paths
    assert "/api/integrations/listings" in paths
    connection = schema["components"]["schemas"]["Connection"]["properties"]
    assert "access_token" not in connection and "refresh_token" not in connection
    assert all(prop.get("readOnly") for prop in connection.values())


def test_listing_rows_survive_a_deleted_product(owner_client, owner_api, google_server):
    google = connect(owner_client, "google")
    item = product(sku="D-1")
    product_id = item.pk
    push.connection_push(connection_id=google.pk)
    item.delete()
    [row] = owner_api.get("/api/integrations/listings").json()["results"]
    assert row["product"] is None and row["product_ref"] == f"shoploop-{product_id}"
    assert Listing.objects.count() == 1
