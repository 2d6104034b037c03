"""Click capture: buffered in Redis, drained to PostgreSQL, nothing lost, nothing doubled."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import OperationalError, connections, transaction

from core.event_buffer import Event
from links import clicks, snapshots
from links.models import ClickEvent, LinkDailyStats
from tests.links.helpers import ANDROID_CHROME, MOBILE_SAFARI, TIKTOK_IOS, drain_all, human


@pytest.fixture
def client(edge_client):
    """Every request of this module goes through the WSGI application production serves."""
    return edge_client


def buffered() -> int:
    """Clicks waiting in the Redis buffer, once this process has handed over its own."""
    assert clicks.flush()
    return clicks.buffer_depth()


@pytest.mark.django_db
def test_a_click_is_buffered_then_drained_with_its_details(client, link, creator):
    human(
        client, "/p/hoodie?qr=1", user_agent=TIKTOK_IOS, REMOTE_ADDR="203.0.113.77",
        HTTP_CF_IPCOUNTRY="FR", HTTP_REFERER="https://www.tiktok.com/@maya/video/1",
    )  # fmt: skip
    assert ClickEvent.objects.count() == 0  # not written by the request
    assert buffered() == 1
    assert drain_all() == 1
    assert buffered() == 0
    click = ClickEvent.objects.get()
    assert click.link == link
    assert click.creator == creator
    assert click.country == "FR"
    assert (click.device_type, click.os, click.in_app) == ("mobile", "iOS", "tiktok")
    assert click.referrer_host == "www.tiktok.com"
    assert (click.utm_source, click.utm_medium, click.utm_campaign) == (
        "tiktok",
        "creator",
        "spring",
    )
    assert click.is_qr is True
    assert click.is_bot is False
    assert click.is_unique is True
    assert click.route == "default"
    # Never the raw address: its /24 and a keyed hash.
    assert click.network == "203.0.113.0/24"
    assert "203.0.113.77" not in click.visitor_hash
    assert len(click.visitor_hash) == 32
    stats = LinkDailyStats.objects.get()
    assert (stats.clicks, stats.unique_clicks, stats.bot_hits, stats.qr_scans) == (1, 1, 0, 1)


@pytest.mark.django_db
def test_the_click_id_in_the_url_is_the_stored_one(client, link):
    from tests.links.helpers import query_of

    click_id = query_of(human(client, "/p/hoodie"))["slclid"]
    drain_all()
    assert ClickEvent.objects.get().click_id.hex == click_id


@pytest.mark.django_db
def test_ipv6_is_truncated_to_its_48(client, link):
    human(client, "/p/hoodie", REMOTE_ADDR="2001:db8:abcd:12:1:2:3:4")
    drain_all()
    assert ClickEvent.objects.get().network == "2001:db8:abcd::/48"


@pytest.mark.django_db
def test_repeat_clicks_in_the_window_are_not_unique(client, link):
    for _ in range(3):
        human(client, "/p/hoodie", REMOTE_ADDR="198.51.100.1")
    human(client, "/p/hoodie", REMOTE_ADDR="198.51.100.2")
    human(client, "/p/hoodie", REMOTE_ADDR="198.51.100.1", user_agent=ANDROID_CHROME)
    drain_all()
    assert ClickEvent.objects.count() == 5
    assert ClickEvent.objects.filter(is_unique=True).count() == 3
    stats = LinkDailyStats.objects.get()
    assert (stats.clicks, stats.unique_clicks) == (5, 3)


@pytest.mark.django_db
def test_the_unique_window_is_a_setting(client, link, settings, redis_client):
    settings.CLICK_UNIQUE_WINDOW = 120
    human(client, "/p/hoodie", REMOTE_ADDR="198.51.100.1")
    buffered()
    keys = redis_client.keys(f"{clicks.UNIQUE_PREFIX}*")
    assert len(keys) == 1
    assert 100 < redis_client.ttl(keys[0]) <= 120


@pytest.mark.django_db
def test_visitor_hash_key_changes_every_day():
    from datetime import UTC, datetime

    from links.visitors import visitor_hash

    monday = visitor_hash("198.51.100.1", MOBILE_SAFARI, now=datetime(2026, 11, 23, tzinfo=UTC))
    again = visitor_hash("198.51.100.1", MOBILE_SAFARI, now=datetime(2026, 11, 23, 9, tzinfo=UTC))
    tuesday = visitor_hash("198.51.100.1", MOBILE_SAFARI, now=datetime(2026, 11, 24, tzinfo=UTC))
    assert monday == again
    assert monday != tuesday


@pytest.mark.django_db
def test_a_drain_that_died_before_trimming_is_rerun_without_duplicates(client, link, redis_client):
    for n in range(10):
        human(client, "/p/hoodie", REMOTE_ADDR=f"198.51.100.{n}")
    # A drain applies the first six and dies before it trims the buffer.
    buffered()
    _first_six = redis_client.lrange(clicks.buffer.list_key, 0, 5)
    assert clicks.drain(batch_size=6, time_budget=0) == 6
    redis_client.lpush(clicks.buffer.list_key, *reversed(_first_six))  # as if never trimmed
    assert buffered() == 10
    # The next drain reads all ten again: the watermark skips the six, four are new.
    assert drain_all() == 4
    assert buffered() == 0
    assert ClickEvent.objects.count() == 10
    stats = LinkDailyStats.objects.get()
    assert (stats.clicks, stats.unique_clicks) == (10, 10)


@pytest.mark.django_db
def test_only_one_drain_runs_at_a_time(client, link, redis_client):
    human(client, "/p/hoodie")
    buffered()
    redis_client.set(clicks.buffer.lock_key, "someone-else", ex=60)
    assert clicks.drain() == 0
    assert buffered() == 1


@pytest.mark.django_db
def test_a_drain_that_lost_its_lock_does_not_trim(client, link, redis_client, monkeypatch):
    for n in range(3):
        human(client, "/p/hoodie", REMOTE_ADDR=f"198.51.100.{n}")
    real_apply = clicks.buffer._apply

    def apply_then_lose_lock(events):
        inserted = real_apply(events)
        redis_client.set(clicks.buffer.lock_key, "another-drain")  # ours expired, another took it
        return inserted

    monkeypatch.setattr(clicks.buffer, "_apply", apply_then_lose_lock)
    buffered()
    assert clicks.drain() == 3
    assert buffered() == 3  # left for the drain that holds the lock
    assert redis_client.get(clicks.buffer.lock_key) == b"another-drain"
    monkeypatch.setattr(clicks.buffer, "_apply", real_apply)
    redis_client.delete(clicks.buffer.lock_key)
    assert drain_all() == 0  # the watermark: the other drain applies nothing twice
    assert ClickEvent.objects.count() == 3


@pytest.mark.django_db
def test_malformed_buffer_items_are_set_aside(client, link, redis_client):
    human(client, "/p/hoodie")
    buffered()
    redis_client.rpush(clicks.buffer.list_key, b"\xff not json")
    assert drain_all() == 1
    assert redis_client.lrange(clicks.buffer.dead_key, 0, -1) == [b"\xff not json"]
    assert buffered() == 0


@pytest.mark.django_db
def test_clicks_of_a_deleted_link_are_dropped_not_stuck(client, link, redis_client):
    from links.models import ShortLink

    human(client, "/p/hoodie")
    ShortLink.objects.filter(pk=link.pk).delete()
    assert drain_all() == 0
    assert buffered() == 0


@pytest.mark.django_db
def test_without_redis_clicks_are_written_inline(client, link, settings):
    settings.CLICK_BUFFER_URL = ""
    human(client, "/p/hoodie", REMOTE_ADDR="198.51.100.1")
    human(client, "/p/hoodie", REMOTE_ADDR="198.51.100.1")
    assert ClickEvent.objects.count() == 2
    assert ClickEvent.objects.filter(is_unique=True).count() == 1
    assert LinkDailyStats.objects.get().clicks == 2


@pytest.mark.django_db
def test_healthz_shows_the_buffer_and_degrades_past_the_threshold(client, link, settings):
    settings.CLICK_BUFFER_DEGRADED_DEPTH = 2
    for _ in range(2):
        human(client, "/p/hoodie")
    buffered()
    body = client.get("/healthz").json()
    assert body["checks"]["click_buffer"] == {"status": "ok", "depth": 2, "threshold": 2}
    human(client, "/p/hoodie")
    buffered()
    response = client.get("/healthz")
    assert response.status_code == 200  # still serving
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["click_buffer"]["status"] == "degraded"


class DatabaseSwitch:
    """Points the default connection at a port where nothing listens, and back."""

    def __init__(self):
        self.connection = connections["default"]
        self.port = self.connection.settings_dict["PORT"]

    def down(self):
        self.connection.close()
        self.connection.settings_dict["PORT"] = "1"

    def up(self):
        self.connection.close()
        self.connection.settings_dict["PORT"] = self.port


@pytest.fixture
def database():
    switch = DatabaseSwitch()
    yield switch
    switch.up()


@pytest.mark.django_db(transaction=True)
def test_with_postgres_down_redirects_work_and_clicks_wait_in_the_buffer(client, link, database):
    human(client, "/p/hoodie")  # the snapshot is cached while the database is up
    drain_all()
    database.down()
    with pytest.raises(OperationalError):
        ClickEvent.objects.count()  # it really is unreachable

    for n in range(20):
        assert human(client, "/p/hoodie", REMOTE_ADDR=f"198.51.100.{n}").status_code == 302
    assert buffered() == 20
    with pytest.raises(OperationalError):
        clicks.drain()
    assert buffered() == 20  # nothing was lost by the failed drain

    database.up()
    assert drain_all() == 20
    assert ClickEvent.objects.count() == 21


@pytest.mark.django_db(transaction=True)
def test_concurrent_redirects_on_one_link_are_all_counted(live_server, link):
    requests_per_worker, workers = 50, 8
    session_local = threading.local()

    def hit(n):
        session = getattr(session_local, "session", None) or requests.Session()
        session_local.session = session
        response = session.get(
            f"{live_server.url}/p/hoodie?n={n}",
            headers={"User-Agent": MOBILE_SAFARI},
            allow_redirects=False,
            timeout=10,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=workers) as pool:
        statuses = list(pool.map(hit, range(requests_per_worker * workers)))
    assert statuses == [302] * (requests_per_worker * workers)
    assert drain_all() == requests_per_worker * workers
    assert ClickEvent.objects.filter(link=link, is_bot=False).count() == 400
    assert LinkDailyStats.objects.get(link=link).clicks == 400


@pytest.mark.django_db
def test_snapshot_cache_keeps_working_without_the_cache_server(client, link, settings):
    snapshots._local.clear()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    assert human(client, "/p/hoodie").status_code == 302


@pytest.mark.django_db
def test_a_click_postgres_refuses_is_set_aside_and_the_drain_goes_on(client, link, redis_client):
    import json

    human(client, "/p/hoodie", REMOTE_ADDR="198.51.100.1")
    buffered()
    good = json.loads(clicks.buffer.pending()[0].payload)
    bad = {**good, "click_id": clicks.new_click_id(), "country": "FRA"}  # too long for the column
    clicks.buffer.push([Event(json.dumps(bad))])
    human(client, "/p/hoodie", REMOTE_ADDR="198.51.100.2")
    assert drain_all() == 2
    assert clicks.buffer_depth() == 0
    dead = redis_client.lrange(clicks.buffer.dead_key, 0, -1)
    assert len(dead) == 1 and b'"FRA"' in dead[0]


@pytest.mark.django_db
def test_the_inline_path_remembers_visitors_where_the_buffer_does(client, link):
    from links.views import visitor_hash

    click = {"link_id": link.pk, "visitor_hash": visitor_hash("198.51.100.9", MOBILE_SAFARI),
             "is_bot": False}  # fmt: skip
    assert clicks.buffer._first_seen_locally(clicks._event(click)) is True
    human(client, "/p/hoodie", REMOTE_ADDR="198.51.100.9")  # through the Lua script
    drain_all()
    assert ClickEvent.objects.get().is_unique is False


@pytest.mark.django_db
def test_the_generic_insert_path_counts_like_the_postgres_one(client, link, monkeypatch):
    """The path SQLite (the embedded default) takes, run here on PostgreSQL."""
    from django.db import connection

    for n in range(3):
        human(client, "/p/hoodie", REMOTE_ADDR=f"198.51.100.{n % 2}")
    client.get("/p/hoodie", HTTP_USER_AGENT="Twitterbot/1.0")
    buffered()
    events = clicks.buffer.pending()
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with transaction.atomic():
        assert clicks.apply(events) == 4
    with transaction.atomic():
        assert clicks.apply(events) == 0  # stored once
    stats = LinkDailyStats.objects.get()
    assert (stats.clicks, stats.unique_clicks, stats.bot_hits) == (3, 2, 1)


@pytest.mark.django_db
def test_forwarded_for_is_read_from_the_trusted_end(client, link, settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.CLIENT_IP_HOPS = 1
    for spoofed in ("1.2.3.4", "5.6.7.8"):
        human(client, "/p/hoodie", HTTP_X_FORWARDED_FOR=f"{spoofed}, 203.0.113.50")
    drain_all()
    assert set(ClickEvent.objects.values_list("network", flat=True)) == {"203.0.113.0/24"}
    assert ClickEvent.objects.filter(is_unique=True).count() == 1
