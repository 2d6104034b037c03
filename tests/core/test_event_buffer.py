"""The event buffer: pushed to Redis, drained under a lock, applied once by watermark."""

import pytest
from django.db import OperationalError

from core.event_buffer import Event, EventBuffer, parse_item
from core.models import BufferWatermark

pytestmark = pytest.mark.django_db


@pytest.fixture
def applied():
    return []


@pytest.fixture
def buffer(redis_client, applied, settings):
    settings.TEST_BUFFER_URL = settings.REDIS_URL
    buf = EventBuffer(
        "test-events",
        apply=lambda events: applied.extend(e.payload for e in events) or len(events),
        url=lambda: settings.TEST_BUFFER_URL,
    )
    redis_client.delete(buf.list_key, buf.counter_key, buf.epoch_key, buf.lock_key, buf.dead_key)
    yield buf
    redis_client.delete(buf.list_key, buf.counter_key, buf.epoch_key, buf.lock_key, buf.dead_key)


def test_events_are_numbered_in_order_and_applied_once(buffer, applied):
    buffer.push([Event("a"), Event("b")])
    buffer.push([Event("c")])
    seqs = [e.seq for e in buffer.pending()]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert buffer.drain() == 3
    assert applied == ["a", "b", "c"]
    assert buffer.depth() == 0


def test_a_drain_rerun_after_dying_before_the_trim_applies_nothing_twice(
    buffer, applied, redis_client
):
    buffer.push([Event("a"), Event("b")])
    read = redis_client.lrange(buffer.list_key, 0, -1)
    assert buffer.drain() == 2
    redis_client.rpush(buffer.list_key, *read)  # the trim never happened
    buffer.push([Event("c")])
    assert buffer.drain() == 1
    assert applied == ["a", "b", "c"]


def test_a_redis_restart_starts_a_new_epoch_and_nothing_is_skipped(buffer, applied, redis_client):
    buffer.push([Event("a"), Event("b"), Event("c")])
    assert buffer.drain() == 3
    first_epoch = redis_client.get(buffer.epoch_key)
    redis_client.delete(buffer.counter_key, buffer.epoch_key)  # Redis lost its data
    buffer.push([Event("d")])  # numbered 1 again...
    assert buffer.pending()[0].seq == 1
    assert buffer.drain() == 1  # ...but under a new epoch, so it is applied
    assert applied[-1] == "d"
    assert redis_client.get(buffer.epoch_key) != first_epoch
    assert BufferWatermark.objects.filter(buffer="test-events").count() == 2


def test_first_seen_keys_are_marked_within_their_window(buffer, redis_client):
    buffer.push([Event("x", "test:seen:1", 60), Event("y", "test:seen:1", 60), Event("z")])
    flags = [e.first_seen for e in buffer.pending()]
    assert flags == [True, False, False]
    assert 0 < redis_client.ttl("test:seen:1") <= 60
    redis_client.delete("test:seen:1")


def test_an_outage_leaves_the_buffer_as_it_was(buffer, monkeypatch):
    buffer.push([Event("a")])

    def down(events):
        raise OperationalError("connection refused")

    monkeypatch.setattr(buffer, "_apply", down)
    with pytest.raises(OperationalError):
        buffer.drain()
    assert buffer.depth() == 1


def test_without_redis_events_are_held_then_applied_when_due(applied, settings):
    interval = {"seconds": 3600.0}
    buf = EventBuffer(
        "local-events",
        apply=lambda events: applied.extend(e.payload for e in events) or len(events),
        url=lambda: "",
        local_interval=lambda: interval["seconds"],
    )
    buf.record([Event("a")])
    assert applied == [] and [e.payload for e in buf.pending()] == ["a"]
    interval["seconds"] = 0.0  # time is up
    buf.record([Event("b")])
    assert applied == ["a", "b"]
    assert buf.health() == {"status": "ok", "mode": "in-process", "held": 0}


def test_malformed_items_are_recognised():
    assert parse_item(b"abcd:12:1{}").seq == 12
    assert parse_item(b"abcd:12:1{}").first_seen is True
    for bad in (b"\xff", b"nope", b"e:x:1{}", b"e:1:2{}", b"e:1:"):
        assert parse_item(bad) is None
