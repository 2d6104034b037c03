import pytest
import yaml
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token

from links.models import ClickEvent, ShortLink
from tests.links.helpers import drain_all, human

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    user = User.objects.create_user("cm", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    token = Token.objects.create(user=user).key

    class Api:
        auth = f"Token {token}"

        def get(self, path, **params):
            return client.get(path, params, HTTP_AUTHORIZATION=f"Token {token}")

        def post(self, path, data=None):
            return client.post(path, data, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Token {token}")  # fmt: skip

        def patch(self, path, data):
            return client.patch(path, data, content_type="application/json",
                                HTTP_AUTHORIZATION=f"Token {token}")  # fmt: skip

    return Api()


def test_create_a_link_with_rules_and_a_split(api, allowed_domain, creator, product):
    response = api.post(
        "/api/links",
        {
            "product": product.pk,
            "creator": creator.pk,
            "utm_source": "tiktok",
            "rules": [
                {"countries": "ca", "url": "https://shop.example.com/ca"},
                {"in_app": "instagram", "url": "https://shop.example.com/ig"},
            ],
            "split_arms": [
                {"label": "A", "weight": 50, "url": "https://shop.example.com/a"},
                {"label": "B", "weight": 50, "product": product.pk},
            ],
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert len(body["code"]) == 7
    assert body["short_url"] == f"https://shop.example.com/p/{body['code']}"
    assert body["status"] == "active"
    assert [r["countries"] for r in body["rules"]] == ["CA", ""]
    assert [a["label"] for a in body["split_arms"]] == ["A", "B"]


def test_a_hostile_destination_is_a_400_naming_the_field(api, allowed_domain):
    response = api.post("/api/links", {"url": "http://shop.example.com@evil.com/"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "url_credentials"  # the rule it broke
    assert "url" in error["fields"]
    assert "user name or password" in error["fields"]["url"][0]
    assert not ShortLink.objects.exists()


def test_a_bad_rule_rolls_back_the_whole_link(api, allowed_domain):
    response = api.post(
        "/api/links",
        {"url": "https://shop.example.com/x", "code": "atomic",
         "rules": [{"countries": "US", "url": "https://evil.com/"}]},
    )  # fmt: skip
    assert response.status_code == 400
    assert "rules[0].url" in response.json()["error"]["fields"]
    assert not ShortLink.objects.filter(code="atomic").exists()


@pytest.mark.parametrize(
    ("code", "message"), [("admin", "reserved"), ("ab", "3 to 50"), ("a b c", "3 to 50")]
)
def test_bad_custom_codes_are_refused(api, allowed_domain, code, message):
    response = api.post("/api/links", {"url": "https://shop.example.com/x", "code": code})
    assert response.status_code == 400
    assert message in response.json()["error"]["fields"]["code"][0]


def test_a_taken_code_is_refused_case_insensitively(api, link):
    response = api.post("/api/links", {"url": "https://shop.example.com/x", "code": "HOODIE"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["code"] == ["This code is taken."]


def test_update_and_deactivate(api, link, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(f"/api/links/{link.pk}", {"notes": "for the spring drop"})
    assert response.status_code == 200
    assert response.json()["notes"] == "for the spring drop"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/links/{link.pk}/deactivate")
    assert response.json()["active"] is False
    assert response.json()["status"] == "inactive"
    assert human(client, "/p/hoodie").status_code == 410


def test_links_cannot_be_deleted_through_the_api(api, link, client):
    response = client.delete(f"/api/links/{link.pk}", HTTP_AUTHORIZATION=api.auth)
    assert response.status_code == 405
    assert ShortLink.objects.filter(pk=link.pk).exists()


def test_click_counts_by_day_country_device_and_source(api, link, client):
    human(client, "/p/hoodie", HTTP_CF_IPCOUNTRY="US", REMOTE_ADDR="198.51.100.1")
    human(client, "/p/hoodie", HTTP_CF_IPCOUNTRY="US", REMOTE_ADDR="198.51.100.1")
    human(client, "/p/hoodie", HTTP_CF_IPCOUNTRY="FR", REMOTE_ADDR="198.51.100.2")
    client.get("/p/hoodie", HTTP_USER_AGENT="Twitterbot/1.0")
    drain_all()
    assert ClickEvent.objects.count() == 4

    by_country = {
        r["key"]: r for r in api.get(f"/api/links/{link.pk}/clicks", group_by="country").json()
    }
    assert by_country["US"] == {"key": "US", "clicks": 2, "unique_clicks": 1, "bot_hits": 0}
    assert by_country["FR"]["clicks"] == 1
    by_device = {
        r["key"]: r["clicks"]
        for r in api.get(f"/api/links/{link.pk}/clicks", group_by="device").json()
    }
    assert by_device["mobile"] == 3
    days = api.get(f"/api/links/{link.pk}/clicks", group_by="day").json()
    assert len(days) == 1 and days[0]["clicks"] == 3 and days[0]["bot_hits"] == 1
    sources = api.get(f"/api/links/{link.pk}/clicks", group_by="source").json()
    assert sources[0]["key"] == "tiktok"
    bad = api.get(f"/api/links/{link.pk}/clicks", group_by="planet")
    assert bad.status_code == 400
    assert "group_by" in bad.json()["error"]["fields"]


def test_list_filters_and_query_budget(api, allowed_domain, creator, django_assert_max_num_queries):
    from links import services

    for n in range(10):
        services.link_create(
            url=f"https://shop.example.com/{n}", creator_id=creator.pk if n % 2 else None
        )
    with django_assert_max_num_queries(8):
        body = api.get("/api/links").json()
    assert body["count"] == 10
    assert api.get("/api/links", creator=creator.pk).json()["count"] == 5


def test_the_schema_describes_links(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    assert "/api/links" in schema["paths"]
    assert "/api/links/{id}/clicks" in schema["paths"]
    assert "/api/links/{id}/deactivate" in schema["paths"]
    params = {p["name"] for p in schema["paths"]["/api/links/{id}/clicks"]["get"]["parameters"]}
    assert {"group_by", "since", "until"} <= params


def test_a_destination_on_a_port_its_domain_does_not_allow_is_a_400_naming_the_field(
    api, allowed_domain
):
    response = api.post("/api/links", {"url": "https://shop.example.com:0/x", "code": "zero"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "url_port"
    assert "Port 0 is not allowed" in error["fields"]["url"][0]
    assert not ShortLink.objects.filter(code="zero").exists()


def test_an_update_changes_only_the_fields_sent_and_frees_the_old_code(api, link, client):
    response = api.patch(f"/api/links/{link.pk}", {"code": "hoodie-2", "title": "New"})
    assert response.status_code == 200, response.json()
    link.refresh_from_db()
    assert (link.code, link.title, link.utm_source) == ("hoodie-2", "New", "tiktok")
    assert human(client, "/p/hoodie").status_code == 404
    assert human(client, "/p/hoodie-2").status_code == 302
