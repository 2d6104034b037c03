"""Feed impressions and card clicks: counted in Redis, flushed to UGCMetricDaily in batches.

A beacon (`POST /shop/feed/events`) adds its counts to one Redis hash with HINCRBY in a
single pipelined round trip; fields are `<day>:<item id>:<i|c>` (UTC day). Nothing touches
PostgreSQL on the way in.

The flush job (`ugc.metrics_flush`, every 30 s) takes the counters atomically: a Lua script
renames the live hash to a "flushing" key and stamps it with a batch token, so counts that
arrive meanwhile start a new live hash and wait for the next flush. The batch is added with
`ugc.feed_services.ugc_feed_metrics_apply`, which records the token in the same transaction;
only then is the flushing key deleted. A flush that dies before the commit leaves the key for
the next run; one that dies after the commit leaves a key whose token is already recorded,
so the next run deletes it without adding it twice. One flush runs at a time (a Redis lock).

Without Redis (the embedded default) counts wait in the process and are flushed by the
beacon request itself once UGC_FEED_METRICS_LOCAL_INTERVAL seconds have passed.
"""

import atexit
import logging
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime

import redis
from django.conf import settings

from core import redis_buffers

logger = logging.getLogger(__name__)

# One hash tag: the keys stay in one slot, so the script also runs on Redis Cluster.
LIVE_KEY = "ugc:{feed-metrics}:live"
FLUSHING_KEY = "ugc:{feed-metrics}:flushing"
LOCK_KEY = "ugc:{feed-metrics}:lock"
TOKEN_FIELD = "~token"  # noqa: S105 - a hash field name, not a secret
FIELDS = {"i": "impressions", "c": "clicks"}
CODES = {name: code for code, name in FIELDS.items()}

# KEYS: live, flushing. ARGV: a new batch token, the token field. Returns the batch to apply
# (flat HGETALL): a batch left by a flush that did not finish comes first, else the live hash.
TAKE_SCRIPT = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
end
return redis.call('HGETALL', KEYS[2])
"""
# KEYS: lock, flushing. ARGV: our lock token. Delete the applied batch if we still lead.
DONE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""

_client = None


def buffer_enabled() -> bool:
    return bool(settings.UGC_FEED_METRICS_URL)


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis_buffers.connect(
            settings.UGC_FEED_METRICS_URL, take_batch=TAKE_SCRIPT, finish_batch=DONE_SCRIPT
        )
    return _client


def today() -> date:
    return datetime.now(UTC).date()


def record(*, impressions: list[int], clicks: list[int], day: date | None = None) -> int:
    """Count feed events (ids already validated). Returns how many were counted."""
    day = day or today()
    counts: Counter[str] = Counter()
    for name, ids in (("impressions", impressions), ("clicks", clicks)):
        for item_id in dict.fromkeys(ids):  # one beacon counts an item once per kind
            counts[f"{day.isoformat()}:{item_id}:{CODES[name]}"] += 1
    if not counts:
        return 0
    if buffer_enabled():
        # Counts kept in the process while Redis was down go along with these.
        held = _local.take()
        try:
            pipe = client().pipeline(transaction=False)
            for field, n in (counts + held).items():
                pipe.hincrby(LIVE_KEY, field, n)
            pipe.execute()
            return sum(counts.values())
        except redis.RedisError:
            # Kept in the process instead. (A reply lost after Redis applied them, which
            # only a 2-second read timeout could cause, would count them twice.)
            logger.warning("ugc.feed_events.redis_down", extra={"count": counts.total()})
            _local.add(held)
    _local.add(counts)
    if _local.due():
        try:
            _local.flush()
        except Exception:
            logger.exception("ugc.metrics_flush.local_failed")
    return sum(counts.values())


def parse_batch(fields: dict) -> tuple[str | None, dict[tuple[int, date, str], int]]:
    """(token, {(item_id, day, field): n}) from a buffered hash; malformed fields are dropped."""
    token = None
    counts: dict[tuple[int, date, str], int] = {}
    for raw_key, raw_value in fields.items():
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        value = raw_value.decode() if isinstance(raw_value, bytes) else raw_value
        if key == TOKEN_FIELD:
            token = value
            continue
        try:
            day_text, item_text, code = key.split(":")
            parsed = (int(item_text), date.fromisoformat(day_text), FIELDS[code])
            n = int(value)
        except (ValueError, KeyError):
            logger.error("ugc.metrics_flush.malformed", extra={"field": key[:80]})
            continue
        if n > 0:
            counts[parsed] = counts.get(parsed, 0) + n
    return token, counts


def flush(*, max_batches: int = 5) -> int:
    """Move the buffered counters to UGCMetricDaily. Returns how many events were added."""
    from ugc.services.feed import ugc_feed_metrics_apply

    if not buffer_enabled():
        return _local.flush()
    r = client()
    lock_token = uuid.uuid4().hex
    if not r.set(LOCK_KEY, lock_token, nx=True, ex=settings.UGC_FEED_METRICS_LOCK_TTL):
        logger.info("ugc.metrics_flush.busy")
        return 0
    added = 0
    try:
        for _ in range(max_batches):
            flat = r.take_batch(keys=[LIVE_KEY, FLUSHING_KEY], args=[uuid.uuid4().hex, TOKEN_FIELD])
            if not flat:
                break
            token, counts = parse_batch(dict(zip(flat[::2], flat[1::2], strict=True)))
            rows = ugc_feed_metrics_apply(token=token or uuid.uuid4().hex, counts=counts)
            if rows is not None:
                added += sum(counts.values())
            if not r.finish_batch(keys=[LOCK_KEY, FLUSHING_KEY], args=[lock_token]):
                logger.warning("ugc.metrics_flush.lock_lost")
                break
    finally:
        r.release_lock(keys=[LOCK_KEY], args=[lock_token])
    if added:
        logger.info("ugc.metrics_flush.done", extra={"events": added})
    return added


def pending() -> dict[tuple[int, date, str], int]:
    """Counters not flushed yet (for tests and the console)."""
    if not buffer_enabled():
        return dict(_local.counts_snapshot())
    r = client()
    totals: dict[tuple[int, date, str], int] = {}
    for key in (FLUSHING_KEY, LIVE_KEY):
        _, counts = parse_batch(r.hgetall(key))
        for k, n in counts.items():
            totals[k] = totals.get(k, 0) + n
    return totals


class _LocalBuffer:
    """The in-process buffer used without Redis (one web process: the embedded default)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._last_flush = time.monotonic()

    def add(self, counts: Counter) -> None:
        with self._lock:
            self._counts.update(counts)

    def take(self) -> Counter:
        """Everything held, leaving the buffer empty."""
        with self._lock:
            taken, self._counts = self._counts, Counter()
            return taken

    def due(self) -> bool:
        return time.monotonic() - self._last_flush >= settings.UGC_FEED_METRICS_LOCAL_INTERVAL

    def counts_snapshot(self) -> dict:
        with self._lock:
            return parse_batch(dict(self._counts))[1]

    def flush(self) -> int:
        from ugc.services.feed import ugc_feed_metrics_apply

        with self._lock:
            taken, self._counts = self._counts, Counter()
            self._last_flush = time.monotonic()
        if not taken:
            return 0
        _, counts = parse_batch(dict(taken))
        try:
            ugc_feed_metrics_apply(token=uuid.uuid4().hex, counts=counts)
        except Exception:
            self.add(taken)  # put them back for the next flush
            raise
        return sum(counts.values())


_local = _LocalBuffer()


@atexit.register
def _flush_at_exit() -> None:  # pragma: no cover - process teardown
    if _local.counts_snapshot():
        try:
            _local.flush()
        except Exception:
            logger.exception("ugc.metrics_flush.lost_at_exit")
