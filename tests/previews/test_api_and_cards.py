"""The previews API, the server-rendered card and the card JSON the web component reads."""

from decimal import Decimal

import pytest
import yaml
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authtoken.models import Token

from previews.models import LinkPreview
from previews.tasks import preview_fetch_task

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(client):
    user = User.objects.create_user("cm", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    token = Token.objects.create(user=user).key
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}

    class Api:
        def get(self, path, **params):
            return client.get(path, params, **auth)

        def post(self, path, data):
            return client.post(path, data, content_type="application/json", **auth)

    return Api()


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(preview_fetch_task, "delay", lambda *args: sent.append(args))
    return sent


def fresh_preview(**fields) -> LinkPreview:
    values = {
        "url": "https://shop.example.org/item",
        "status": LinkPreview.Status.OK,
        "title": "Linen Shirt",
        "description": "Breezy linen.",
        "site_name": "Example Shop",
        "price": Decimal("49.9000"),
        "currency": "EUR",
        "fetched_at": timezone.now(),
        "next_refresh_at": timezone.now() + timezone.timedelta(days=1),
        **fields,
    }
    return LinkPreview.objects.create(**values)


def test_post_a_new_url_answers_202_and_queues_a_fetch(api, queued, fake_dns):
    fake_dns["shop.example.org"] = ["93.184.216.34"]
    response = api.post("/api/previews", {"url": "https://shop.example.org/item?utm_source=tt"})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["url"] == "https://shop.example.org/item"
    assert LinkPreview.objects.get().pk == body["id"]


def test_post_a_fresh_url_answers_200_with_the_preview(api, queued, fake_dns):
    fake_dns["shop.example.org"] = ["93.184.216.34"]
    preview = fresh_preview()
    response = api.post("/api/previews", {"url": "https://SHOP.example.org/item#x"})
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == preview.pk
    assert body["title"] == "Linen Shirt"
    assert body["price"] == "49.9000"
    assert queued == []


@pytest.mark.parametrize("url", ["not a url", "ftp://example.org/", "https://", "javascript:x"])
def test_a_malformed_url_is_a_400_with_the_reason(api, url):
    response = api.post("/api/previews", {"url": url})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_url"
    assert error["fields"]["url"]
    assert not LinkPreview.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/", "http://169.254.169.254/latest/", "http://10.0.0.1/", "http://[::1]/",
     "http://2130706433/", "http://internal.example/"],
)  # fmt: skip
def test_a_blocked_target_is_a_422_without_detail(api, url, fake_dns):
    fake_dns["internal.example"] = ["192.168.1.10"]
    response = api.post("/api/previews", {"url": url})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error == {
        "code": "blocked_url",
        "message": "This address is not allowed.",
        "fields": {"url": ["This address is not allowed."]},
    }
    assert not LinkPreview.objects.exists()


def test_get_by_id_and_by_url(api):
    preview = fresh_preview()
    assert api.get(f"/api/previews/{preview.pk}").json()["title"] == "Linen Shirt"
    by_url = api.get("/api/previews", url="https://shop.example.org/item?fbclid=1")
    assert by_url.json()["id"] == preview.pk
    missing = api.get("/api/previews", url="https://shop.example.org/other")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_the_api_needs_a_token(client):
    assert client.post("/api/previews", {"url": "https://a.example/"}).status_code == 401


def test_the_schema_describes_previews(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    post = schema["paths"]["/api/previews"]["post"]
    assert {"200", "202", "400", "422"} <= set(post["responses"])
    assert "/api/previews/{id}" in schema["paths"]


def test_card_of_an_external_url_escapes_scraped_text(client):
    fresh_preview(title=HOSTILE, description=HOSTILE, site_name=HOSTILE)
    response = client.get("/previews/card", {"url": "https://shop.example.org/item"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    soup = BeautifulSoup(html, "lxml")
    assert soup.select_one(".sl-card-title").get_text() == HOSTILE
    # The price in its currency's minor units, as every price in the shop reads.
    assert soup.select_one(".sl-card-price").get_text() == "€49.90"
    assert "X-Frame-Options" not in response  # meant to be embedded in an iframe
    data = client.get("/previews/card.json", {"url": "https://shop.example.org/item"}).json()
    assert (data["price"], data["currency"], data["price_display"]) == ("49.9", "EUR", "€49.90")


def test_a_scraped_price_in_an_unknown_currency_keeps_its_figures(client):
    fresh_preview(currency="XYZ", price=Decimal("12.5000"))
    soup = BeautifulSoup(
        client.get("/previews/card", {"url": "https://shop.example.org/item"}).content, "lxml"
    )
    assert soup.select_one(".sl-card-price").get_text() == "12.5 XYZ"


def test_card_of_a_product_page_and_of_a_short_link(client, settings):
    from links import services
    from tests.catalog.factories import ProductFactory, VariantFactory

    product = ProductFactory(title="Cloud Hoodie", slug="cloud-hoodie")
    VariantFactory(product=product, price=Decimal("59.00"), currency="USD")
    services.link_create(product_id=product.pk, code="hood")

    card = client.get(
        "/previews/card.json", {"url": "https://shop.example.com/products/cloud-hoodie/"}
    )
    assert card.json()["title"] == "Cloud Hoodie"
    assert card.json()["price_display"] == "$59.00"
    assert card["Access-Control-Allow-Origin"] == "*"
    short = client.get("/previews/card.json", {"url": "https://shop.example.com/p/hood"})
    assert short.json()["title"] == "Cloud Hoodie"
    assert short.json()["url"] == "https://shop.example.com/p/hood"


def test_unknown_urls_have_no_card_and_start_no_fetch(client, queued):
    response = client.get("/previews/card.json", {"url": "https://unknown.example/"})
    assert response.status_code == 404
    assert client.get("/previews/card", {"url": "https://unknown.example/"}).status_code == 404
    assert queued == []
    assert not LinkPreview.objects.exists()


def test_a_short_link_to_an_external_page_unfurls_with_its_stored_preview(client):
    from links import services
    from links.models import AllowedDomain

    AllowedDomain.objects.create(domain="shop.example.org")
    fresh_preview(title="Linen Shirt", description="Breezy linen.")
    services.link_create(url="https://shop.example.org/item", code="shirt")
    response = client.get("/p/shirt", HTTP_USER_AGENT="Slackbot-LinkExpanding 1.0")
    soup = BeautifulSoup(response.content, "lxml")
    assert soup.find("meta", property="og:title")["content"] == "Linen Shirt"
    assert soup.find("meta", property="og:description")["content"] == "Breezy linen."


def test_saving_a_link_to_an_external_page_requests_its_preview(
    client, queued, django_capture_on_commit_callbacks
):
    from links import services
    from links.models import AllowedDomain

    AllowedDomain.objects.create(domain="shop.example.org")
    with django_capture_on_commit_callbacks(execute=True):
        services.link_create(url="https://shop.example.org/new", code="newone")
    preview = LinkPreview.objects.get()
    assert preview.url == "https://shop.example.org/new"
    assert queued == [(preview.pk, 0)]


def test_admin_lists_previews_escaped_and_refetches(
    client, queued, django_capture_on_commit_callbacks
):
    owner = User.objects.create_user("owner", password="pw", is_staff=True)
    owner.groups.add(Group.objects.get(name="Owner"))
    client.force_login(owner)
    preview = fresh_preview(title=HOSTILE)
    html = client.get("/admin/previews/linkpreview/").content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html
    assert client.get(f"/admin/previews/linkpreview/{preview.pk}/change/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/previews/linkpreview/",
            {"action": "refetch", "_selected_action": [preview.pk]},
            follow=True,
        )
    assert "Fetched 1 preview(s) again" in response.content.decode()  # in-process
    assert queued == [(preview.pk, 1)]
    failed = client.get("/admin/previews/linkpreview/?status__exact=failed")
    assert failed.status_code == 200
