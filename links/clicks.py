"""Click capture: buffered in Redis by the redirect, drained to PostgreSQL in batches.

The redirect hands each click to a per-process flusher thread (links/handoff.py), which pushes
queued clicks to the clicks' event buffer (core/event_buffer.py) in one round trip: each click
gets the buffer's next sequence number, and learns whether its visitor is new on this link
within the unique window. The drain job (`links.clicks_drain`) applies them with the buffer's
watermark, so a drain run again after dying applies nothing twice; here, applying is a COPY
into a staging table and one statement that inserts the clicks not stored yet
(`ON CONFLICT (click_id) DO NOTHING`, a second guard for clicks re-sent by the handoff) and
adds exactly those to the daily stats.

Without Redis (the embedded default) clicks are written inline.
"""

import json
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from functools import cache

from django.conf import settings
from django.db import connection, transaction

from core.event_buffer import Buffered, Event, EventBuffer, setting
from links import handoff

logger = logging.getLogger(__name__)

UNIQUE_PREFIX = "links:uv:"

COLUMNS = (
    "click_id", "link_id", "creator_id", "product_id", "clicked_at", "route", "country",
    "device_type", "os", "browser", "in_app", "referrer_host", "utm_source", "utm_medium",
    "utm_campaign", "utm_content", "utm_term", "is_qr", "is_bot", "is_unique", "network",
    "visitor_hash",
)  # fmt: skip


class RandomPool:
    """Bytes from os.urandom, drawn 4 KiB at a time: one system call for about 400 click ids.

    os.urandom lets go of the GIL for its system call. On the redirect's path that was two
    hand-overs per click to the click flusher thread (links/handoff.py), each of which could
    keep the request waiting for the GIL for up to a switch interval. The bytes are the
    kernel's CSPRNG output either way; a forked child never reuses its parent's bytes.
    """

    def __init__(self, size: int = 4096):
        self._size = size
        self._lock = threading.Lock()
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._bytes, self._at = b"", 0
        self._lock = threading.Lock()  # a lock held by another thread at fork stays held

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._bytes):
                self._bytes, self._at = os.urandom(self._size), 0
            chunk = self._bytes[self._at : self._at + n]
            self._at += n
            return chunk


_random = RandomPool()


def new_click_id() -> str:
    """A UUIDv7 (RFC 9562) as 32 hex digits: a millisecond timestamp, then 74 random bits.

    Time-ordered ids keep the unique index on click ids appending at its end, instead of
    writing all over it as random UUIDs do once the table is large.
    """
    rand = int.from_bytes(_random.take(10))  # 80 random bits, of which 74 are used
    rand_a, rand_b = rand >> 68, rand & (1 << 62) - 1
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return f"{value:032x}"  # as uuid.UUID(int=value).hex


def _event(click: dict) -> Event:
    counted = not click["is_bot"] and click["visitor_hash"]
    unique_window = settings.CLICK_UNIQUE_WINDOW if counted else 0
    return Event(
        payload=json.dumps(click),
        first_seen_key=f"{UNIQUE_PREFIX}{click['link_id']}:{click['visitor_hash']}",
        window=unique_window,
    )


def record(click: dict) -> None:
    """Record one click: handed to the Redis buffer, or written inline without Redis."""
    if buffer.enabled():
        _handoff.put(click)  # encoded by the flusher thread, off the request's path
    else:
        buffer.hold([_event(click)])


def flush(timeout: float = 10.0) -> bool:
    """Wait until the clicks this process recorded are in the Redis buffer."""
    return _handoff.flush(timeout)


def _row(click: dict) -> tuple:
    values = dict(click)
    values["clicked_at"] = datetime.fromtimestamp(click["ts"], tz=UTC)
    values["click_id"] = uuid.UUID(click["click_id"])
    return tuple(values.get(column) for column in COLUMNS)


def store(clicks: list[dict]) -> int:
    """Insert clicks not stored yet and add them to the daily stats. Returns how many were new.

    For clicks as the redirect builds them, with `is_unique` set (tests, the generic path).
    """
    events = [
        Buffered(json.dumps({k: v for k, v in c.items() if k != "is_unique"}),
                 bool(c.get("is_unique")))
        for c in clicks
    ]  # fmt: skip
    with transaction.atomic():
        return apply(events)


def apply(events: list[Buffered]) -> int:
    """The buffer's applier: store buffered clicks (in the caller's transaction)."""
    if not events:
        return 0
    if connection.vendor == "postgresql":
        return _store_postgres(events)
    inserted = _insert_generic([_row(_decode(event)) for event in events])
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


@cache
def _insert_sql() -> str:
    """One statement: insert the new clicks (skipping ids already stored, and clicks of links
    deleted since; creators and products deleted since are cleared, as ON DELETE SET NULL
    would have done), add exactly those to the daily stats, and count them. Table names come
    from the models, other apps' included."""
    from catalog.models import Product
    from creators.models import Creator
    from links.models import ClickEvent, LinkDailyStats, ShortLink

    clicks, stats = ClickEvent._meta.db_table, LinkDailyStats._meta.db_table
    links, creators = ShortLink._meta.db_table, Creator._meta.db_table
    products = Product._meta.db_table
    return f"""
WITH inserted AS (
  INSERT INTO {clicks} ({", ".join(COLUMNS)})
  SELECT x.click_id, x.link_id, c.id, p.id, to_timestamp(x.ts),
         {", ".join(f"coalesce(x.{c}, '')" for c in _TEXT_COLUMNS)},
         coalesce(x.is_qr, false), coalesce(x.is_bot, false), s.u,
         coalesce(x.network, ''), coalesce(x.visitor_hash, '')
  FROM {_STAGE} s
  CROSS JOIN LATERAL jsonb_to_record(s.j) AS x({_RECORD})
  JOIN {links} l ON l.id = x.link_id
  LEFT JOIN {creators} c ON c.id = x.creator_id
  LEFT JOIN {products} p ON p.id = x.product_id
  ON CONFLICT (click_id) DO NOTHING
  RETURNING link_id, clicked_at, is_bot, is_unique, is_qr
), counted AS (
  INSERT INTO {stats} (link_id, day, clicks, unique_clicks, bot_hits, qr_scans)
  SELECT link_id, (clicked_at AT TIME ZONE 'UTC')::date,
         count(*) FILTER (WHERE NOT is_bot),
         count(*) FILTER (WHERE NOT is_bot AND is_unique),
         count(*) FILTER (WHERE is_bot),
         count(*) FILTER (WHERE NOT is_bot AND is_qr)
  FROM inserted GROUP BY 1, 2
  ON CONFLICT (link_id, day) DO UPDATE SET
    clicks = {stats}.clicks + excluded.clicks,
    unique_clicks = {stats}.unique_clicks + excluded.unique_clicks,
    bot_hits = {stats}.bot_hits + excluded.bot_hits,
    qr_scans = {stats}.qr_scans + excluded.qr_scans
  RETURNING 1
)
SELECT count(*) FROM inserted
"""  # noqa: S608 - table and column names from the models only


def _store_postgres(events: list[Buffered]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_DDL)
        cursor.execute(f"DELETE FROM {_STAGE}")  # noqa: S608 - empty even in a long transaction
        with cursor.cursor.copy(f"COPY {_STAGE} (u, j) FROM STDIN") as copy:
            for event in events:
                copy.write_row((event.first_seen, event.payload))
        cursor.execute(_insert_sql())
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
    from links.models import LinkDailyStats

    stats = LinkDailyStats._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"""
            INSERT INTO {stats}
              (link_id, day, clicks, unique_clicks, bot_hits, qr_scans)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (link_id, day) DO UPDATE SET
              clicks = {stats}.clicks + excluded.clicks,
              unique_clicks = {stats}.unique_clicks + excluded.unique_clicks,
              bot_hits = {stats}.bot_hits + excluded.bot_hits,
              qr_scans = {stats}.qr_scans + excluded.qr_scans
            """,  # noqa: S608 - the table name comes from the model
            [(link_id, day, *counts) for (link_id, day), counts in sorted(totals.items())],
        )


def _decode(event: Buffered) -> dict:
    click = json.loads(event.payload)
    click["is_unique"] = event.first_seen
    return click


buffer = EventBuffer(
    "clicks",
    apply=apply,
    url=setting("CLICK_BUFFER_URL"),
    batch_size=setting("CLICK_DRAIN_BATCH"),
    time_budget=setting("CLICK_DRAIN_TIME_BUDGET"),
    lock_ttl=setting("CLICK_DRAIN_LOCK_TTL"),
    degraded_depth=setting("CLICK_BUFFER_DEGRADED_DEPTH"),
)


def _push(batch: list[dict]) -> None:
    buffer.push([_event(click) for click in batch])


def _spill(batch: list[dict]) -> None:
    buffer.hold([_event(click) for click in batch])


_handoff = handoff.Handoff(_push, _spill)
handoff.register_exit_flush(_handoff)


def drain(*, batch_size: int | None = None, time_budget: float | None = None) -> int:
    """Move buffered clicks to PostgreSQL until the buffer is empty or time is up.

    Returns how many clicks were inserted. Raises if the database is unreachable; the
    buffer is then left as it was, to be drained on the next run.
    """
    return buffer.drain(batch_size=batch_size, time_budget=time_budget)


def buffer_depth() -> int:
    return buffer.depth()


def check_click_buffer() -> dict:
    """For /healthz: degraded when clicks pile up (the drain is stuck or PostgreSQL is down)."""
    if not buffer.enabled():
        return {"status": "ok", "mode": "inline"}
    return buffer.health()
