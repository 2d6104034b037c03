"""The redirect: where shoppers go, what they carry, and what crawlers see."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from django.test import RequestFactory
from django.utils import timezone

from links import services
from links.models import ClickEvent
from links.redirect import read_attribution_cookie
from tests.links.helpers import MOBILE_SAFARI, drain_all, human, query_of
from tests.links.test_destinations import HOSTILE

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(edge_client):
    """Every request of this module goes through the WSGI application production serves."""
    return edge_client


def test_shopper_gets_a_302_with_tracking_merged_into_the_destination_query(client, link):
    response = human(client, "/p/hoodie")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https", "shop.example.com", "/products/hoodie",
    )  # fmt: skip
    query = query_of(response)
    click_id = query.pop("slclid")
    assert len(click_id) == 32
    assert query == {
        "color": "grey",
        "utm_source": "tiktok",
        "utm_medium": "creator",
        "utm_campaign": "spring",
        "ref": "MAYA10",
    }


def test_short_link_query_is_forwarded_but_cannot_override_attribution(client, link):
    response = human(client, "/p/hoodie?size=M&ref=THIEF&slclid=forged&utm_source=x&qr=1")
    query = query_of(response)
    assert query["size"] == "M"
    assert query["ref"] == "MAYA10"
    assert query["slclid"] != "forged"
    assert query["utm_source"] == "tiktok"
    assert "qr" not in query


def test_shoppers_cannot_override_the_destinations_own_parameters(client, allowed_domain):
    services.link_create(url="https://shop.example.com/item?tag=merchant-20", code="partner")
    query = query_of(human(client, "/p/partner?tag=attacker-20&size=M"))
    assert query["tag"] == "merchant-20"
    assert query["size"] == "M"


def test_parameter_names_are_settings(client, link, settings):
    settings.AFFILIATE_PARAM = "aff"
    settings.CLICK_ID_PARAM = "cid"
    query = query_of(human(client, "/p/hoodie"))
    assert query["aff"] == "MAYA10"
    assert "cid" in query and "slclid" not in query


@pytest.mark.parametrize(
    "suffix",
    [
        "?url=//evil.com",
        "?next=https://evil.com&redirect=https://evil.com",
        "?%2F%2Fevil.com",
        "?@evil.com",
        "?a=b%0d%0aLocation:%20https://evil.com",
        "?host=evil.com#@evil.com",
    ],
)
def test_no_request_parameter_changes_the_destination_host(client, link, suffix):
    response = human(client, "/p/hoodie" + suffix, HTTP_HOST="evil.com")
    assert response.status_code == 302
    location = response["Location"]
    assert urlsplit(location).netloc == "shop.example.com"
    assert "\r" not in location and "\n" not in location


def test_a_destination_tampered_with_in_the_database_is_not_followed(client, link):
    from links.models import ShortLink

    ShortLink.objects.filter(pk=link.pk).update(url="https://evil.com/")
    assert human(client, "/p/hoodie").status_code == 410


def test_removing_an_allowed_domain_stops_its_links(client, django_capture_on_commit_callbacks):
    from tests.links.factories import AllowedDomainFactory

    partner = AllowedDomainFactory(domain="partner.example.net")
    services.link_create(url="https://partner.example.net/item", code="partner")
    assert human(client, "/p/partner").status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        services.allowed_domain_delete(domain_id=partner.pk)
    assert human(client, "/p/partner").status_code == 410


def test_product_destination_goes_to_the_product_page(client, product_link):
    response = human(client, "/p/prod")
    assert response.status_code == 302
    assert response["Location"].startswith("https://shop.example.com/products/cloud-hoodie/?")


def test_variant_destination_preselects_the_variant(client, product, creator):
    variant = product.variants.get()
    services.link_create(product_id=product.pk, variant_id=variant.pk, code="var")
    response = human(client, "/p/var")
    assert query_of(response)["variant"] == "HOOD-M"


def test_attribution_cookie(client, link, creator):
    response = human(client, "/p/hoodie")
    cookie = response.cookies["sl_attr"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 30 * 86400
    assert not cookie["secure"]
    request = RequestFactory().get("/", HTTP_COOKIE=f"sl_attr={cookie.value}")
    value = read_attribution_cookie(request)
    assert value["click"] == query_of(response)["slclid"]
    assert value["link"] == "hoodie"
    assert value["creator"] == creator.pk
    assert value["source"] == "tiktok"
    assert value["product"] is None


def test_a_forged_attribution_cookie_is_ignored(client, link):
    value = human(client, "/p/hoodie").cookies["sl_attr"].value
    forged = value.replace("hoodie", "stolen")
    request = RequestFactory().get("/", HTTP_COOKIE=f"sl_attr={forged}")
    assert read_attribution_cookie(request) is None


def test_attribution_cookie_is_secure_over_https_and_follows_the_window(client, link, settings):
    settings.ATTRIBUTION_WINDOW_DAYS = 7
    response = human(client, "/p/hoodie", secure=True)
    cookie = response.cookies["sl_attr"]
    assert cookie["secure"] is True
    assert cookie["max-age"] == 7 * 86400


def test_codes_are_case_insensitive(client, link):
    assert human(client, "/p/HOODIE").status_code == 302


def test_unknown_code_is_a_404_page(client, db):
    response = human(client, "/p/nope")
    assert response.status_code == 404
    assert b"Link not found" in response.content


def test_inactive_link_is_a_410_page(client, link, django_capture_on_commit_callbacks):
    human(client, "/p/hoodie")  # cached while active
    with django_capture_on_commit_callbacks(execute=True):
        services.link_deactivate(link_id=link.pk)
    response = human(client, "/p/hoodie")
    assert response.status_code == 410
    assert response["Cache-Control"] == "private, no-store"
    assert b"no longer active" in response.content


def test_expired_link_goes_to_its_fallback(client, allowed_domain):
    services.link_create(
        url="https://shop.example.com/sale",
        code="sale",
        starts_at=timezone.now() - timedelta(days=2),
        expires_at=timezone.now() - timedelta(days=1),
        fallback_url="https://shop.example.com/new-arrivals",
    )
    response = human(client, "/p/sale")
    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/new-arrivals"


def test_expired_link_without_fallback_is_a_410(client, allowed_domain):
    services.link_create(
        url="https://shop.example.com/sale", code="sale",
        expires_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip
    assert human(client, "/p/sale").status_code == 410


def test_scheduled_link_is_not_live_yet(client, allowed_domain):
    services.link_create(
        url="https://shop.example.com/drop", code="drop",
        starts_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    response = human(client, "/p/drop")
    assert response.status_code == 404
    assert b"not live yet" in response.content


def test_the_redirect_does_not_query_the_database_once_cached(
    client, link, django_assert_num_queries
):
    human(client, "/p/hoodie")  # builds and caches the snapshot
    with django_assert_num_queries(0):
        assert human(client, "/p/hoodie").status_code == 302


def test_a_post_is_refused(client, link):
    assert client.post("/p/hoodie").status_code == 405


BOTS = {
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "imessage": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, "
    "like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "twitter": "Twitterbot/1.0",
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "telegram": "TelegramBot (like TwitterBot)",
    "discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "linkedin": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "apple": "Mozilla/5.0 (compatible; Applebot/0.1; +http://www.apple.com/go/applebot)",
    "pinterest": "Pinterest/0.2 (+https://www.pinterest.com/bot.html)",
    "tiktok": "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile "
    "Safari/537.36 (compatible; TikTokSpider; ttspider-feedback@tiktok.com)",
    "bytespider": "Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)",
    "google": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "empty": "",
}


@pytest.mark.parametrize("name", list(BOTS))
def test_crawlers_get_the_product_card_and_are_recorded_as_bots(client, product_link, name):
    response = client.get("/p/prod", HTTP_USER_AGENT=BOTS[name])
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    soup = BeautifulSoup(response.content, "lxml")
    og = {m["property"]: m["content"] for m in soup.find_all("meta", property=True)}
    assert og["og:title"] == "Cloud Hoodie"
    assert og["og:type"] == "product"
    assert og["product:price:amount"] == "19.99"
    assert og["og:url"] == "https://shop.example.com/products/cloud-hoodie/"
    refresh = soup.find("meta", attrs={"http-equiv": "refresh"})["content"]
    assert "https://shop.example.com/products/cloud-hoodie/?" in refresh
    assert soup.find("a")["href"].startswith("https://shop.example.com/products/cloud-hoodie/")
    assert "sl_attr" not in response.cookies
    drain_all()
    click = ClickEvent.objects.get()
    assert click.is_bot is True
    assert click.is_unique is False


def test_head_requests_get_the_card_and_count_as_bots(client, product_link):
    response = client.head("/p/prod", HTTP_USER_AGENT=MOBILE_SAFARI)
    assert response.status_code == 200
    drain_all()
    assert ClickEvent.objects.get().is_bot is True


def test_external_destination_unfurls_with_the_link_title(client, allowed_domain):
    services.link_create(url="https://shop.example.com/x", code="ext", title="Spring <sale>")
    response = client.get("/p/ext", HTTP_USER_AGENT=BOTS["slack"])
    soup = BeautifulSoup(response.content, "lxml")
    assert soup.find("meta", property="og:title")["content"] == "Spring <sale>"
    assert b"<sale>" not in response.content


def test_changing_a_creators_affiliate_code_reaches_their_links(
    client, link, creator, django_capture_on_commit_callbacks
):
    from creators.services import creator_save

    assert query_of(human(client, "/p/hoodie"))["ref"] == "MAYA10"
    creator.affiliate_code = "MAYA20"
    with django_capture_on_commit_callbacks(execute=True):
        creator_save(creator=creator)
    assert query_of(human(client, "/p/hoodie"))["ref"] == "MAYA20"


def test_a_product_renamed_or_taken_off_sale_reaches_its_links(
    client, product_link, product, django_capture_on_commit_callbacks
):
    from catalog import services as catalog_services
    from catalog.models import Product

    assert "/products/cloud-hoodie/" in human(client, "/p/prod")["Location"]
    product.slug = "cloud-hoodie-2"
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.product_save(product=product)
    assert "/products/cloud-hoodie-2/" in human(client, "/p/prod")["Location"]
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.products_set_active(products=Product.objects.all(), active=False)
    assert human(client, "/p/prod").status_code == 410


def test_a_stale_snapshot_written_after_an_invalidation_is_never_read(client, link):
    from django.core.cache import cache

    from links import snapshots
    from links.models import ShortLink

    human(client, "/p/hoodie")
    stale = snapshots.build("hoodie")
    old_key = snapshots._current_key("hoodie")
    ShortLink.objects.filter(pk=link.pk).update(active=False)
    snapshots.invalidate("hoodie")  # what the deactivation does on commit
    cache.set(old_key, stale, timeout=None)  # a slow reader stores what it read before
    assert human(client, "/p/hoodie").status_code == 410


def test_with_the_database_down_and_no_snapshot_the_redirect_says_try_again(client, monkeypatch):
    from django.db import OperationalError

    from links import snapshots

    def database_down(code):
        raise OperationalError("connection refused")

    monkeypatch.setattr(snapshots, "build", database_down)
    response = human(client, "/p/whatever")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


@pytest.mark.parametrize(
    "tampered",
    # Less the two PostgreSQL itself refuses to store: an empty URL and a NUL byte.
    [url for url, _ in HOSTILE if url and "\x00" not in url],
)
def test_a_hostile_destination_written_straight_to_the_database_is_not_followed(
    client, link, tampered
):
    """The open-redirect list again, at redirect time: the stored URL is checked once more."""
    from links.models import ShortLink

    ShortLink.objects.filter(pk=link.pk).update(url=tampered)
    response = human(client, "/p/hoodie")
    assert response.status_code == 410
    assert "Location" not in response
