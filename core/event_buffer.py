"""Event buffers: events appended to Redis on a hot path, drained to PostgreSQL in batches and
applied exactly once. Clicks (`links/clicks.py`) and feed metrics (`ugc/metrics.py`) use it.

Contract:
- `push(events)`: one round trip. A Lua script gives each event the next sequence number of
  the buffer and appends it to the buffer's Redis list; an event that names a first-seen key
  learns, in the same step, whether that key was new within its window (SET NX EX: the
  clicks' unique visitors).
- `drain()`: one drain at a time (a Redis lock with a token of its own). It reads the head of
  the list and, in one PostgreSQL transaction, applies the events whose sequence number is
  above the buffer's watermark and moves the watermark to the last one read; only after that
  commit does it trim what it read, and only while it still holds the lock. A drain that dies
  before trimming is simply run again: the watermark turns the repeat into a no-op, so nothing
  is lost and nothing is applied twice.
- An event the database refuses (bad data, not an outage) is set aside in a dead-letter list
  after the batch is retried one event at a time, so one bad event cannot stop the drain. An
  outage (PostgreSQL unreachable) raises and leaves the buffer as it was.
- Redis keeps nothing on disk, so a restart loses the sequence counter: each run of the
  counter has an epoch (a random id chosen when the counter is created) and watermarks are
  kept per epoch, so numbering from 1 again is never mistaken for a repeat.
- Without a Redis URL (the embedded default) or while Redis is down, events are held in the
  process and applied when `local_interval` seconds have passed (0: at once), and at exit.
- `depth()` and `health()` feed /healthz.

The applier, `apply(events: list[Buffered]) -> int`, runs inside the drain's transaction;
it may also be handed the same event twice on the roads that bypass the watermark (held
events re-sent after Redis came back), so appliers that must never count twice dedupe by an
id of their own too (clicks insert ON CONFLICT (click_id)).
"""

from __future__ import annotations

import atexit
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, transaction

from core.redis_client import connect

logger = logging.getLogger(__name__)

# KEYS: list, counter, epoch, then each event's first-seen key.
# ARGV: a new epoch (used if the counter must start again), then per event its window in
# seconds (0: no first-seen check) and its payload. Stored as "<epoch>:<seq>:<0|1><payload>".
PUSH_SCRIPT = """
local list, counter, epochkey = KEYS[1], KEYS[2], KEYS[3]
local n = #KEYS - 3
local epoch = redis.call('GET', epochkey)
if (not epoch) or redis.call('EXISTS', counter) == 0 then
  epoch = ARGV[1]
  redis.call('SET', epochkey, epoch)
  redis.call('SET', counter, 0)
end
local last = redis.call('INCRBY', counter, n)
local items = {}
for i = 1, n do
  local window = tonumber(ARGV[2 * i])
  local first = '0'
  if window > 0 and redis.call('SET', KEYS[3 + i], '1', 'NX', 'EX', window) then
    first = '1'
  end
  items[i] = epoch .. ':' .. (last - n + i) .. ':' .. first .. ARGV[2 * i + 1]
end
return redis.call('RPUSH', list, unpack(items))
"""
# KEYS: the lock, the list. ARGV: our lock token, how many items were read.
TRIM_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('LTRIM', KEYS[2], ARGV[2], -1)
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Event:
    """What a producer pushes: a payload (text, usually JSON) and an optional first-seen key."""

    payload: str
    first_seen_key: str = ""
    window: int = 0  # seconds `first_seen_key` is remembered; 0: not checked


@dataclass(frozen=True)
class Buffered:
    """What the applier receives. `seq` is 0 for events applied without Redis."""

    payload: str
    first_seen: bool
    epoch: str = ""
    seq: int = 0


class EventBuffer:
    def __init__(
        self,
        name: str,
        *,
        apply: Callable[[list[Buffered]], int],
        url: Callable[[], str],
        batch_size: Callable[[], int] = lambda: 5000,
        time_budget: Callable[[], float] = lambda: 50.0,
        lock_ttl: Callable[[], int] = lambda: 90,
        degraded_depth: Callable[[], int] = lambda: 100_000,
        local_interval: Callable[[], float] = lambda: 0.0,
    ):
        self.name = name
        self._apply = apply
        self._url, self._batch_size, self._time_budget = url, batch_size, time_budget
        self._lock_ttl, self._degraded_depth = lock_ttl, degraded_depth
        self._local_interval = local_interval
        prefix = f"buf:{{{name}}}"  # one hash tag: the buffer's own keys share a slot
        self.list_key, self.dead_key = f"{prefix}:list", f"{prefix}:dead"
        self.lock_key, self.counter_key, self.epoch_key = (
            f"{prefix}:lock", f"{prefix}:seq", f"{prefix}:epoch",
        )  # fmt: skip
        self._client: redis.Redis | None = None
        self._client_url = ""
        self._held: list[Buffered] = []
        self._held_lock = threading.Lock()
        self._last_local_apply = time.monotonic()
        atexit.register(self._apply_held_at_exit)

    # -- producing ----------------------------------------------------------------------
    def enabled(self) -> bool:
        """True when events go through Redis (a URL is configured)."""
        return bool(self._url())

    def client(self) -> redis.Redis:
        url = self._url()
        if self._client is None or url != self._client_url:
            self._client = connect(url, push_events=PUSH_SCRIPT, trim_events=TRIM_SCRIPT)
            self._client_url = url
        return self._client

    def push(self, events: list[Event]) -> int:
        """Append events to Redis in one round trip. Raises redis.RedisError if it cannot."""
        if not events:
            return 0
        keys = [self.list_key, self.counter_key, self.epoch_key]
        args: list = [secrets.token_hex(4)]
        for event in events:
            keys.append(event.first_seen_key or self.list_key)  # never SET when window is 0
            args += [event.window if event.first_seen_key else 0, event.payload]
        return self.client().push_events(keys=keys, args=args)

    def record(self, events: list[Event]) -> None:
        """Push to Redis; without Redis, or when Redis is down, hold the events in the process
        and apply them locally when `local_interval` has passed."""
        if self.enabled():
            try:
                self.push(events)
                return
            except redis.RedisError:
                logger.warning("buffer.redis_down", extra={"buffer": self.name, "n": len(events)})
        self.hold(events)

    def hold(self, events: list[Event]) -> None:
        """Keep events in this process (first-seen keys checked where Redis or the cache can)."""
        buffered = [Buffered(e.payload, self._first_seen_locally(e)) for e in events]
        with self._held_lock:
            self._held.extend(buffered)
        if time.monotonic() - self._last_local_apply >= self._local_interval():
            try:
                self.apply_held()
            except Exception:
                logger.exception("buffer.local_apply_failed", extra={"buffer": self.name})

    def _first_seen_locally(self, event: Event) -> bool:
        if not event.first_seen_key or not event.window:
            return False
        try:
            if self.enabled():
                return bool(self.client().set(event.first_seen_key, 1, nx=True, ex=event.window))
            return cache.add(event.first_seen_key, 1, event.window)
        except Exception:
            return True  # nowhere to remember it: count it rather than lose it

    def apply_held(self) -> int:
        """Apply what this process holds, in one transaction (the local drain)."""
        with self._held_lock:
            held, self._held = self._held, []
            self._last_local_apply = time.monotonic()
        if not held:
            return 0
        try:
            with transaction.atomic():
                return self._apply(held)
        except Exception:
            with self._held_lock:
                self._held[:0] = held  # put them back for the next try
            raise

    def held(self) -> list[Buffered]:
        with self._held_lock:
            return list(self._held)

    def _apply_held_at_exit(self) -> None:  # pragma: no cover - process teardown
        if self.held():
            try:
                self.apply_held()
            except Exception:
                logger.exception("buffer.lost_at_exit", extra={"buffer": self.name})

    # -- draining ------------------------------------------------------------------------
    def drain(self, *, batch_size: int | None = None, time_budget: float | None = None) -> int:
        """Apply buffered events until the list is empty or time is up; returns how many were
        applied. Raises if PostgreSQL is unreachable (the list is then left as it was)."""
        applied = self.apply_held() if self.held() else 0
        if not self.enabled():
            return applied
        batch_size = batch_size or self._batch_size()
        time_budget = self._time_budget() if time_budget is None else time_budget
        r = self.client()
        token = uuid.uuid4().hex
        if not r.set(self.lock_key, token, nx=True, ex=self._lock_ttl()):
            logger.info("buffer.drain.busy", extra={"buffer": self.name})
            return applied
        deadline = time.monotonic() + time_budget
        try:
            while raw := r.lrange(self.list_key, 0, batch_size - 1):
                events = self._parse(raw, r)
                applied += self._apply_or_set_aside(events, r)
                if not r.trim_events(keys=[self.lock_key, self.list_key], args=[token, len(raw)]):
                    logger.warning("buffer.drain.lock_lost", extra={"buffer": self.name})
                    break
                r.expire(self.lock_key, self._lock_ttl())
                if time.monotonic() > deadline:
                    break
        finally:
            r.release_lock(keys=[self.lock_key], args=[token])
        if applied:
            logger.info("buffer.drain.done", extra={"buffer": self.name, "applied": applied})
        return applied

    def _parse(self, raw: list[bytes], r) -> list[tuple[Buffered, bytes]]:
        events = []
        for item in raw:
            event = parse_item(item)
            if event is None:
                r.rpush(self.dead_key, item)
                logger.error("buffer.drain.malformed", extra={"buffer": self.name})
            else:
                events.append((event, item))
        return events

    def _apply_or_set_aside(self, events: list[tuple[Buffered, bytes]], r) -> int:
        try:
            return self._apply_once([event for event, _ in events])
        except (OperationalError, InterfaceError):
            raise  # the database is down: leave the buffer as it is
        except DatabaseError:
            logger.exception("buffer.drain.batch_refused", extra={"buffer": self.name})
        applied = 0
        for event, item in events:
            try:
                applied += self._apply_once([event])
            except (OperationalError, InterfaceError):
                raise
            except DatabaseError:
                r.rpush(self.dead_key, item)
                logger.error("buffer.drain.set_aside", extra={"buffer": self.name})
        return applied

    def _apply_once(self, events: list[Buffered]) -> int:
        """Apply the events above the watermark and move it, in one transaction."""
        from core.models import BufferWatermark

        with transaction.atomic():
            marks = BufferWatermark.lock(self.name, {event.epoch for event in events})
            fresh = [event for event in events if event.seq > marks[event.epoch]]
            applied = self._apply(fresh) if fresh else 0
            BufferWatermark.advance(self.name, events)
            return applied

    # -- reading -------------------------------------------------------------------------
    def depth(self) -> int:
        return self.client().llen(self.list_key) if self.enabled() else len(self.held())

    def pending(self) -> list[Buffered]:
        """Events not applied yet: in Redis and held in this process (tests, the console)."""
        events = self.held()
        if self.enabled():
            events += [e for e in map(parse_item, self.client().lrange(self.list_key, 0, -1)) if e]
        return events

    def dead(self) -> list[bytes]:
        return self.client().lrange(self.dead_key, 0, -1) if self.enabled() else []

    def health(self) -> dict:
        """For /healthz: degraded when events pile up (the drain is stuck or PostgreSQL down)."""
        if not self.enabled():
            return {"status": "ok", "mode": "in-process", "held": len(self.held())}
        try:
            depth = self.depth()
        except redis.RedisError as exc:
            return {"status": "down", "error": type(exc).__name__}
        threshold = self._degraded_depth()
        return {"status": "degraded" if depth > threshold else "ok", "depth": depth,
                "threshold": threshold}  # fmt: skip


def parse_item(item: bytes | str) -> Buffered | None:
    """`b"<epoch>:<seq>:<0|1><payload>"` -> Buffered, or None if it is not in that shape."""
    try:
        text = item.decode() if isinstance(item, bytes) else item
        epoch, seq, rest = text.split(":", 2)
        if not rest or rest[0] not in "01":
            return None
        return Buffered(payload=rest[1:], first_seen=rest[0] == "1", epoch=epoch, seq=int(seq))
    except (UnicodeDecodeError, ValueError):
        return None


def setting(name: str):
    """A reader of a Django setting, for the buffers' options (tests change settings)."""
    return lambda: getattr(settings, name)
