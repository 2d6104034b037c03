"""Catalog -> destinations: diff-based, batched pushes that lose nothing.

Contract of `connection_push(connection_id=...)`:
- One push per connection at a time (a Redis lock); a second one returns at once (`busy`).
- It takes the connection's dirty listings that are due, oldest first, in chunks. For each it
  builds the destination's payload (exactly the fields the destination takes) and its
  fingerprint. Equal to the stored fingerprint: nothing is sent. Refused by the destination's
  own rules: the listing is `invalid` with the reasons, nothing is sent. Otherwise the item
  goes into a batch of the destination's size.
- Per item of a batch: accepted -> the fingerprint, external ids and state are written, and
  `dirty` is cleared only if the listing's version did not move meanwhile (a change made
  during the push is pushed next); failed -> only that item is retried, after an exponential
  backoff with jitter; refused for good (the platform's validation) -> `rejected` with the
  platform's message, until the product changes or the merchant asks for a sync.
- The fingerprint is written only after the destination accepted the item. A worker that
  dies mid-batch leaves every item of the batch dirty with its old fingerprint; the next push
  sends them again (every destination call is an upsert or a removal, safe to repeat).
- Rate limits are shared through the account's token bucket; a 429 pauses every worker for
  `Retry-After`. A push stops at its time budget and leaves the rest for the next one.
- A refused grant stops the push and marks the connection "needs reconnecting".
"""

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Case, Prefetch, Value, When
from django.utils import timezone

from catalog.models import Product, ProductImage, Variant
from core.errors import ApplicationError
from integrations import ratelimit
from integrations.access import Access
from integrations.destinations import destination_class
from integrations.destinations.base import Item, Result, product_view
from integrations.http import PlatformError, backoff
from integrations.models import DESTINATIONS, Connection, ExternalProduct, Listing, SyncRun

logger = logging.getLogger(__name__)

State = Listing.State
REMOVE = {"remove": True}
KEEP_RUNS = 200


def fingerprint(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class PushReport:
    checked: int = 0
    unchanged: int = 0
    invalid: int = 0
    not_listed: int = 0
    sent: int = 0
    accepted: int = 0
    removed: int = 0
    failed: int = 0
    rejected: int = 0
    batches: int = 0
    requests: int = 0
    throttled: int = 0
    busy: bool = False
    stopped: str = ""
    errors: list = field(default_factory=list)

    def counts(self) -> dict:
        data = asdict(self)
        data.pop("errors")
        return data


def due_listings(connection_id: int, *, as_of=None):
    return Listing.objects.filter(
        connection_id=connection_id, dirty=True, next_attempt_at__lte=as_of or timezone.now()
    )


def connection_push(
    *, connection_id: int, budget: float | None = None, destination_cls=None
) -> PushReport:
    report = PushReport()
    connection = Connection.objects.filter(pk=connection_id).first()
    if (
        connection is None
        or connection.platform not in DESTINATIONS
        or connection.status != Connection.Status.ACTIVE
    ):
        report.stopped = "not an active destination"
        return report
    budget = settings.INTEGRATIONS_PUSH_TIME_BUDGET if budget is None else budget
    lock_name = f"push:{connection_id}"
    token = ratelimit.lock(lock_name, ttl=int(budget) + 120)
    if token is None:
        report.busy = True
        return report
    run = None
    access = None
    try:
        if not due_listings(connection_id).exists():
            return report
        run = SyncRun.objects.create(
            connection_id=connection_id, kind=SyncRun.Kind.PUSH, started_at=timezone.now()
        )
        deadline = time.monotonic() + budget
        access = Access(connection, deadline=deadline)
        destination = (destination_cls or destination_class(connection.platform))(
            connection, access
        )
        destination.prepare()
        # Listings due when the run began: one that fails now waits for a later run, and one
        # that changed while it was being sent is taken again by this one.
        began = timezone.now()
        while time.monotonic() < deadline and not report.stopped:
            listings = list(
                due_listings(connection_id, as_of=began).order_by("next_attempt_at", "pk")[
                    : settings.INTEGRATIONS_PUSH_CHUNK
                ]
            )
            if not listings:
                break
            _push_chunk(destination, listings, report)
    except ApplicationError as exc:
        report.stopped = exc.code
        report.errors.append(exc.message)
    except PlatformError as exc:
        report.stopped = "platform"
        report.errors.append(exc.message)
    finally:
        if access is not None:
            report.requests = access.session.stats.requests
            report.throttled = access.session.stats.throttled
            access.close()
        if run is not None:
            _finish_run(run, report)
        ratelimit.release(lock_name, token)
    logger.info(
        "integrations.push", extra={"connection_id": connection_id, "counts": report.counts()}
    )
    return report


def _finish_run(run: SyncRun, report: PushReport) -> None:
    if report.stopped and report.stopped != "throttled":
        status = SyncRun.Status.FAILED
    elif report.failed or report.rejected or report.invalid:
        status = SyncRun.Status.PARTIAL
    else:
        status = SyncRun.Status.DONE
    SyncRun.objects.filter(pk=run.pk).update(
        status=status,
        finished_at=timezone.now(),
        counts=report.counts(),
        error="; ".join(report.errors)[:2000],
    )


def _load(product_ids: list[int]) -> tuple[dict, dict]:
    products = {
        p.pk: p
        for p in Product.objects.filter(pk__in=product_ids).prefetch_related(
            Prefetch("variants", queryset=Variant.objects.order_by("position", "pk")),
            Prefetch("images", queryset=ProductImage.objects.order_by("position", "pk")),
        )
    }
    source_images = {}
    for product_id, urls in ExternalProduct.objects.filter(product_id__in=product_ids).values_list(
        "product_id", "image_urls"
    ):
        source_images.setdefault(product_id, urls)
    return products, source_images


def _at_destination(listing: Listing) -> bool:
    return bool(listing.fingerprint) and listing.state not in (State.REMOVED, State.NOT_LISTED)


def _push_chunk(destination, listings: list[Listing], report: PushReport) -> None:
    products, source_images = _load([lst.product_id for lst in listings if lst.product_id])
    items = []
    settled: list[Listing] = []  # no request needed, written together
    for listing in listings:
        report.checked += 1
        view = product_view(
            products.get(listing.product_id),
            ref=listing.product_ref,
            source_images=source_images.get(listing.product_id, []),
        )
        payload = destination.build(view, listing)
        action = "upsert" if payload is not None else "remove"
        payload = payload if payload is not None else REMOVE
        print_ = fingerprint(payload)
        if print_ == listing.fingerprint:
            # The destination already has exactly this.
            _settle(listing, State.REMOVED if action == "remove" else State.SYNCED)
            settled.append(listing)
            report.unchanged += 1
            continue
        if action == "remove" and not _at_destination(listing):
            _settle(listing, State.NOT_LISTED)
            settled.append(listing)
            report.not_listed += 1
            continue
        if action == "upsert":
            problems = destination.validate(payload, listing)
            if problems:
                _settle(listing, State.INVALID, problems)
                settled.append(listing)
                report.invalid += 1
                continue
        items.append(
            Item(
                listing=listing,
                version=listing.version,
                action=action,
                payload=payload,
                fingerprint=print_,
                units=destination.units(payload) if action == "upsert" else 1,
            )
        )
    _write(
        settled,
        ["state", "messages", "attempts", "updated_at"],
        versions={lst.pk: lst.version for lst in settled},
    )
    for batch in destination.batches(items):
        report.batches += 1
        report.sent += len(batch)
        try:
            results = destination.send(batch)
        except PlatformError as exc:
            if exc.throttled and not exc.status:
                # Out of time waiting for the rate limit: leave the batch as it is.
                report.stopped = "throttled"
                report.sent -= len(batch)
                return
            results = {
                item.listing.pk: Result.failure(exc.message, retryable=exc.transient)
                for item in batch
            }
        _record(batch, results, report)


def _settle(listing: Listing, state: str, messages=None) -> None:
    """In memory: no request needed (the destination has it, must not, or it is invalid)."""
    if messages is not None:
        listing.messages = messages
    elif state != listing.state:
        listing.messages = []
    listing.state = state
    listing.attempts = 0
    listing.updated_at = timezone.now()


# SQL types of the columns a push writes (PostgreSQL).
CASTS = {
    "state": "varchar",
    "messages": "jsonb",
    "attempts": "integer",
    "last_pushed_at": "timestamptz",
    "updated_at": "timestamptz",
    "fingerprint": "varchar",
    "accepted_at": "timestamptz",
    "external_id": "varchar",
    "external_data": "jsonb",
    "next_attempt_at": "timestamptz",
}


def _write(listings: list[Listing], fields: list[str], *, versions: dict | None) -> None:
    """Write `fields` of `listings` in one statement; with `versions` ({pk: version read}),
    also clear `dirty` on each listing whose version did not move since it was read."""
    if not listings:
        return
    if connection.vendor != "postgresql":  # the embedded default: one statement a row
        for listing in listings:
            update = {f: getattr(listing, f) for f in fields}
            if versions is not None:
                update["dirty"] = Case(
                    When(version=versions[listing.pk], then=Value(False)), default=Value(True)
                )
            Listing.objects.filter(pk=listing.pk).update(**update)
        return
    columns = ["id", "read_version", *fields]
    row = "(" + ", ".join(["%s::bigint", "%s::bigint"] + [f"%s::{CASTS[f]}" for f in fields]) + ")"
    params = []
    for listing in listings:
        params.append(listing.pk)
        params.append(versions[listing.pk] if versions is not None else 0)
        for name in fields:
            value = getattr(listing, name)
            params.append(json.dumps(value) if CASTS[name] == "jsonb" else value)
    sets = [f"{f} = v.{f}" for f in fields]
    if versions is not None:
        sets.append("dirty = CASE WHEN l.version = v.read_version THEN false ELSE l.dirty END")
    sql = (
        f"UPDATE {Listing._meta.db_table} AS l SET {', '.join(sets)} "  # noqa: S608 - our names
        f"FROM (VALUES {', '.join([row] * len(listings))}) AS v({', '.join(columns)}) "
        "WHERE l.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _record(batch: list[Item], results: dict, report: PushReport) -> None:
    """What the destination answered, per item: two or three statements for the batch."""
    now = timezone.now()
    accepted, failed, refused = [], [], []
    for item in batch:
        result = results.get(item.listing.pk) or Result.failure(
            "The destination did not answer for this item.", retryable=True
        )
        listing = item.listing
        listing.messages = result.messages
        listing.last_pushed_at = now
        listing.updated_at = now
        if result.ok:
            listing.fingerprint = item.fingerprint
            listing.state = State.REMOVED if item.action == "remove" else State.SYNCED
            listing.attempts = 0
            listing.accepted_at = now
            if result.external_id is not None:
                listing.external_id = result.external_id
            if result.external_data is not None:
                listing.external_data = result.external_data
            accepted.append(item)
            if item.action == "remove":
                report.removed += 1
            else:
                report.accepted += 1
            continue
        listing.attempts += 1
        if result.retryable:
            listing.state = State.FAILED
            listing.next_attempt_at = now + timedelta(seconds=backoff(listing.attempts))
            failed.append(item)
            report.failed += 1
        else:
            listing.state = State.REJECTED
            refused.append(item)
            report.rejected += 1
        if len(report.errors) < 20:
            report.errors.extend(m["message"] for m in result.messages[:1])
    common = ["state", "messages", "attempts", "last_pushed_at", "updated_at"]
    _write(
        [i.listing for i in accepted],
        [*common, "fingerprint", "accepted_at", "external_id", "external_data"],
        versions={i.listing.pk: i.version for i in accepted},
    )
    _write([i.listing for i in failed], [*common, "next_attempt_at"], versions=None)
    _write(
        [i.listing for i in refused], common, versions={i.listing.pk: i.version for i in refused}
    )


def prune_runs(*, keep: int = KEEP_RUNS) -> int:
    """Keep the last `keep` runs of each connection (the console shows the latest)."""
    deleted = 0
    for connection_id in Connection.objects.values_list("pk", flat=True):
        old = SyncRun.objects.filter(connection_id=connection_id).order_by("-started_at", "-pk")[
            keep:
        ]
        ids = list(old.values_list("pk", flat=True)[:10_000])
        if ids:
            deleted += SyncRun.objects.filter(pk__in=ids).delete()[0]
    return deleted
