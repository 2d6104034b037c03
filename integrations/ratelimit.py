"""Token buckets per destination and account, shared by every worker through Redis.

Contract:
- `take(key, rate, burst)` returns 0 when a request may go now (a token was taken), else the
  seconds to wait before asking again (no token was taken). The bucket refills at `rate`
  tokens a second up to `burst`. Redis's own clock (`TIME`) is used, so workers on
  different machines agree.
- `pause(key, seconds)` empties the bucket and holds it shut for `seconds`: a 429 with
  `Retry-After` seen by one worker stops every worker sending to that account.
- `acquire(key, rate, burst, deadline)` waits (sleeping) until a token is taken, or raises
  `RateLimitTimeout` when the wait would pass `deadline` (a monotonic time).
- `lock(name, ttl)` is a Redis lock with a token of its own (one push per connection);
  `release` deletes it only while it still holds that token.
- Without INTEGRATIONS_REDIS_URL (the embedded default) buckets and locks live in this
  process, which is right for one process and nothing else.
"""

import secrets
import threading
import time

from django.conf import settings

from core.redis_client import connect

PREFIX = "integrations:bucket:"
LOCK_PREFIX = "integrations:lock:"

# KEYS[1]: the bucket. ARGV: rate (tokens/s), burst, cost. Returns wait in microseconds.
TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'paused_until')
local paused = tonumber(state[3]) or 0
if paused > now then
  return paused - now
end
local tokens = tonumber(state[1])
local ts = tonumber(state[2]) or now
if tokens == nil then tokens = burst end
tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = math.ceil((cost - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 60000)
return wait
"""
# KEYS[1]: the bucket. ARGV: seconds to hold it shut.
PAUSE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untill = now + math.floor(tonumber(ARGV[1]) * 1000000)
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused_until')) or 0
if untill > paused then
  redis.call('HSET', KEYS[1], 'paused_until', tostring(untill), 'tokens', '0', 'ts',
             tostring(untill))
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000) + 60000)
return 1
"""


class RateLimitTimeout(Exception):
    """Waiting for a token would pass the caller's deadline."""


_client = None
_client_url = None
_local_lock = threading.Lock()
_local_buckets: dict[str, list[float]] = {}  # key -> [tokens, monotonic ts, paused_until]
_local_locks: dict[str, tuple[str, float]] = {}


def client():
    global _client, _client_url
    url = settings.INTEGRATIONS_REDIS_URL
    if _client is None or _client_url != url:
        _client = connect(url, take=TAKE_SCRIPT, pause=PAUSE_SCRIPT)
        _client_url = url
    return _client


def _uses_redis() -> bool:
    return bool(settings.INTEGRATIONS_REDIS_URL)


def bucket_key(platform: str, account: str) -> str:
    return f"{PREFIX}{platform}:{account}"


def take(key: str, rate: float, burst: int, cost: int = 1) -> float:
    if _uses_redis():
        return int(client().take(keys=[key], args=[rate, burst, cost])) / 1_000_000
    now = time.monotonic()
    with _local_lock:
        tokens, ts, paused = _local_buckets.get(key, [float(burst), now, 0.0])
        if paused > now:
            return paused - now
        tokens = min(float(burst), tokens + (now - ts) * rate)
        wait = 0.0
        if tokens >= cost:
            tokens -= cost
        else:
            wait = (cost - tokens) / rate
        _local_buckets[key] = [tokens, now, paused]
        return wait


def pause(key: str, seconds: float) -> None:
    if _uses_redis():
        client().pause(keys=[key], args=[max(0.0, float(seconds))])
        return
    until = time.monotonic() + seconds
    with _local_lock:
        state = _local_buckets.get(key, [0.0, until, 0.0])
        if until > state[2]:
            _local_buckets[key] = [0.0, until, until]


def acquire(key: str, rate: float, burst: int, *, deadline: float | None = None) -> float:
    """Wait for a token; returns the seconds waited."""
    waited = 0.0
    while True:
        wait = take(key, rate, burst)
        if wait <= 0:
            return waited
        if deadline is not None and time.monotonic() + wait > deadline:
            raise RateLimitTimeout(f"the rate limit would hold this request {wait:.1f} s")
        time.sleep(wait)
        waited += wait


def lock(name: str, ttl: int) -> str | None:
    """Take the lock `name` for `ttl` seconds; returns its token, or None if it is held."""
    token = secrets.token_hex(16)
    if _uses_redis():
        return token if client().set(LOCK_PREFIX + name, token, nx=True, ex=ttl) else None
    now = time.monotonic()
    with _local_lock:
        held = _local_locks.get(name)
        if held and held[1] > now:
            return None
        _local_locks[name] = (token, now + ttl)
    return token


def release(name: str, token: str) -> None:
    if _uses_redis():
        client().release_lock(keys=[LOCK_PREFIX + name], args=[token])
        return
    with _local_lock:
        if _local_locks.get(name, ("",))[0] == token:
            del _local_locks[name]


def reset_local() -> None:
    """Forget in-process buckets and locks (tests)."""
    with _local_lock:
        _local_buckets.clear()
        _local_locks.clear()
