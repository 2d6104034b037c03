import io

import pytest
import segno
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group, User
from PIL import Image

from links.models import ShortLink
from tests.links.factories import CampaignFactory, CreatorFactory
from tests.links.helpers import drain_all, human

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client):
    user = User.objects.create_user("cm", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    client.force_login(user)
    return client


def test_changelist_shows_total_unique_bot_and_recent_clicks(manager_client, link, client):
    for n in range(3):
        human(client, "/p/hoodie", REMOTE_ADDR=f"198.51.100.{n % 2}")
    client.get("/p/hoodie", HTTP_USER_AGENT="Twitterbot/1.0")
    drain_all()
    html = manager_client.get("/admin/links/shortlink/").content.decode()
    row = BeautifulSoup(html, "lxml").select_one("#result_list tbody tr")
    cells = {
        td["class"][0].removeprefix("field-"): td.get_text(strip=True) for td in row.find_all("td")
    }
    assert cells["total_clicks"] == "3"
    assert cells["unique_clicks"] == "2"
    assert cells["bot_hits"] == "1"
    assert cells["clicks_7d"] == "3"
    assert row.select_one("button[data-copy]")["data-copy"] == "https://shop.example.com/p/hoodie"


def test_changelist_query_count_does_not_grow_with_links(
    manager_client, allowed_domain, creator, django_assert_max_num_queries
):
    from links import services

    for n in range(30):
        services.link_create(url=f"https://shop.example.com/{n}", creator_id=creator.pk)
    with django_assert_max_num_queries(12):
        assert manager_client.get("/admin/links/shortlink/").status_code == 200


def test_status_filter_finds_each_state(manager_client, allowed_domain):
    from datetime import timedelta

    from django.utils import timezone

    from links import services

    now = timezone.now()
    url = "https://shop.example.com/"
    services.link_create(url=url, code="live")
    services.link_create(url=url, code="off", active=False)
    services.link_create(url=url, code="past", expires_at=now - timedelta(days=1))
    services.link_create(url=url, code="soon", starts_at=now + timedelta(days=1))
    for status, code in [("active", "live"), ("inactive", "off"), ("expired", "past"),
                         ("scheduled", "soon")]:  # fmt: skip
        html = manager_client.get(f"/admin/links/shortlink/?status={status}").content.decode()
        rows = BeautifulSoup(html, "lxml").select("#result_list tbody th a")
        assert [a.get_text() for a in rows] == [code], status


def test_links_cannot_be_deleted_in_the_admin(manager_client, link):
    response = manager_client.post(f"/admin/links/shortlink/{link.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert ShortLink.objects.filter(pk=link.pk).exists()


def test_a_duplicate_domain_written_differently_is_a_form_error(client, allowed_domain):
    owner = User.objects.create_user("owner", password="pw", is_staff=True)
    owner.groups.add(Group.objects.get(name="Owner"))
    client.force_login(owner)
    response = client.post("/admin/links/alloweddomain/add/", {"domain": "SHOP.example.com."})
    assert response.status_code == 200
    assert "This domain is already allowed." in response.content.decode()


def test_an_open_redirect_is_refused_in_the_form_and_nothing_is_saved(
    manager_client, allowed_domain
):
    response = manager_client.post(
        "/admin/links/shortlink/add/",
        {
            "code": "", "url": "https://shop.example.com.evil.com/", "active": "on",
            "extra_params": "{}",
            "rules-TOTAL_FORMS": "0", "rules-INITIAL_FORMS": "0",
            "split_arms-TOTAL_FORMS": "0", "split_arms-INITIAL_FORMS": "0",
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert "not on the list of allowed destination domains" in response.content.decode()
    assert not ShortLink.objects.exists()


def test_a_bad_rule_shows_its_error_inline(manager_client, allowed_domain):
    response = manager_client.post(
        "/admin/links/shortlink/add/",
        {
            "code": "spring", "url": "https://shop.example.com/", "active": "on",
            "extra_params": "{}",
            "rules-TOTAL_FORMS": "1", "rules-INITIAL_FORMS": "0", "rules-0-position": "0",
            "rules-0-countries": "USA", "rules-0-url": "https://shop.example.com/us",
            "split_arms-TOTAL_FORMS": "0", "split_arms-INITIAL_FORMS": "0",
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert "Not a two-letter country code: USA." in response.content.decode()
    assert not ShortLink.objects.exists()


def test_a_link_made_in_the_admin_gets_a_code_campaign_defaults_and_rules(
    manager_client, allowed_domain
):
    campaign = CampaignFactory(utm_source="tiktok", utm_campaign="spring")
    response = manager_client.post(
        "/admin/links/shortlink/add/",
        {
            "code": "", "url": "https://shop.example.com/", "active": "on", "campaign": campaign.pk,
            "extra_params": "{}",
            "rules-TOTAL_FORMS": "1", "rules-INITIAL_FORMS": "0", "rules-0-position": "0",
            "rules-0-countries": "us", "rules-0-url": "https://shop.example.com/us",
            "split_arms-TOTAL_FORMS": "0", "split_arms-INITIAL_FORMS": "0",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    link = ShortLink.objects.get()
    assert len(link.code) == 7
    assert (link.utm_source, link.utm_campaign) == ("tiktok", "spring")
    assert list(link.rules.values_list("countries", flat=True)) == ["US"]


def test_change_page_shows_a_qr_preview(manager_client, link):
    html = manager_client.get(f"/admin/links/shortlink/{link.pk}/change/").content.decode()
    assert '<img src="/p/hoodie/qr.svg"' in html
    assert "/p/hoodie/qr.png?download=1" in html


def test_bulk_action_makes_one_link_per_creator(client, product):
    owner = User.objects.create_user("owner", password="pw", is_staff=True)
    owner.groups.add(Group.objects.get(name="Owner"))
    client.force_login(owner)
    creators = [CreatorFactory() for _ in range(3)]
    campaign = CampaignFactory(utm_source="instagram")
    ids = [str(c.pk) for c in creators]
    form = client.post(
        "/admin/creators/creator/", {"action": "make_links", "_selected_action": ids}
    )
    assert form.status_code == 200
    assert "Make links" in form.content.decode()
    done = client.post(
        "/admin/creators/creator/",
        {"action": "make_links", "_selected_action": ids, "apply": "1",
         "product": product.pk, "campaign": campaign.pk},
        follow=True,
    )  # fmt: skip
    assert "3 link(s) made" in done.content.decode()
    links = ShortLink.objects.filter(product=product)
    assert {link.creator_id for link in links} == {c.pk for c in creators}
    assert {link.utm_source for link in links} == {"instagram"}


def test_allowed_domains_are_normalised_in_the_admin(client):
    owner = User.objects.create_user("owner", password="pw", is_staff=True)
    owner.groups.add(Group.objects.get(name="Owner"))
    client.force_login(owner)
    response = client.post(
        "/admin/links/alloweddomain/add/", {"domain": "BÜCHER.Example.", "note": ""}
    )
    assert response.status_code == 302
    from links.models import AllowedDomain

    assert AllowedDomain.objects.get().domain == "xn--bcher-kva.example"


def test_qr_codes_encode_the_short_link_with_qr_flag(client, link):
    svg = client.get("/p/hoodie/qr.svg")
    assert svg.status_code == 200
    assert svg["Content-Type"] == "image/svg+xml"
    expected = io.BytesIO()
    segno.make("https://shop.example.com/p/hoodie?qr=1", error="m").save(
        expected, kind="svg", scale=8, border=2
    )
    assert svg.content == expected.getvalue()
    png = client.get("/p/hoodie/qr.png?download=1")
    assert png["Content-Type"] == "image/png"
    assert 'filename="shoploop-hoodie.png"' in png["Content-Disposition"]
    assert Image.open(io.BytesIO(png.content)).format == "PNG"
    assert client.get("/p/missing/qr.svg").status_code == 404


def _owner(client):
    owner = User.objects.create_user("owner", password="pw", is_staff=True)
    owner.groups.add(Group.objects.get(name="Owner"))
    client.force_login(owner)
    return owner


def test_every_change_to_the_allowed_domains_is_audited_with_who_and_what(client):
    from links.models import AllowedDomain, AllowedDomainChange

    owner = _owner(client)
    client.post("/admin/links/alloweddomain/add/", {"domain": "partner.example", "note": ""})
    domain = AllowedDomain.objects.get()
    client.post(
        f"/admin/links/alloweddomain/{domain.pk}/change/",
        {"domain": "partner.example", "include_subdomains": "on", "ports": "8443", "note": ""},
    )
    client.post(f"/admin/links/alloweddomain/{domain.pk}/delete/", {"post": "yes"})
    changes = list(AllowedDomainChange.objects.order_by("at", "pk"))
    assert [c.action for c in changes] == ["added", "changed", "removed"]
    assert all(c.actor_id == owner.pk and c.domain == "partner.example" for c in changes)
    assert changes[1].before["include_subdomains"] is False
    assert changes[1].after == {
        "domain": "partner.example", "include_subdomains": True, "ports": "8443", "note": "",
    }  # fmt: skip
    assert changes[2].after is None
    page = client.get("/admin/links/alloweddomainchange/").content.decode()
    assert "partner.example" in page and "Removed" in page
    # Nobody edits the audit trail, not even the owner.
    delete_page = f"/admin/links/alloweddomainchange/{changes[0].pk}/delete/"
    assert client.get(delete_page).status_code == 403


def test_an_allowed_domain_with_a_bad_port_is_refused_beside_the_field(client):
    from links.models import AllowedDomain

    _owner(client)
    response = client.post(
        "/admin/links/alloweddomain/add/", {"domain": "partner.example", "ports": "0, 8443"}
    )
    assert response.status_code == 200
    errors = BeautifulSoup(response.content, "lxml").select(".field-ports .errorlist li")
    assert [e.get_text() for e in errors] == ["0 is not a port (1-65535)."]
    assert not AllowedDomain.objects.exists()


def test_a_link_to_a_port_its_domain_does_not_name_is_refused_in_the_admin(
    manager_client, allowed_domain
):
    response = manager_client.post(
        "/admin/links/shortlink/add/",
        {"url": "https://shop.example.com:0/sale", "code": "zero", "active": "on",
         "extra_params": "{}", **_empty_inlines()},
    )  # fmt: skip
    assert response.status_code == 200
    errors = BeautifulSoup(response.content, "lxml").select(".field-url .errorlist li")
    assert "Port 0 is not allowed for shop.example.com" in errors[0].get_text()
    assert not ShortLink.objects.filter(code="zero").exists()


def test_an_empty_link_form_asks_for_a_destination_not_for_one_of_two(manager_client):
    response = manager_client.post(
        "/admin/links/shortlink/add/", {"active": "on", "extra_params": "{}", **_empty_inlines()}
    )
    soup = BeautifulSoup(response.content, "lxml")
    assert "not both" not in soup.get_text(" ")
    # Beside the field, what to do; not the database constraint's generic words at the top.
    beside = [li.get_text() for li in soup.select(".field-url .errorlist li")]
    assert beside == ["Choose a product or enter an external URL."]
    assert not soup.select(".errorlist.nonfield")
    assert not ShortLink.objects.exists()


def test_a_link_form_with_both_destinations_says_not_both(manager_client, allowed_domain):
    from tests.catalog.factories import ProductFactory

    product = ProductFactory()
    response = manager_client.post(
        "/admin/links/shortlink/add/",
        {"active": "on", "extra_params": "{}", "product": product.pk,
         "url": "https://shop.example.com/sale", **_empty_inlines()},
    )  # fmt: skip
    soup = BeautifulSoup(response.content, "lxml")
    beside = [li.get_text() for li in soup.select(".field-url .errorlist li")]
    assert beside == ["Choose a product or an external URL, not both."]
    assert not ShortLink.objects.exists()


def test_the_list_keeps_creator_and_campaign_in_one_column(manager_client, link):
    from links.models import Campaign

    campaign = Campaign.objects.create(name="Spring drop", slug="spring-drop")
    ShortLink.objects.filter(pk=link.pk).update(campaign=campaign)
    html = manager_client.get("/admin/links/shortlink/").content.decode()
    cell = BeautifulSoup(html, "lxml").select_one("#result_list tbody tr .field-attribution")
    assert cell.get_text(" ", strip=True) == f"{link.creator} Spring drop"


def _empty_inlines() -> dict:
    data = {}
    for prefix in ("rules", "split_arms"):
        for name, value in (("TOTAL", 0), ("INITIAL", 0), ("MIN_NUM", 0), ("MAX_NUM", 1000)):
            data[f"{prefix}-{name}_FORMS"] = str(value)
    return data
