"""Click capture: buffered in Redis by the redirect, drained to PostgreSQL in batches.

The redirect hands each click to a per-process flusher thread (links/handoff.py), which sends
queued clicks to Redis in pipelined batches: for each, a Lua script marks the visitor as seen
on this link for the unique window (SET NX EX) and appends the click, flagged unique or not,
to the buffer list. The drain job copies the head of the list into PostgreSQL with COPY, inserts
with `ON CONFLICT (click_id) DO NOTHING`, adds the clicks it really inserted to the daily
stats in the same transaction, and only then trims what it read from the list. A drain that
dies before the trim is simply run again: the click ids make the second insert a no-op, so
nothing is lost and nothing is counted twice. One drain runs at a time (a Redis lock), and a
drain whose lock has expired does not trim.

Without Redis (the embedded default) clicks are written inline.
"""

import json
import logging
import secrets
import time
import uuid
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

from core import redis_buffers
from links import handoff

logger = logging.getLogger(__name__)

BUFFER_KEY = "links:clicks:buffer"
DEAD_KEY = "links:clicks:dead"
LOCK_KEY = "links:clicks:drain-lock"
UNIQUE_PREFIX = "links:uv:"

COLUMNS = (
    "click_id", "link_id", "creator_id", "product_id", "clicked_at", "route", "country",
    "device_type", "os", "browser", "in_app", "referrer_host", "utm_source", "utm_medium",
    "utm_campaign", "utm_content", "utm_term", "is_qr", "is_bot", "is_unique", "network",
    "visitor_hash",
)  # fmt: skip

# A batch of clicks in one call. KEYS: each click's unique-visitor key, then the buffer.
# ARGV: for each click, its unique window in seconds (0: never unique) and its JSON.
# A click is stored as "1{json}" or "0{json}": the first character says whether it is unique.
BUFFER_SCRIPT = """
local buffer = KEYS[#KEYS]
local items = {}
for i = 1, #KEYS - 1 do
  local window = tonumber(ARGV[2 * i - 1])
  local unique = '0'
  if window > 0 and redis.call('SET', KEYS[i], '1', 'NX', 'EX', window) then
    unique = '1'
  end
  items[i] = unique .. ARGV[2 * i]
end
return redis.call('RPUSH', buffer, unpack(items))
"""
# KEYS: the lock, the buffer. ARGV: our lock token, how many items were stored.
TRIM_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('LTRIM', KEYS[2], ARGV[2], -1)
  return 1
end
return 0
"""

_client = None


def buffer_enabled() -> bool:
    return bool(settings.CLICK_BUFFER_URL)


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis_buffers.connect(
            settings.CLICK_BUFFER_URL, buffer_click=BUFFER_SCRIPT, trim_buffer=TRIM_SCRIPT
        )
    return _client


def new_click_id() -> str:
    """A UUIDv7 (RFC 9562) as 32 hex digits: a millisecond timestamp, then 74 random bits.

    Time-ordered ids keep the unique index on click ids appending at its end, instead of
    writing all over it as random UUIDs do once the table is large.
    """
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value).hex


def record(click: dict) -> None:
    """Record one click: handed to the Redis buffer, or written inline without Redis."""
    window = 0 if click["is_bot"] or not click["visitor_hash"] else settings.CLICK_UNIQUE_WINDOW
    if buffer_enabled():
        _handoff.put((click, window))
    else:
        _record_inline(click, window)


def _send_to_buffer(batch: list[tuple[dict, int]]) -> None:
    """One round trip: each click marks its visitor as seen and joins the buffer."""
    keys, args = [], []
    for click, window in batch:
        keys.append(f"{UNIQUE_PREFIX}{click['link_id']}:{click['visitor_hash']}")
        args += [window, json.dumps(click)]
    client().buffer_click(keys=[*keys, BUFFER_KEY], args=args)


def _spill_to_database(batch: list[tuple[dict, int]]) -> None:
    for click, window in batch:
        _record_inline(click, window)


_handoff = handoff.Handoff(_send_to_buffer, _spill_to_database)
handoff.register_exit_flush(_handoff)


def flush(timeout: float = 10.0) -> bool:
    """Wait until the clicks this process recorded are in the Redis buffer."""
    return _handoff.flush(timeout)


def _first_visit(click: dict, window: int) -> bool:
    """Mark the visitor as seen on the link; True if they were not seen in the window.

    The same key as the buffer's Lua script when there is a buffer, else the Django cache.
    """
    key = f"{UNIQUE_PREFIX}{click['link_id']}:{click['visitor_hash']}"
    if buffer_enabled():
        return bool(client().set(key, 1, nx=True, ex=window))
    return cache.add(key, 1, window)


def _record_inline(click: dict, window: int) -> None:
    unique = False
    if window:
        try:
            unique = _first_visit(click, window)
        except Exception:
            unique = True  # nowhere to remember visitors: count it rather than lose it
    try:
        store([{**click, "is_unique": unique}])
    except Exception:
        logger.exception("click.lost", extra={"link_id": click["link_id"]})


def _row(click: dict) -> tuple:
    values = dict(click)
    values["clicked_at"] = datetime.fromtimestamp(click["ts"], tz=UTC)
    values["click_id"] = uuid.UUID(click["click_id"])
    return tuple(values.get(column) for column in COLUMNS)


def store(clicks: list[dict]) -> int:
    """Insert clicks not stored yet and add them to the daily stats. Returns how many were new."""
    return store_buffered([_buffered_form(click) for click in clicks])


def _buffered_form(click: dict) -> str:
    values = {k: v for k, v in click.items() if k != "is_unique"}
    return ("1" if click.get("is_unique") else "0") + json.dumps(values)


def store_buffered(items: list[str]) -> int:
    """`store` for clicks in their buffered form ("1{json}"), as the drain reads them."""
    if not items:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _store_postgres(items)
        inserted = _insert_generic([_row(_decode(item)) for item in items])
        _add_to_daily_stats(inserted)
        return len(inserted)


_STAGE = "links_click_stage"
# Clicks reach PostgreSQL as the JSON they were buffered as; PostgreSQL parses them, which
# is much faster than decoding them in Python first.
_STAGE_DDL = f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (u boolean, j jsonb) ON COMMIT DELETE ROWS"
_RECORD = """click_id uuid, link_id bigint, creator_id bigint, product_id bigint,
  ts double precision, route text, country text, device_type text, os text, browser text,
  in_app text, referrer_host text, utm_source text, utm_medium text, utm_campaign text,
  utm_content text, utm_term text, is_qr boolean, is_bot boolean, network text,
  visitor_hash text"""
_TEXT_COLUMNS = COLUMNS[5:17]  # route ... utm_term
# One statement: insert the new clicks (skipping ids already stored, and clicks of links
# deleted since; creators and products deleted since are cleared, as ON DELETE SET NULL
# would have done), add exactly those to the daily stats, and count them.
_INSERT_SQL = f"""
WITH inserted AS (
  INSERT INTO links_clickevent ({", ".join(COLUMNS)})
  SELECT x.click_id, x.link_id, c.id, p.id, to_timestamp(x.ts),
         {", ".join(f"coalesce(x.{c}, '')" for c in _TEXT_COLUMNS)},
         coalesce(x.is_qr, false), coalesce(x.is_bot, false), s.u,
         coalesce(x.network, ''), coalesce(x.visitor_hash, '')
  FROM {_STAGE} s
  CROSS JOIN LATERAL jsonb_to_record(s.j) AS x({_RECORD})
  JOIN links_shortlink l ON l.id = x.link_id
  LEFT JOIN creators_creator c ON c.id = x.creator_id
  LEFT JOIN catalog_product p ON p.id = x.product_id
  ON CONFLICT (click_id) DO NOTHING
  RETURNING link_id, clicked_at, is_bot, is_unique, is_qr
), counted AS (
  INSERT INTO links_linkdailystats (link_id, day, clicks, unique_clicks, bot_hits, qr_scans)
  SELECT link_id, (clicked_at AT TIME ZONE 'UTC')::date,
         count(*) FILTER (WHERE NOT is_bot),
         count(*) FILTER (WHERE NOT is_bot AND is_unique),
         count(*) FILTER (WHERE is_bot),
         count(*) FILTER (WHERE NOT is_bot AND is_qr)
  FROM inserted GROUP BY 1, 2
  ON CONFLICT (link_id, day) DO UPDATE SET
    clicks = links_linkdailystats.clicks + excluded.clicks,
    unique_clicks = links_linkdailystats.unique_clicks + excluded.unique_clicks,
    bot_hits = links_linkdailystats.bot_hits + excluded.bot_hits,
    qr_scans = links_linkdailystats.qr_scans + excluded.qr_scans
  RETURNING 1
)
SELECT count(*) FROM inserted
"""  # noqa: S608 - constant names only


def _store_postgres(items: list[str]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_DDL)
        cursor.execute(f"DELETE FROM {_STAGE}")  # noqa: S608 - empty even in a long transaction
        with cursor.cursor.copy(f"COPY {_STAGE} (u, j) FROM STDIN") as copy:
            for item in items:
                copy.write_row((item[0] == "1", item[1:]))
        cursor.execute(_INSERT_SQL)
        return cursor.fetchone()[0]


def _insert_generic(rows: list[tuple]) -> list[tuple]:
    from links.models import ClickEvent, ShortLink

    known_links = set(
        ShortLink.objects.filter(pk__in={r[1] for r in rows}).values_list("pk", flat=True)
    )
    seen = set(
        ClickEvent.objects.filter(click_id__in=[r[0] for r in rows]).values_list(
            "click_id", flat=True
        )
    )
    fresh = [r for r in rows if r[1] in known_links and r[0] not in seen]
    ClickEvent.objects.bulk_create(
        [ClickEvent(**dict(zip(COLUMNS, row, strict=True))) for row in fresh]
    )
    index = {c: i for i, c in enumerate(COLUMNS)}
    return [
        (r[index["link_id"]], r[index["clicked_at"]], r[index["is_bot"]], r[index["is_unique"]],
         r[index["is_qr"]])
        for r in fresh
    ]  # fmt: skip


def _add_to_daily_stats(inserted: list[tuple]) -> None:
    totals: dict[tuple, list[int]] = {}
    for link_id, clicked_at, is_bot, is_unique, is_qr in inserted:
        counts = totals.setdefault((link_id, clicked_at.astimezone(UTC).date()), [0, 0, 0, 0])
        if is_bot:
            counts[2] += 1
        else:
            counts[0] += 1
            counts[1] += bool(is_unique)
            counts[3] += bool(is_qr)
    if not totals:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            """
            INSERT INTO links_linkdailystats
              (link_id, day, clicks, unique_clicks, bot_hits, qr_scans)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (link_id, day) DO UPDATE SET
              clicks = links_linkdailystats.clicks + excluded.clicks,
              unique_clicks = links_linkdailystats.unique_clicks + excluded.unique_clicks,
              bot_hits = links_linkdailystats.bot_hits + excluded.bot_hits,
              qr_scans = links_linkdailystats.qr_scans + excluded.qr_scans
            """,
            [(link_id, day, *counts) for (link_id, day), counts in sorted(totals.items())],
        )


def _decode(item: bytes | str) -> dict | None:
    """A buffered click ("1{json}": unique, or "0{json}") as a dict; None if malformed."""
    try:
        text = item.decode() if isinstance(item, bytes) else item
        click = json.loads(text[1:])
        click["is_unique"] = text[0] == "1"
        return click
    except (UnicodeDecodeError, ValueError, IndexError):
        return None


def _well_formed(item: bytes) -> str | None:
    """A cheap check of a buffered item's shape; the database parses the JSON itself."""
    try:
        text = item.decode()
    except UnicodeDecodeError:
        return None
    return text if len(text) > 2 and text[0] in "01" and text[1] == "{" else None


def drain(*, batch_size: int | None = None, time_budget: float | None = None) -> int:
    """Move buffered clicks to PostgreSQL until the buffer is empty or time is up.

    Returns how many clicks were inserted. Raises if the database is unreachable; the
    buffer is then left as it was, to be drained on the next run.
    """
    if not buffer_enabled():
        return 0
    batch_size = batch_size or settings.CLICK_DRAIN_BATCH
    time_budget = settings.CLICK_DRAIN_TIME_BUDGET if time_budget is None else time_budget
    r = client()
    token = uuid.uuid4().hex
    lock_ttl = settings.CLICK_DRAIN_LOCK_TTL
    if not r.set(LOCK_KEY, token, nx=True, ex=lock_ttl):
        logger.info("click.drain.busy")
        return 0
    inserted = 0
    deadline = time.monotonic() + time_budget
    try:
        while True:
            items = r.lrange(BUFFER_KEY, 0, batch_size - 1)
            if not items:
                break
            batch = []
            for item in items:
                text = _well_formed(item)
                if text is None:
                    r.rpush(DEAD_KEY, item)
                    logger.error("click.drain.malformed")
                else:
                    batch.append(text)
            inserted += _store_or_set_aside(batch, r)
            if not r.trim_buffer(keys=[LOCK_KEY, BUFFER_KEY], args=[token, len(items)]):
                logger.warning("click.drain.lock_lost")
                break
            r.expire(LOCK_KEY, lock_ttl)
            if time.monotonic() > deadline:
                break
    finally:
        r.release_lock(keys=[LOCK_KEY], args=[token])
    if inserted:
        logger.info("click.drain.done", extra={"inserted": inserted})
    return inserted


def _store_or_set_aside(items: list[str], r) -> int:
    """Store a batch; if PostgreSQL refuses it (not an outage: bad data), store the clicks one
    by one and set aside those it refuses, so that one bad click cannot stop the drain."""
    try:
        return store_buffered(items)
    except (OperationalError, InterfaceError):
        raise  # the database is down: leave the buffer as it is
    except DatabaseError:
        logger.exception("click.drain.batch_refused", extra={"count": len(items)})
    inserted = 0
    for item in items:
        try:
            inserted += store_buffered([item])
        except (OperationalError, InterfaceError):
            raise
        except DatabaseError:
            r.rpush(DEAD_KEY, item)
            logger.error("click.drain.set_aside")
    return inserted


def buffer_depth() -> int:
    return client().llen(BUFFER_KEY) if buffer_enabled() else 0


def check_click_buffer() -> dict:
    """For /healthz: degraded when clicks pile up (the drain is stuck or PostgreSQL is down)."""
    if not buffer_enabled():
        return {"status": "ok", "mode": "inline"}
    try:
        depth = buffer_depth()
    except redis.RedisError as exc:
        return {"status": "down", "error": type(exc).__name__}
    status = "degraded" if depth > settings.CLICK_BUFFER_DEGRADED_DEPTH else "ok"
    return {"status": status, "depth": depth, "threshold": settings.CLICK_BUFFER_DEGRADED_DEPTH}
