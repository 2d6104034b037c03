"""The token buckets in Redis, shared by every worker, and the push locks."""

import os

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations import http, ratelimit


def test_a_bucket_gives_its_burst_then_says_how_long_to_wait():
    key = ratelimit.bucket_key("tiktok_shop", "bucket-test-1")
    assert [ratelimit.take(key, 1.0, 3) for _ in range(3)] == [0, 0, 0]
    wait = ratelimit.take(key, 1.0, 3)
    assert 0 < wait <= 1.0


def test_two_workers_share_one_bucket():
    """Another Redis client (another worker) sees the tokens this one took."""
    key = ratelimit.bucket_key("meta", "bucket-test-2")
    assert ratelimit.take(key, 0.5, 2) == 0
    other = redis.Redis.from_url(os.environ["REDIS_URL"])
    script = other.register_script(ratelimit.TAKE_SCRIPT)
    assert int(script(keys=[key], args=[0.5, 2, 1])) == 0
    assert int(script(keys=[key], args=[0.5, 2, 1])) > 0  # both tokens are gone


def test_a_pause_holds_the_bucket_shut_for_every_worker():
    key = ratelimit.bucket_key("google", "bucket-test-3")
    ratelimit.pause(key, 30)
    wait = ratelimit.take(key, 100.0, 100)
    assert 29 < wait <= 30
    ratelimit.pause(key, 5)  # a shorter pause does not shorten a longer one
    assert ratelimit.take(key, 100.0, 100) > 25


def test_acquire_gives_up_rather_than_pass_its_deadline():
    import time

    key = ratelimit.bucket_key("google", "bucket-test-4")
    ratelimit.pause(key, 60)
    with pytest.raises(ratelimit.RateLimitTimeout):
        ratelimit.acquire(key, 1.0, 1, deadline=time.monotonic() + 1)


def test_a_lock_is_held_once_and_released_only_by_its_holder():
    token = ratelimit.lock("push:test", ttl=30)
    assert token is not None
    assert ratelimit.lock("push:test", ttl=30) is None
    ratelimit.release("push:test", "not-the-token")
    assert ratelimit.lock("push:test", ttl=30) is None
    ratelimit.release("push:test", token)
    second = ratelimit.lock("push:test", ttl=30)
    assert second is not None
    ratelimit.release("push:test", second)


def test_without_redis_the_buckets_live_in_the_process(settings):
    settings.INTEGRATIONS_REDIS_URL = ""
    key = ratelimit.bucket_key("meta", "local")
    assert ratelimit.take(key, 1.0, 1) == 0
    assert ratelimit.take(key, 1.0, 1) > 0
    ratelimit.pause(key, 10)
    assert ratelimit.take(key, 1.0, 1) > 9


@settings(max_examples=60, deadline=None)
@given(attempt=st.integers(min_value=1, max_value=30))
def test_backoff_grows_exponentially_with_jitter_under_its_cap(attempt):
    from django.conf import settings as django_settings

    base, cap = django_settings.INTEGRATIONS_RETRY_BASE, django_settings.INTEGRATIONS_RETRY_CAP
    ceiling = min(cap, base * 2 ** (attempt - 1))
    wait = http.backoff(attempt)
    assert ceiling / 2 <= wait <= ceiling


def test_retry_after_reads_seconds_and_http_dates():
    import email.utils
    from datetime import UTC, datetime, timedelta

    import requests

    response = requests.Response()
    response.headers["Retry-After"] = "7"
    assert http.retry_after(response) == 7.0
    when = datetime.now(UTC) + timedelta(seconds=30)
    response.headers["Retry-After"] = email.utils.format_datetime(when, usegmt=True)
    assert 25 < http.retry_after(response) <= 30
    response.headers["Retry-After"] = "soon"
    assert http.retry_after(response) is None
