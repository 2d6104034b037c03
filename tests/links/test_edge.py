"""The link edge (links/edge.py): in front of Django, it answers a shopper's redirect exactly as
Django would (same status, Location, headers, cookies and click) and steps aside for every
other request.

"Django answered" is observed from the outside: Django's handler sends `request_started` for
every request it serves; the edge does not.
"""

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.test import RequestFactory
from django.utils import timezone

from config.wsgi import django_application
from links import services
from links.edge import LinkEdge
from links.models import ClickEvent
from links.redirect import read_attribution_cookie
from tests.links.helpers import MOBILE_SAFARI, drain_all, query_of
from tests.wsgi_client import WSGIClient

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example.com"


@pytest.fixture
def django_served():
    """The paths Django's own handler served during the test."""
    served = []

    def seen(sender, environ=None, **kwargs):
        served.append(environ["PATH_INFO"] if environ else "?")

    request_started.connect(seen)
    yield served
    request_started.disconnect(seen)


@pytest.fixture
def through_edge():
    """Through config.wsgi.application: the edge, with Django behind it."""
    return WSGIClient()


@pytest.fixture
def through_django():
    """Through Django's WSGI handler alone: production's application without the edge."""
    return WSGIClient(application=django_application)


def fresh_application() -> WSGIClient:
    """config.wsgi's composition built now, for tests that change settings Django's
    middleware reads when it is loaded."""
    return WSGIClient(application=LinkEdge(WSGIHandler()))


def get(client, path, **extra):
    extra.setdefault("HTTP_USER_AGENT", MOBILE_SAFARI)
    return client.get(path, **extra)


def cached(client, path, **extra):
    """Request once so that the link's snapshot is cached (Django builds it)."""
    get(client, path, **extra)
    client.cookies.clear()


def attribution(response) -> dict:
    cookie = response.cookies["sl_attr"].value
    return read_attribution_cookie(RequestFactory().get("/", HTTP_COOKIE=f"sl_attr={cookie}"))


@pytest.fixture
def split(allowed_domain):
    link = services.link_create(url=f"{SHOP}/default", code="abtest", utm_source="tiktok")
    services.link_replace_split_arms(
        link_id=link.pk,
        split_arms=[
            {"label": "A b/c", "weight": 50, "url": f"{SHOP}/a?x=1"},
            {"label": "B", "weight": 50, "url": f"{SHOP}/b"},
        ],
    )
    return link


@pytest.fixture
def routed(allowed_domain, creator):
    link = services.link_create(url=f"{SHOP}/default", code="routed", creator_id=creator.pk)
    services.link_replace_rules(
        link_id=link.pk,
        rules=[
            dict(countries="CA", url=f"{SHOP}/canada"),
            dict(languages="fr", url=f"{SHOP}/fr#top"),
            dict(query_param="promo", query_value="vip", url=f"{SHOP}/vip"),
        ],
    )
    return link


def _location_without_click(response) -> tuple:
    parts = urlsplit(response["Location"])
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "slclid"]
    return parts.scheme, parts.netloc, parts.path, query, parts.fragment


def _headers_without_values_of_the_click(response) -> list:
    """The headers as sent, in order; the click id, the signed cookie values and the cookie
    expiry (a second may pass between two requests) replaced by their shape."""
    out = []
    for name, value in response.sent_headers:
        if name == "Location":
            value = _location_without_click(response)
        elif name == "Set-Cookie":
            cookie_name, _, rest = value.strip().partition("=")
            cookie_value, _, attributes = rest.partition("; ")
            attributes = [a for a in attributes.split("; ") if not a.startswith("expires=")]
            if cookie_name in ("sl_attr", "csrftoken"):
                cookie_value = "<random>"
            value = (value[: len(value) - len(value.lstrip())], cookie_name, cookie_value,
                     attributes)  # fmt: skip
        out.append((name, value))
    return out


def _click_fields(click: ClickEvent) -> dict:
    fields = {f.name: getattr(click, f.name) for f in ClickEvent._meta.fields}
    for varying in ("id", "click_id", "clicked_at"):
        fields.pop(varying)
    return fields


SAME_AS_DJANGO = [
    # (link fixture, path, extra request arguments)
    ("link", "/p/hoodie", {}),
    ("link", "/p/HOODIE?size=M&ref=THIEF&slclid=forged&utm_source=x&qr=1", {}),
    ("link", "/p/hoodie", {"secure": True}),  # HSTS and Secure cookies
    (
        "link",
        "/p/hoodie",
        {
            "HTTP_REFERER": "https://www.tiktok.com/@maya/video/1",
            "REMOTE_ADDR": "2001:db8:abcd:12:1:2:3:4",
        },
    ),  # fmt: skip
    ("link", "/p/hoodie?a=%F0%9F%91%8D&b=1&b=2&empty=", {"REMOTE_ADDR": "203.0.113.77"}),
    ("product_link", "/p/prod", {"HTTP_CF_IPCOUNTRY": "fr"}),
    ("split", "/p/abtest", {"HTTP_COOKIE": "sl_ab_{id}=B"}),
    ("split", "/p/abtest", {"HTTP_COOKIE": "sl_ab_{id}=A%20b%2Fc"}),
    ("routed", "/p/routed", {"HTTP_CF_IPCOUNTRY": "CA"}),
    ("routed", "/p/routed", {"HTTP_ACCEPT_LANGUAGE": "fr-CA,fr;q=0.9"}),
    ("routed", "/p/routed?promo=vip", {}),
]


@pytest.mark.parametrize("fixture, path, extra", SAME_AS_DJANGO)
def test_the_edge_answers_as_django_does(
    request, fixture, path, extra, through_edge, through_django, django_served
):
    link = request.getfixturevalue(fixture)
    if "HTTP_COOKIE" in extra:
        extra = {**extra, "HTTP_COOKIE": extra["HTTP_COOKIE"].format(id=link.pk)}
    cached(through_edge, path, **extra)  # the same visitor: neither click below is unique
    drain_all()
    ClickEvent.objects.all().delete()
    django_served.clear()

    fast = get(through_edge, path, **extra)
    assert django_served == [], "the edge should have answered"
    slow = get(through_django, path, **extra)
    assert django_served == [urlsplit(path).path]

    assert fast.status_code == slow.status_code == 302
    assert fast.reason_phrase == slow.reason_phrase
    assert _headers_without_values_of_the_click(fast) == _headers_without_values_of_the_click(slow)
    fast_value, slow_value = attribution(fast), attribution(slow)
    assert fast_value.pop("click") == query_of(fast)["slclid"]  # each names its own click
    assert slow_value.pop("click") == query_of(slow)["slclid"]
    assert abs(fast_value.pop("at") - slow_value.pop("at")) <= 1
    assert fast_value == slow_value

    drain_all()
    clicks = {c.click_id.hex: c for c in ClickEvent.objects.all()}
    assert set(clicks) == {query_of(fast)["slclid"], query_of(slow)["slclid"]}
    assert _click_fields(clicks[query_of(fast)["slclid"]]) == _click_fields(
        clicks[query_of(slow)["slclid"]]
    )


def test_the_edge_answers_without_the_database_and_records_one_click(
    through_edge, link, django_served, django_assert_num_queries
):
    cached(through_edge, "/p/hoodie")
    drain_all()
    before = ClickEvent.objects.count()
    django_served.clear()
    with django_assert_num_queries(0):
        for n in range(5):
            assert get(through_edge, "/p/hoodie", REMOTE_ADDR=f"198.51.100.{n}").status_code == 302
    assert django_served == []
    drain_all()
    assert ClickEvent.objects.count() == before + 5


def test_a_link_not_cached_yet_is_answered_by_django_which_caches_it(
    through_edge, link, django_served
):
    assert get(through_edge, "/p/hoodie").status_code == 302
    assert django_served == ["/p/hoodie"]
    assert get(through_edge, "/p/hoodie").status_code == 302
    assert django_served == ["/p/hoodie"]  # the second one was the edge's
    drain_all()
    assert ClickEvent.objects.count() == 2


def test_the_edge_reads_a_snapshot_another_process_cached(through_edge, link, django_served):
    from links import snapshots

    cached(through_edge, "/p/hoodie")
    snapshots._local.clear()  # as in a process that never served it: Redis still has it
    django_served.clear()
    assert get(through_edge, "/p/hoodie").status_code == 302
    assert django_served == []


STEPS_ASIDE = [
    # (what, request arguments, expected status)
    ("HEAD", {"method": "head"}, 200),
    ("a crawler", {"HTTP_USER_AGENT": "facebookexternalhit/1.1"}, 200),
    ("an empty user agent", {"HTTP_USER_AGENT": ""}, 200),
    ("POST", {"method": "post"}, 405),
    ("a trailing slash", {"path": "/p/hoodie/"}, 404),
    ("a QR code", {"path": "/p/hoodie/qr.svg"}, 200),
    ("a session cookie", {"HTTP_COOKIE": "sessionid=abc"}, 302),
    ("a CSRF cookie", {"HTTP_COOKIE": "csrftoken=not-a-token"}, 302),
]


@pytest.mark.parametrize("what, arguments, status", STEPS_ASIDE, ids=[s[0] for s in STEPS_ASIDE])
def test_the_edge_steps_aside_and_django_answers(
    through_edge, through_django, link, django_served, what, arguments, status
):
    cached(through_edge, "/p/hoodie")
    arguments = dict(arguments)
    method = arguments.pop("method", "get")
    path = arguments.pop("path", "/p/hoodie")
    arguments.setdefault("HTTP_USER_AGENT", MOBILE_SAFARI)
    django_served.clear()
    response = getattr(through_edge, method)(path, **arguments)
    assert response.status_code == status
    assert django_served == [path]
    alone = getattr(through_django, method)(path, **arguments)
    if status == 302:
        assert _headers_without_values_of_the_click(
            response
        ) == _headers_without_values_of_the_click(alone)
    else:
        assert response.sent_headers == alone.sent_headers


def test_a_new_visitor_of_a_split_gets_an_arm_and_keeps_it(through_edge, split, django_served):
    cached(through_edge, "/p/abtest")
    django_served.clear()
    first = get(through_edge, "/p/abtest")
    arm = first.cookies[f"sl_ab_{split.pk}"]
    assert {"A%20b%2Fc": "/a", "B": "/b"}[arm.value] == urlsplit(first["Location"]).path
    assert arm["httponly"] is True and arm["samesite"] == "Lax"
    for _ in range(10):  # the client sends the cookie back
        assert (
            urlsplit(get(through_edge, "/p/abtest")["Location"]).path
            == urlsplit(first["Location"]).path
        )
    assert django_served == []


def test_a_csrf_cookie_django_would_replace_is_replaced(through_edge, link):
    cached(through_edge, "/p/hoodie")
    response = get(through_edge, "/p/hoodie", HTTP_COOKIE="csrftoken=not-a-token")
    assert "csrftoken" in response.cookies  # Django's CSRF middleware sends a new one


@pytest.mark.parametrize(
    "state",
    ["unknown", "inactive", "expired with a fallback", "expired", "not live yet"],
)
def test_links_that_do_not_redirect_a_shopper_are_answered_by_django(
    through_edge, allowed_domain, django_served, state
):
    now = timezone.now()
    kinds = {
        "inactive": dict(active=False),
        "expired with a fallback": dict(
            expires_at=now - timedelta(seconds=1), fallback_url=f"{SHOP}/new"
        ),
        "expired": dict(expires_at=now - timedelta(seconds=1)),
        "not live yet": dict(starts_at=now + timedelta(hours=1)),
    }
    if state != "unknown":
        services.link_create(url=f"{SHOP}/x", code="state", **kinds[state])
    expected = {"unknown": 404, "inactive": 410, "expired with a fallback": 302,
                "expired": 410, "not live yet": 404}[state]  # fmt: skip
    for _ in range(2):  # the second time the snapshot (or its absence) is cached
        django_served.clear()
        assert get(through_edge, "/p/state").status_code == expected
        assert django_served == ["/p/state"]


def test_a_host_django_refuses_is_refused(through_edge, link, settings, django_served):
    cached(through_edge, "/p/hoodie")
    settings.ALLOWED_HOSTS = ["shop.example.com"]
    django_served.clear()
    assert get(through_edge, "/p/hoodie", HTTP_HOST="evil.example").status_code == 400
    assert django_served == ["/p/hoodie"]
    assert get(through_edge, "/p/hoodie", HTTP_HOST="shop.example.com").status_code == 302
    assert django_served == ["/p/hoodie"]
    drain_all()
    assert ClickEvent.objects.count() == 2  # the one that cached it and the allowed one


def test_plain_http_is_sent_to_https_first_when_ssl_redirect_is_on(link, settings, django_served):
    settings.SECURE_SSL_REDIRECT = True
    client = fresh_application()
    get(client, "/p/hoodie", secure=True)  # cache the snapshot
    django_served.clear()
    response = get(client, "/p/hoodie?size=M", HTTP_HOST="shop.example.com")
    assert response.status_code == 301
    assert response["Location"] == "https://shop.example.com/p/hoodie?size=M"
    assert django_served == ["/p/hoodie"]
    assert get(client, "/p/hoodie", secure=True).status_code == 302
    assert django_served == ["/p/hoodie"]


def test_behind_a_tls_proxy_the_forwarded_scheme_counts(link, settings, django_served):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = fresh_application()
    cached(client, "/p/hoodie", HTTP_X_FORWARDED_PROTO="https")
    django_served.clear()
    response = get(client, "/p/hoodie", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 302
    assert django_served == []
    assert response.cookies["sl_attr"]["secure"] is True
    assert response["Strict-Transport-Security"].startswith("max-age=")


def test_the_edge_can_be_turned_off(through_edge, link, settings, django_served):
    settings.LINK_EDGE = False
    cached(through_edge, "/p/hoodie")
    django_served.clear()
    assert get(through_edge, "/p/hoodie").status_code == 302
    assert django_served == ["/p/hoodie"]


class StampMiddleware:
    """A middleware the edge does not know."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Stamp"] = "1"
        return response


def test_with_a_middleware_it_does_not_know_the_edge_steps_aside(link, settings, django_served):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.links.test_edge.StampMiddleware"]
    client = fresh_application()
    for _ in range(2):
        django_served.clear()
        response = get(client, "/p/hoodie")
        assert response.status_code == 302
        assert response["X-Stamp"] == "1"
        assert django_served == ["/p/hoodie"]


def test_a_relative_destination_is_made_absolute_by_django(
    product_link, settings, django_served, django_capture_on_commit_callbacks
):
    from links import snapshots

    settings.PUBLIC_BASE_URL = ""
    snapshots.invalidate("prod")
    client = WSGIClient()
    for _ in range(2):
        django_served.clear()
        response = get(client, "/p/prod", HTTP_HOST="shop.example.com")
        assert response["Location"].startswith("http://shop.example.com/products/cloud-hoodie/?")
        assert django_served == ["/p/prod"]
    drain_all()
    assert ClickEvent.objects.count() == 2  # planned by the edge, recorded once by Django


def test_the_projects_own_middleware_keeps_the_edge_on(settings):
    """A middleware added to MIDDLEWARE that the edge does not know turns the fast path off
    for every request; this fails first, so whoever adds one decides where it belongs."""
    from config import settings as project

    settings.MIDDLEWARE = project.MIDDLEWARE
    from links.edge import LinkEdge

    assert LinkEdge(django_application).setup() is not None
