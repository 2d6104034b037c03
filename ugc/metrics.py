"""Feed impressions and card clicks: buffered through core's event buffer, added to the daily
metrics in batches.

A beacon (`POST /shop/feed/events`) becomes one event,
`{"d": day, "p": placement, "i": [ids], "c": [ids], "a": [ids]}` (UTC day; the placement the
items were shown in; impressions, card clicks and add-to-carts; an item counted once per kind
per beacon), pushed to Redis in one round trip; nothing
touches PostgreSQL on the way in. The flush job (`ugc.metrics_flush`, every 30 s) drains the
buffer: it adds up a batch of beacons and writes them with one upsert per batch
(`ugc.services.feed.ugc_metrics_add`), and the buffer's watermark, moved in the same
transaction, makes a flush run again after dying apply nothing twice (see core/event_buffer.py).

Without Redis (the embedded default), or while Redis is down, beacons are held in the process
and written once UGC_FEED_METRICS_LOCAL_INTERVAL seconds have passed, and at exit.
"""

import json
import logging
from datetime import UTC, date, datetime

from core.event_buffer import Buffered, Event, EventBuffer, setting

logger = logging.getLogger(__name__)

FIELDS = {"i": "impressions", "c": "clicks", "a": "add_to_carts"}
CODES = {name: code for code, name in FIELDS.items()}


def today() -> date:
    return datetime.now(UTC).date()


def record(
    *,
    impressions: list[int],
    clicks: list[int],
    add_to_carts: list[int] = (),
    placement: str = "",
    day: date | None = None,
) -> int:
    """Count feed events (ids and placement already validated). Returns how many were counted."""
    kinds = {
        "impressions": list(dict.fromkeys(impressions)),
        "clicks": list(dict.fromkeys(clicks)),
        "add_to_carts": list(dict.fromkeys(add_to_carts)),
    }
    counted = sum(len(ids) for ids in kinds.values())
    if counted:
        payload = {"d": (day or today()).isoformat()}
        if placement:
            payload["p"] = placement
        payload.update({CODES[name]: ids for name, ids in kinds.items() if ids})
        buffer.record([Event(json.dumps(payload))])
    return counted


def counts_of(events: list[Buffered]) -> dict[tuple[int, date, str, str], int]:
    """{(item_id, day, field, placement): n} added up over beacons; malformed ones dropped."""
    counts: dict[tuple[int, date, str, str], int] = {}
    for event in events:
        try:
            beacon = json.loads(event.payload)
            day = date.fromisoformat(beacon["d"])
            placement = str(beacon.get("p") or "")
            parsed = [
                ((int(item_id), day, name, placement), 1)
                for code, name in FIELDS.items()
                for item_id in beacon.get(code, [])
            ]
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.error("ugc.metrics_flush.malformed", extra={"payload": event.payload[:80]})
            continue
        for key, n in parsed:
            counts[key] = counts.get(key, 0) + n
    return counts


def _apply(events: list[Buffered]) -> int:
    """The buffer's applier: one upsert for a batch of beacons. Returns the events counted."""
    from ugc.services.feed import ugc_metrics_add

    counts = counts_of(events)
    ugc_metrics_add(counts=counts)
    return sum(counts.values())


buffer = EventBuffer(
    "ugc-feed-metrics",
    apply=_apply,
    url=setting("UGC_FEED_METRICS_URL"),
    lock_ttl=setting("UGC_FEED_METRICS_LOCK_TTL"),
    degraded_depth=setting("UGC_FEED_METRICS_DEGRADED_DEPTH"),
    local_interval=setting("UGC_FEED_METRICS_LOCAL_INTERVAL"),
)


def flush(*, batch_size: int | None = None) -> int:
    """Move the buffered counters to UGCMetricDaily. Returns how many events were added."""
    return buffer.drain(batch_size=batch_size)


def pending_by_placement() -> dict[tuple[int, date, str, str], int]:
    """Counters not flushed yet, per placement: {(item_id, day, field, placement): n}."""
    return counts_of(buffer.pending())


def pending() -> dict[tuple[int, date, str], int]:
    """Counters not flushed yet, in Redis and held in this process (tests, the console),
    all placements added up."""
    totals: dict[tuple[int, date, str], int] = {}
    for (item_id, day, field, _placement), n in pending_by_placement().items():
        totals[(item_id, day, field)] = totals.get((item_id, day, field), 0) + n
    return totals


def check_buffer() -> dict:
    """For /healthz: the depth of the feed metrics' buffer."""
    return buffer.health()
