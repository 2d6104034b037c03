"""Routing rules, table-driven: first match wins, else the A/B split or the default."""

from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from core.errors import ApplicationError
from links import routing, services
from tests.links.helpers import (
    ANDROID_CHROME,
    DESKTOP_CHROME,
    FACEBOOK_ANDROID,
    INSTAGRAM_IOS,
    MOBILE_SAFARI,
    PINTEREST_ANDROID,
    SNAPCHAT_IOS,
    TIKTOK_IOS,
    X_IOS,
    human,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(edge_client):
    """Every request of this module goes through the WSGI application production serves."""
    return edge_client


SHOP = "https://shop.example.com"


@pytest.fixture
def routed(allowed_domain):
    link = services.link_create(url=f"{SHOP}/default", code="routed")
    rules = [
        dict(countries="CA, us", url=f"{SHOP}/north-america"),
        dict(languages="fr", url=f"{SHOP}/fr"),
        dict(languages="de-ch", url=f"{SHOP}/swiss-german"),
        dict(in_app="tiktok", url=f"{SHOP}/tiktok"),
        dict(in_app="instagram", url=f"{SHOP}/instagram"),
        dict(in_app="facebook", url=f"{SHOP}/facebook"),
        dict(in_app="snapchat", url=f"{SHOP}/snapchat"),
        dict(in_app="pinterest", url=f"{SHOP}/pinterest"),
        dict(in_app="x", url=f"{SHOP}/x"),
        dict(device_os="android", url=f"{SHOP}/android"),
        dict(device_os="ios", query_param="promo", query_value="vip", url=f"{SHOP}/ios-vip"),
        dict(query_param="wholesale", url=f"{SHOP}/wholesale"),
        dict(
            active_from=timezone.now() - timedelta(hours=1),
            active_until=timezone.now() + timedelta(hours=1),
            device_os="desktop",
            url=f"{SHOP}/desktop-flash-sale",
        ),
    ]
    services.link_replace_rules(link_id=link.pk, rules=rules)
    return link


CASES = [
    # (user agent, extra headers, query, expected path)
    (MOBILE_SAFARI, {"HTTP_CF_IPCOUNTRY": "US"}, "", "/north-america"),
    (MOBILE_SAFARI, {"HTTP_CF_IPCOUNTRY": "ca"}, "", "/north-america"),
    (MOBILE_SAFARI, {"HTTP_CF_IPCOUNTRY": "GB"}, "", "/default"),
    (MOBILE_SAFARI, {"HTTP_ACCEPT_LANGUAGE": "fr-CA,fr;q=0.9,en;q=0.5"}, "", "/fr"),
    (MOBILE_SAFARI, {"HTTP_ACCEPT_LANGUAGE": "en;q=0.5,fr;q=0.9"}, "", "/fr"),
    (MOBILE_SAFARI, {"HTTP_ACCEPT_LANGUAGE": "de-CH"}, "", "/swiss-german"),
    (MOBILE_SAFARI, {"HTTP_ACCEPT_LANGUAGE": "de-DE"}, "", "/default"),
    # Country comes first in the list, so it wins over language.
    (
        MOBILE_SAFARI,
        {"HTTP_CF_IPCOUNTRY": "CA", "HTTP_ACCEPT_LANGUAGE": "fr"},
        "",
        "/north-america",
    ),
    (TIKTOK_IOS, {}, "", "/tiktok"),
    (INSTAGRAM_IOS, {}, "", "/instagram"),
    (FACEBOOK_ANDROID, {}, "", "/facebook"),
    (SNAPCHAT_IOS, {}, "", "/snapchat"),
    (PINTEREST_ANDROID, {}, "", "/pinterest"),
    (X_IOS, {}, "", "/x"),
    (ANDROID_CHROME, {}, "", "/android"),
    (MOBILE_SAFARI, {}, "?promo=vip", "/ios-vip"),
    (MOBILE_SAFARI, {}, "?promo=other", "/default"),
    (DESKTOP_CHROME, {}, "?wholesale", "/wholesale"),
    (MOBILE_SAFARI, {}, "?wholesale=1", "/wholesale"),
    (DESKTOP_CHROME, {}, "", "/desktop-flash-sale"),
    (MOBILE_SAFARI, {}, "", "/default"),
]


@pytest.mark.parametrize(("agent", "headers", "query", "path"), CASES)
def test_rules_route_by_the_first_match(client, routed, agent, headers, query, path):
    response = human(client, f"/p/routed{query}", user_agent=agent, **headers)
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == path


def test_country_header_name_is_a_setting(client, routed, settings):
    settings.COUNTRY_HEADER_META = "HTTP_X_COUNTRY"
    response = human(client, "/p/routed", HTTP_X_COUNTRY="US", HTTP_CF_IPCOUNTRY="GB")
    assert urlsplit(response["Location"]).path == "/north-america"


def test_a_time_window_outside_now_does_not_match(client, allowed_domain):
    link = services.link_create(url=f"{SHOP}/default", code="later")
    services.link_replace_rules(
        link_id=link.pk,
        rules=[{"active_from": timezone.now() + timedelta(days=1), "url": f"{SHOP}/soon"}],
    )
    assert urlsplit(human(client, "/p/later")["Location"]).path == "/default"


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (dict(countries="USA", url=f"{SHOP}/x"), "countries"),
        (dict(languages="fr_FR!", url=f"{SHOP}/x"), "languages"),
        (dict(url=f"{SHOP}/x"), "__all__"),
        (dict(countries="US", url="https://evil.com/"), "url"),
        (dict(countries="US", url="javascript:alert(1)"), "url"),
        (dict(countries="US"), "url"),
        (dict(query_value="x", url=f"{SHOP}/x"), "query_param"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(allowed_domain, rule, field):
    link = services.link_create(url=f"{SHOP}/default", code="strict")
    with pytest.raises(ApplicationError) as exc:
        services.link_replace_rules(link_id=link.pk, rules=[rule])
    assert f"rules[0].{field}" in exc.value.fields
    assert link.rules.count() == 0


@pytest.fixture
def split(allowed_domain):
    link = services.link_create(url=f"{SHOP}/default", code="abtest")
    services.link_replace_split_arms(
        link_id=link.pk,
        split_arms=[
            {"label": "A", "weight": 75, "url": f"{SHOP}/a"},
            {"label": "B", "weight": 25, "url": f"{SHOP}/b"},
        ],
    )
    return link


def test_split_weights_hold_within_tolerance(split):
    from links import snapshots

    arms = snapshots.build("abtest")["arms"]
    assert [(arm["label"], arm["weight"]) for arm in arms] == [("A", 75), ("B", 25)]
    counts = Counter(routing.pick_arm(arms, None)["label"] for _ in range(20_000))
    assert 0.73 < counts["A"] / 20_000 < 0.77


def test_split_assignment_is_sticky_by_cookie(client, split):
    first = human(client, "/p/abtest")
    arm_path = urlsplit(first["Location"]).path
    cookie = first.cookies[f"sl_ab_{split.pk}"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    for _ in range(30):  # the test client keeps the cookie
        assert urlsplit(human(client, "/p/abtest")["Location"]).path == arm_path


def test_split_over_http_sends_both_arms_by_weight(client, split):
    paths = Counter()
    for _ in range(300):
        client.cookies.clear()
        paths[urlsplit(human(client, "/p/abtest")["Location"]).path] += 1
    assert set(paths) == {"/a", "/b"}
    assert 0.6 < paths["/a"] / 300 < 0.9


def test_stickiness_survives_editing_the_split(client, split, django_capture_on_commit_callbacks):
    first = urlsplit(human(client, "/p/abtest")["Location"]).path
    with django_capture_on_commit_callbacks(execute=True):
        services.link_replace_split_arms(
            link_id=split.pk,
            split_arms=[
                {"label": "A", "weight": 10, "url": f"{SHOP}/a"},
                {"label": "B", "weight": 10, "url": f"{SHOP}/b"},
            ],
        )
    for _ in range(20):
        assert urlsplit(human(client, "/p/abtest")["Location"]).path == first


def test_rules_win_over_the_split(client, split):
    services.link_replace_rules(link_id=split.pk, rules=[{"countries": "US", "url": f"{SHOP}/us"}])
    assert urlsplit(human(client, "/p/abtest", HTTP_CF_IPCOUNTRY="US")["Location"]).path == "/us"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("fr-CA,fr;q=0.9,en;q=0.8", "fr-ca"),
        ("en;q=0.1, de;q=0.7", "de"),
        ("*", ""),
        ("", ""),
        ("fr;q=0", ""),
        ("es;q=abc, it", "it"),
    ],
)
def test_preferred_language(header, language):
    assert routing.preferred_language(header) == language
