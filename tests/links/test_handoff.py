"""The in-process handoff of clicks to Redis: retried, bounded, flushed at exit."""

import threading

import pytest
import redis

from core.event_buffer import PUSH_SCRIPT
from core.redis_client import connect
from links import clicks
from links.handoff import Handoff
from links.models import ClickEvent
from tests.links.helpers import drain_all, human


@pytest.fixture
def client(edge_client):
    """Every request of this module goes through the WSGI application production serves."""
    return edge_client


class FlakyRedis:
    def __init__(self, failures: int):
        self.failures = failures
        self.sent = []
        self.gate = threading.Event()
        self.gate.set()

    def send(self, batch):
        self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise redis.ConnectionError("down")
        self.sent.extend(batch)


def test_a_failed_batch_is_retried_until_redis_takes_it():
    target = FlakyRedis(failures=3)
    spilled = []
    handoff = Handoff(target.send, spilled.extend)
    for n in range(100):
        handoff.put(n)
    assert handoff.flush(timeout=10)
    assert target.sent == list(range(100))
    assert spilled == []


def test_past_the_bound_clicks_go_to_the_database_instead(settings):
    settings.CLICK_HANDOFF_MAX_QUEUE = 3
    target = FlakyRedis(failures=0)
    target.gate.clear()  # Redis hangs
    spilled = []
    handoff = Handoff(target.send, spilled.extend)
    for n in range(5):
        handoff.put(n)
    assert spilled == [3, 4]
    target.gate.set()
    assert handoff.flush(timeout=10)
    assert target.sent == [0, 1, 2]


def test_at_exit_what_redis_cannot_take_goes_to_the_database():
    target = FlakyRedis(failures=10_000)
    spilled = []
    handoff = Handoff(target.send, spilled.extend)
    for n in range(4):
        handoff.put(n)
    handoff.close()
    assert sorted(spilled) == [0, 1, 2, 3]
    assert handoff.flush(timeout=0.1)


@pytest.mark.django_db
def test_with_redis_down_redirects_work_and_clicks_arrive_once_it_is_back(
    client, link, monkeypatch
):
    human(client, "/p/hoodie")  # cache the link's snapshot
    drain_all()
    working = clicks.buffer.client()
    dead = connect("redis://127.0.0.1:1/0", push_events=PUSH_SCRIPT)
    dead.connection_pool.connection_kwargs["socket_connect_timeout"] = 0.2
    monkeypatch.setattr(clicks.buffer, "_client", dead)
    for n in range(10):
        assert human(client, "/p/hoodie", REMOTE_ADDR=f"198.51.100.{n}").status_code == 302
    assert not clicks.flush(timeout=0.5)  # still waiting for Redis
    monkeypatch.setattr(clicks.buffer, "_client", working)
    assert drain_all() == 10
    assert ClickEvent.objects.count() == 11


def test_a_batch_that_fails_for_another_reason_goes_to_the_database():
    spilled = []

    def broken(batch):
        raise TypeError("a bug")

    handoff = Handoff(broken, spilled.extend)
    for n in range(3):
        handoff.put(n)
    assert handoff.flush(timeout=10)
    assert sorted(spilled) == [0, 1, 2]
    handoff.put(3)  # the flusher thread is still alive
    assert handoff.flush(timeout=10)
    assert sorted(spilled) == [0, 1, 2, 3]


def test_at_exit_a_batch_still_being_sent_goes_to_the_database():
    started, release = threading.Event(), threading.Event()
    spilled = []

    def slow(batch):
        started.set()
        release.wait(10)  # Redis hangs until the socket times out
        raise redis.TimeoutError("timed out")

    handoff = Handoff(slow, spilled.extend)
    for n in range(5):
        handoff.put(n)
    assert started.wait(5)
    handoff.close()  # gives up after its own timeout
    release.set()
    assert sorted(spilled) == [0, 1, 2, 3, 4]
