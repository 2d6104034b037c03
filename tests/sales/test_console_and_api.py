"""The console (query budgets, replay, remap, secrets never shown) and the API (filters,
query budget, channels CRUD with write-only secrets, the OpenAPI schema)."""

import pytest
import yaml
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.authtoken.models import Token

from sales.models import Order, SalesChannel, WebhookDelivery
from tests.catalog.factories import VariantFactory
from tests.sales.adapters import ADAPTERS, on_commit
from tests.sales.factories import SalesChannelFactory

pytestmark = pytest.mark.django_db


def staff(role: str) -> User:
    user = User.objects.create_user(f"u-{role}", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def owner_client(client):
    client.force_login(staff("Owner"))
    return client


def shopify_orders(client, channel, count, *, sku="SKU-1", start=3000):
    adapter = ADAPTERS["shopify"]()
    for n in range(count):
        assert adapter.order(channel, str(start + n), sku=sku).post(client, channel).status_code \
            == 200  # fmt: skip


def test_order_changelist_query_count_does_not_grow(owner_client, client,
                                                    django_assert_max_num_queries):  # fmt: skip
    channel = SalesChannelFactory()
    VariantFactory(sku="SKU-1", stock_on_hand=100)
    shopify_orders(client, channel, 3)
    with django_assert_max_num_queries(13):
        assert owner_client.get("/admin/sales/order/").status_code == 200
    shopify_orders(client, channel, 12, sku="UNKNOWN", start=7000)
    with django_assert_max_num_queries(13):
        html = owner_client.get("/admin/sales/order/").content.decode()
    assert html.count("UNKNOWN") == 0  # the list shows counts, not lines
    unmapped = BeautifulSoup(owner_client.get("/admin/sales/order/?lines=unmapped").content, "lxml")
    assert len(unmapped.select("#result_list tbody tr")) == 12


def test_delivery_changelist_and_the_order_page(owner_client, client,
                                                django_assert_max_num_queries):  # fmt: skip
    channel = SalesChannelFactory()
    shopify_orders(client, channel, 5)
    with django_assert_max_num_queries(12):
        assert owner_client.get("/admin/sales/webhookdelivery/").status_code == 200
    order = Order.objects.first()
    page = owner_client.get(f"/admin/sales/order/{order.pk}/change/").content.decode()
    assert "orders/updated" in page and "audit trail" in page.lower()


def test_console_amounts_read_in_their_currency(owner_client, client):
    from bs4 import BeautifulSoup

    channel = SalesChannelFactory()
    VariantFactory(sku="SKU-1", stock_on_hand=100)
    adapter = ADAPTERS["shopify"]()
    assert adapter.order(channel, "3100", price="24.99", quantity=2).post(client, channel) \
        .status_code == 200  # fmt: skip
    order = Order.objects.get()
    soup = BeautifulSoup(owner_client.get("/admin/sales/order/").content, "lxml")
    assert soup.select_one("#result_list .field-amount").get_text() == "US$49.98"
    page = owner_client.get(f"/admin/sales/order/{order.pk}/change/").content.decode()
    soup = BeautifulSoup(page, "lxml")
    assert soup.select_one(".field-total_money .readonly").get_text() == "US$49.98"
    assert soup.select_one(".field-subtotal_money .readonly").get_text() == "US$49.98"
    line = soup.select_one("#lines-group .field-unit_price_money").find_parent("tr")
    assert line.select_one(".field-unit_price_money").get_text(strip=True) == "US$24.99"
    assert line.select_one(".field-total_money").get_text(strip=True) == "US$49.98"
    assert "24.9900" not in page and "49.9800" not in page
    # The currency filter lists the currencies orders use, not every ISO 4217 code.
    filters = soup = BeautifulSoup(owner_client.get("/admin/sales/order/").content, "lxml")
    codes = [
        a.get_text(strip=True) for a in filters.select('#changelist-filter a[href*="currency="]')
    ]
    assert codes == ["USD"]


def test_channel_page_shows_the_webhook_url_and_never_a_secret(owner_client, client):
    channel = SalesChannelFactory(secret="shpss_very_secret_value")
    shopify_orders(client, channel, 1)
    html = owner_client.get(f"/admin/sales/saleschannel/{channel.pk}/change/").content.decode()
    assert f"https://shop.example.com/webhooks/shopify/{channel.token}/" in html
    assert "shpss_very_secret_value" not in html
    assert "webhook secret set" in html
    assert "orders/updated" in html  # the last deliveries


def test_rotating_a_secret_in_the_console_keeps_the_old_one_valid(owner_client, client):
    channel = SalesChannelFactory(secret="shpss_old_secret")
    response = owner_client.post(f"/admin/sales/saleschannel/{channel.pk}/change/", {
        "name": channel.name, "currency": "USD", "active": "on", "new_secret": "shpss_new_secret",
    })  # fmt: skip
    assert response.status_code == 302, response.content
    channel.refresh_from_db()
    assert (channel.secret, channel.previous_secret) == ("shpss_new_secret", "shpss_old_secret")
    old = ADAPTERS["shopify"]()
    body = old.order(channel, "4001").body
    signed_with_old = old.raw(channel, body)
    signed_with_old.headers = old.sign(channel, body, secret="shpss_old_secret")
    assert signed_with_old.post(client, channel).status_code == 200
    raw = SalesChannel.objects.filter(pk=channel.pk).values_list("secret", flat=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM sales_saleschannel WHERE id = %s", [channel.pk])
        stored = cursor.fetchone()[0]
    assert "shpss_new_secret" not in stored and stored.startswith("gAAAA")  # Fernet
    assert list(raw) == ["shpss_new_secret"]


def test_replay_and_remap_from_the_console(owner_client, client):
    channel = SalesChannelFactory()
    shopify_orders(client, channel, 1, sku="LATER-SKU")
    assert owner_client.get("/admin/sales/unmappedline/").content.decode().count("LATER-SKU") >= 1
    variant = VariantFactory(sku="LATER-SKU", stock_on_hand=5)
    line = Order.objects.get().lines.get()
    with on_commit():
        response = owner_client.post("/admin/sales/unmappedline/", {
            "action": "remap", "_selected_action": [line.pk]}, follow=True)  # fmt: skip
    assert "1 line(s) now map" in response.content.decode()
    line.refresh_from_db()
    variant.refresh_from_db()
    assert line.variant == variant and variant.stock_committed == 1
    delivery = WebhookDelivery.objects.get(accepted=True)
    with on_commit():
        response = owner_client.post("/admin/sales/webhookdelivery/", {
            "action": "replay", "_selected_action": [delivery.pk]}, follow=True)  # fmt: skip
    assert f"Replayed 1: #{delivery.pk}" in response.content.decode()
    variant.refresh_from_db()
    assert variant.stock_committed == 1  # replaying changed nothing


@pytest.mark.parametrize(("role", "url", "status"), [
    ("Finance", "/admin/sales/order/", 200),
    ("Finance", "/admin/sales/webhookdelivery/", 200),
    ("Finance", "/admin/sales/saleschannel/", 200),
    ("Finance", "/admin/sales/saleschannel/add/", 403),
    ("Owner", "/admin/sales/saleschannel/add/", 200),
    ("Owner", "/admin/sales/reservation/", 200),
    ("Moderator", "/admin/sales/order/", 403),
    ("Catalog manager", "/admin/sales/order/", 403),
])  # fmt: skip
def test_sales_pages_follow_the_role(client, role, url, status):
    client.force_login(staff(role))
    assert client.get(url).status_code == status


# --- API ------------------------------------------------------------------------------------


@pytest.fixture
def api(client):
    token = Token.objects.create(user=staff("Owner")).key

    def call(method, url, data=None):
        return getattr(client, method)(url, data=data, content_type="application/json",
                                       HTTP_AUTHORIZATION=f"Token {token}")  # fmt: skip

    return call


def test_orders_list_filters_and_query_budget(api, client, django_assert_max_num_queries):
    channel, other = SalesChannelFactory(), SalesChannelFactory()
    VariantFactory(sku="SKU-1", stock_on_hand=100)
    shopify_orders(client, channel, 6)
    shopify_orders(client, other, 1)
    with django_assert_max_num_queries(8):
        body = api("get", "/api/orders").json()
    assert body["count"] == 7
    first = body["results"][0]
    assert set(first) >= {"external_id", "status", "total", "currency", "lines", "click_id"}
    assert api("get", f"/api/orders?channel={other.pk}").json()["count"] == 1
    assert api("get", "/api/orders?status=paid").json()["count"] == 7
    assert api("get", "/api/orders?status=cancelled").json()["count"] == 0
    assert api("get", "/api/orders?external_id=3000").json()["count"] == 2
    assert api("get", "/api/orders?placed_after=2000-01-01T00:00:00Z").json()["count"] == 7
    assert api("get", "/api/orders?placed_before=2000-01-01T00:00:00Z").json()["count"] == 0
    bad = api("get", "/api/orders?placed_after=yesterday")
    assert bad.status_code == 400 and "placed_after" in bad.json()["error"]["fields"]
    assert api("get", "/api/orders?status=lost").status_code == 400


def test_order_detail_has_refunds_events_and_deliveries(api, client):
    channel = SalesChannelFactory()
    adapter = ADAPTERS["shopify"]()
    adapter.order(channel, "5001", quantity=2).post(client, channel)
    adapter.refund(channel, "5001", "77").post(client, channel)
    order = Order.objects.get()
    body = api("get", f"/api/orders/{order.pk}").json()
    assert body["status"] == "partially_refunded"
    assert body["refunds"][0]["external_id"] == "77"
    assert [e["action"] for e in body["events"]][:2] == ["create", "pay"]
    assert len(body["deliveries"]) == 2
    assert api("get", "/api/orders/999999").status_code == 404


def test_channels_crud_with_write_only_secrets(api):
    created = api("post", "/api/sales-channels", {
        "provider": "standard", "name": "Web", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "currency": "EUR"})  # fmt: skip
    assert created.status_code == 201, created.content
    channel = created.json()
    assert channel["secret_set"] is True and "secret" not in channel
    assert channel["webhook_url"].startswith("https://shop.example.com/webhooks/standard/")
    bad = api("post", "/api/sales-channels", {"provider": "standard", "name": "X",
                                              "secret": "not-a-whsec"})  # fmt: skip
    assert bad.status_code == 400 and "secret" in bad.json()["error"]["fields"]
    updated = api("patch", f"/api/sales-channels/{channel['id']}", {
        "name": "Web shop", "secret": "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVg=="})  # fmt: skip
    assert updated.status_code == 200, updated.content
    assert updated.json()["previous_secret_set"] is True
    assert api("get", "/api/sales-channels").json()["count"] == 1
    assert api("delete", f"/api/sales-channels/{channel['id']}").status_code == 204


def test_a_channel_with_orders_cannot_be_deleted(api, client):
    channel = SalesChannelFactory()
    shopify_orders(client, channel, 1)
    answer = api("delete", f"/api/sales-channels/{channel.pk}")
    assert answer.status_code == 409 and "deactivate" in answer.json()["error"]["message"]


def test_the_openapi_schema_has_the_sales_endpoints(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    for path in ("/api/orders", "/api/orders/{id}", "/api/sales-channels",
                 "/api/sales-channels/{id}"):  # fmt: skip
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/api/orders"]["get"]["parameters"]}
    assert {"channel", "status", "external_id", "placed_after", "placed_before"} <= params
    assert "OrderStatusEnum" in schema["components"]["schemas"]


def test_a_channel_made_in_the_console_keeps_its_secret_encrypted(owner_client):
    response = owner_client.post("/admin/sales/saleschannel/add/", {
        "provider": "stripe", "name": "Stripe EU", "currency": "EUR", "active": "on",
        "checkout": "on", "new_secret": "whsec_console_made_secret",
        "new_api_key": "sk_test_console"})  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = SalesChannel.objects.get()
    assert (channel.secret, channel.api_key, channel.checkout) == (
        "whsec_console_made_secret",
        "sk_test_console",
        True,
    )
    refused = owner_client.post("/admin/sales/saleschannel/add/", {
        "provider": "shopify", "name": "Shop", "currency": "USD", "checkout": "on",
        "new_secret": "short"})  # fmt: skip
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "At least 8 characters" in page and "Only a Stripe channel" in page
    assert SalesChannel.objects.count() == 1


def test_authorization_headers_are_not_stored_except_tiktoks_signature(client):
    channel = SalesChannelFactory(provider="standard")
    delivery = ADAPTERS["standard"]().order(channel, "h1")
    delivery.headers["Authorization"] = "Bearer a-credential"
    delivery.post(client, channel)
    assert WebhookDelivery.objects.get().headers["authorization"] == "[not stored]"
