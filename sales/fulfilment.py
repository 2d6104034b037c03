"""Fulfilment (issue 19): every write about parcels, their push to the channel and delivery.

Contract:
- `fulfilment_create` records one parcel (carrier, tracking number, lines and quantities) of a
  paid order, from the console, a CSV upload, the API or the channel's own webhook. Partial
  fulfilment is normal: each line can be shipped in several parcels, never more than its
  quantity. The order row is locked first, so two clerks shipping the same line cannot both
  take its last unit. The parcel's units leave committed stock (`catalog.stock.ship`); when
  every line is shipped the order moves to fulfilled (the state machine's `fulfil`), so the
  ledger's holds count from then.
- The same tracking number on the same order is the same parcel: sent again (an API retry,
  a webhook delivered twice) it returns the parcel recorded first and changes nothing. The
  database holds that (a unique constraint), also for two requests at once.
- A parcel of an order from Shopify or TikTok Shop is pushed back to that channel by
  `integrations` (told by `signals.fulfilment_created` after commit, and swept by its job);
  the result is written back with `fulfilment_push_result`: pushed, failed (retried with
  exponential backoff and jitter) or refused with the platform's message.
- `fulfilment_deliver` marks a parcel delivered (the channel's webhook, the carrier's tracking
  poll or the console). When every parcel of a fully shipped order is delivered, the order's
  `delivered_at` is set to the last delivery and its pending commissions' holds are moved to
  count from it (`commissions.commission_hold_recompute`).
"""

import csv
import io
import logging
import random
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from catalog import stock
from core.errors import ApplicationError
from sales import carriers, commissions, signals
from sales.fulfilment_models import Fulfilment, FulfilmentEvent, FulfilmentLine
from sales.models import Order, OrderLine, Provider
from sales.services import LIVE, S, _apply, _event, _lock_order, _settle_stock

logger = logging.getLogger(__name__)

Push = Fulfilment.Push
FULFILLABLE = {S.PAID, S.FULFILLED, S.PARTIALLY_REFUNDED}
PUSHED_TO = {Provider.SHOPIFY, Provider.TIKTOK_SHOP}
TRACKING_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{2,98}[A-Za-z0-9]$")
CSV_COLUMNS = ["order", "sku", "quantity", "carrier", "tracking"]


@dataclass
class ParcelLine:
    """One line of a parcel: the order line by id, or by SKU (the first with units left)."""

    quantity: int
    line_id: int | None = None
    sku: str = ""


def check_tracking(carrier: str, tracking_number: str) -> tuple[str, str]:
    """The carrier's code and the tracking number, trimmed, or ApplicationError naming why."""
    code = carriers.normalise(carrier)
    if not code:
        raise ApplicationError(
            f"Unknown carrier {carrier!r}; use one of: {carriers.known()}.",
            fields={"carrier": f"One of: {carriers.known()}."},
        )
    number = (tracking_number or "").strip()
    if not TRACKING_RE.match(number):
        raise ApplicationError(
            f"Tracking number {number[:40]!r} is not valid: 4 to 100 letters, digits, spaces "
            "or hyphens.",
            fields={"tracking_number": "4 to 100 letters, digits, spaces or hyphens."},
        )
    return code, number


def shipped_quantities(order_id: int) -> dict[int, int]:
    """{order line id: units already in parcels}."""
    rows = (
        FulfilmentLine.objects.filter(fulfilment__order_id=order_id)
        .values("line_id")
        .annotate(n=Sum("quantity"))
    )
    return {row["line_id"]: row["n"] for row in rows}


def _resolve_lines(order: Order, wanted: list[ParcelLine]) -> list[tuple[OrderLine, int]]:
    """Order lines and quantities for a parcel; no lines means every unit still to ship."""
    lines = list(order.lines.select_for_update().order_by("pk"))
    done = shipped_quantities(order.pk)
    left = {line.pk: line.quantity - done.get(line.pk, 0) for line in lines}
    if not wanted:
        chosen = [(line, left[line.pk]) for line in lines if left[line.pk] > 0]
        if not chosen:
            raise ApplicationError(
                f"Every line of order {order.name or order.external_id} is already shipped.",
                code="conflict",
            )
        return chosen
    chosen: dict[int, int] = OrderedDict()
    by_id = {line.pk: line for line in lines}
    for number, item in enumerate(wanted, start=1):
        if not isinstance(item.quantity, int) or item.quantity < 1:
            raise ApplicationError(
                f"Line {number}: the quantity must be a whole number of at least 1.",
                fields={"lines": f"Line {number}: quantity of at least 1."},
            )
        if item.line_id is not None:
            line = by_id.get(item.line_id)
        else:
            line = next(
                (x for x in lines if x.sku == item.sku and left[x.pk] - chosen.get(x.pk, 0) > 0),
                None,
            ) or next((x for x in lines if x.sku == item.sku), None)
        if line is None:
            what = f"line #{item.line_id}" if item.line_id is not None else f"SKU {item.sku!r}"
            raise ApplicationError(
                f"Order {order.name or order.external_id} has no {what}.",
                code="not_found",
                fields={"lines": f"No {what} on this order."},
            )
        total = chosen.get(line.pk, 0) + item.quantity
        if total > left[line.pk]:
            raise ApplicationError(
                f"{line.sku or line.title}: {total} cannot ship, only {left[line.pk]} of "
                f"{line.quantity} are left to ship.",
                code="conflict",
                fields={"lines": f"{line.sku}: at most {left[line.pk]}."},
            )
        chosen[line.pk] = total
    return [(by_id[pk], quantity) for pk, quantity in chosen.items()]


def _same_parcel(order: Order, carrier: str, number: str) -> Fulfilment | None:
    return Fulfilment.objects.filter(order=order, carrier=carrier, tracking_number=number).first()


def _ship_units(chosen: list[tuple[OrderLine, int]]) -> None:
    """The parcel's units leave the warehouse: from committed stock, as far as it holds them."""
    out: dict[int, int] = {}
    for line, quantity in chosen:
        if line.variant_id is None or not line.stock_committed:
            continue
        take = min(quantity, line.stock_committed)
        line.stock_committed -= take
        line.stock_shipped += take
        line.save(update_fields=["stock_committed", "stock_shipped"])
        out[line.variant_id] = out.get(line.variant_id, 0) + take
    if out:
        stock.ship(out)


def _fully_shipped(order: Order) -> bool:
    done = shipped_quantities(order.pk)
    return all(done.get(line.pk, 0) >= line.quantity for line in order.lines.all())


def _fulfilment_event(fulfilment: Fulfilment, action: str, reason: str) -> None:
    FulfilmentEvent.objects.create(fulfilment=fulfilment, action=action, reason=reason[:2000])


def _create(
    order: Order, *, lines: list[ParcelLine], carrier: str, tracking_number: str,
    tracking_url: str, source: str, actor, external_id: str, shipped_at,
) -> tuple[Fulfilment, bool]:  # fmt: skip
    """In the caller's transaction, with `order` locked: (parcel, created)."""
    code, number = check_tracking(carrier, tracking_number)
    existing = _same_parcel(order, code, number)
    if existing is not None:
        return existing, False
    if order.status not in FULFILLABLE:
        raise ApplicationError(
            f"Order {order.name or order.external_id} is {order.get_status_display().lower()}; "
            "only paid orders ship.",
            code="invalid_transition",
        )
    chosen = _resolve_lines(order, lines)
    push = Push.PENDING if (
        order.channel.provider in PUSHED_TO and source != Fulfilment.Source.CHANNEL
    ) else Push.NOT_NEEDED  # fmt: skip
    try:
        with transaction.atomic():
            fulfilment = Fulfilment.objects.create(
                order=order, source=source, external_id=external_id[:255], carrier=code,
                tracking_number=number,
                tracking_url=(tracking_url or carriers.tracking_url(code, number))[:500],
                shipped_at=shipped_at or timezone.now(), push_state=push,
                push_next_at=timezone.now() if push == Push.PENDING else None,
                created_by=actor if getattr(actor, "pk", None) else None,
            )  # fmt: skip
    except IntegrityError:  # the same parcel, recorded a moment ago by another request
        return _same_parcel(order, code, number), False
    FulfilmentLine.objects.bulk_create(
        [FulfilmentLine(fulfilment=fulfilment, line=line, quantity=q) for line, q in chosen]
    )
    summary = ", ".join(f"{q} × {line.sku or line.title}" for line, q in chosen)
    _fulfilment_event(fulfilment, "create", f"{carriers.name(code)} {number}: {summary}.")
    _event(order, action="ship", from_status=order.status,
           reason=f"Parcel {carriers.name(code)} {number}: {summary}.", actor=actor)  # fmt: skip
    _ship_units(chosen)
    if _fully_shipped(order):
        if order.status == S.PAID:
            _apply(order, "fulfil", reason="Every line is shipped.", actor=actor)
        elif order.fulfilled_at is None:  # refunded in part before shipping: no status move
            order.fulfilled_at = timezone.now()
            order.save(update_fields=["fulfilled_at", "updated_at"])
            commissions.commission_hold_recompute(order_id=order.pk)
        _settle_stock(order, [], actor=actor)
    if push == Push.PENDING:
        fulfilment_id = fulfilment.pk
        transaction.on_commit(
            lambda: signals.fulfilment_created.send_robust(
                sender=Fulfilment, fulfilment_id=fulfilment_id
            )
        )
    return fulfilment, True


def fulfilment_create(
    *, order_id: int, carrier: str, tracking_number: str, lines: list[ParcelLine] | None = None,
    tracking_url: str = "", source: str = Fulfilment.Source.CONSOLE, actor=None,
    external_id: str = "", shipped_at=None,
) -> Fulfilment:  # fmt: skip
    """Record one parcel of an order (see the module's contract). No lines: the rest of it."""
    with transaction.atomic(durable=True):
        order = _lock_order(order_id)
        fulfilment, _ = _create(
            order, lines=lines or [], carrier=carrier, tracking_number=tracking_number,
            tracking_url=tracking_url, source=source, actor=actor, external_id=external_id,
            shipped_at=shipped_at,
        )  # fmt: skip
    return fulfilment


# -- a CSV of parcels ---------------------------------------------------------------------


def _find_order_for_csv(reference: str) -> Order:
    matches = list(Order.objects.filter(name=reference).values_list("pk", flat=True)[:2]) or list(
        Order.objects.filter(external_id=reference).values_list("pk", flat=True)[:2]
    )
    if not matches:
        raise ApplicationError(f"no order is named {reference!r}", code="not_found")
    if len(matches) > 1:
        raise ApplicationError(
            f"{reference!r} names orders on several channels; use the order's id on its channel"
        )
    return matches[0]


def _file_error(message: str, code: str = "invalid") -> ApplicationError:
    return ApplicationError(message, code=code, fields={"file": message})


def fulfilments_import_csv(*, data: bytes | str, actor=None) -> list[Fulfilment]:
    """A CSV of `order, sku, quantity, carrier, tracking`: rows with the same order, carrier
    and tracking number are one parcel. All or nothing: the first bad row is named (its line
    number) and nothing is recorded."""
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if header != CSV_COLUMNS:
        raise ApplicationError(
            f"The first row must be the header {','.join(CSV_COLUMNS)}; it is "
            f"{','.join(header) or 'empty'}.",
            fields={"file": "Header: " + ",".join(CSV_COLUMNS)},
        )
    parcels: dict[tuple, dict] = OrderedDict()
    for row_number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if row_number - 1 > settings.FULFILMENT_CSV_MAX_ROWS:
            raise ApplicationError(
                f"At most {settings.FULFILMENT_CSV_MAX_ROWS} rows per file.",
                fields={"file": "Too many rows."},
            )
        if len(row) != len(CSV_COLUMNS):
            raise _file_error(f"Row {row_number}: {len(row)} columns, expected {len(CSV_COLUMNS)}.")
        reference, sku, quantity, carrier, number = (cell.strip() for cell in row)
        try:
            order_id = _find_order_for_csv(reference)
            code, number = check_tracking(carrier, number)
            count = int(quantity)
        except ValueError:
            raise _file_error(
                f"Row {row_number}: quantity {quantity!r} is not a whole number."
            ) from None
        except ApplicationError as exc:
            raise _file_error(f"Row {row_number}: {exc.message}", exc.code) from None
        parcel = parcels.setdefault((order_id, code, number), {"rows": [], "lines": []})
        parcel["rows"].append(row_number)
        parcel["lines"].append(ParcelLine(quantity=count, sku=sku))
    if not parcels:
        raise ApplicationError("The file has no rows.", fields={"file": "No rows."})
    made = []
    with transaction.atomic(durable=True):
        for order_id in sorted({key[0] for key in parcels}):  # locks in a fixed order
            _lock_order(order_id)
        for (order_id, code, number), parcel in parcels.items():
            order = Order.objects.select_related("channel").get(pk=order_id)
            try:
                fulfilment, _ = _create(
                    order, lines=parcel["lines"], carrier=code, tracking_number=number,
                    tracking_url="", source=Fulfilment.Source.CSV, actor=actor,
                    external_id="", shipped_at=None,
                )  # fmt: skip
            except ApplicationError as exc:
                rows = ", ".join(str(r) for r in parcel["rows"])
                raise _file_error(f"Row {rows}: {exc.message}", exc.code) from None
            made.append(fulfilment)
    return made


# -- the push's result ----------------------------------------------------------------------


def push_backoff(attempt: int) -> float:
    """Exponential backoff with jitter, in seconds (`FULFILMENT_PUSH_RETRY_*`)."""
    ceiling = min(
        settings.FULFILMENT_PUSH_RETRY_CAP,
        settings.FULFILMENT_PUSH_RETRY_BASE * 2 ** max(0, attempt - 1),
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def _lock_fulfilment(fulfilment_id: int) -> Fulfilment:
    fulfilment = Fulfilment.objects.select_for_update().filter(pk=fulfilment_id).first()
    if fulfilment is None:
        raise ApplicationError(f"Parcel #{fulfilment_id} does not exist.", code="not_found")
    return fulfilment


def fulfilment_push_result(
    *, fulfilment_id: int, ok: bool, message: str = "", external_id: str = "",
    retryable: bool = False,
) -> Fulfilment:  # fmt: skip
    """What the channel answered to a push: pushed (with its id), failed (retried later) or
    refused (with the platform's message, shown on the order). A parcel already pushed stays
    pushed (a late answer of an earlier attempt changes nothing)."""
    with transaction.atomic(durable=True):
        fulfilment = _lock_fulfilment(fulfilment_id)
        if fulfilment.push_state == Push.PUSHED:
            return fulfilment
        now = timezone.now()
        fulfilment.push_attempts += 1
        fulfilment.push_message = message[:2000]
        if ok:
            fulfilment.push_state = Push.PUSHED
            fulfilment.pushed_at = now
            fulfilment.push_next_at = None
            if external_id and not fulfilment.external_id:
                fulfilment.external_id = external_id[:255]
            action = "pushed"
        elif retryable and fulfilment.push_attempts < settings.FULFILMENT_PUSH_MAX_ATTEMPTS:
            fulfilment.push_state = Push.FAILED
            fulfilment.push_next_at = now + timedelta(
                seconds=push_backoff(fulfilment.push_attempts)
            )
            action = "push_failed"
        else:
            fulfilment.push_state = Push.REFUSED
            fulfilment.push_next_at = None
            action = "push_refused"
        fulfilment.save()
        _fulfilment_event(fulfilment, action, message or "Accepted.")
    logger.info(
        "sales.fulfilment_push",
        extra={"fulfilment_id": fulfilment_id, "state": fulfilment.push_state},
    )
    return fulfilment


def fulfilment_push_again(*, fulfilment_id: int, actor=None) -> Fulfilment:
    """The merchant fixed the parcel (or the channel) and asks for another push."""
    with transaction.atomic(durable=True):
        fulfilment = _lock_fulfilment(fulfilment_id)
        if fulfilment.push_state in (Push.PUSHED, Push.NOT_NEEDED):
            raise ApplicationError(
                f"Parcel {fulfilment} is {fulfilment.get_push_state_display().lower()}.",
                code="invalid_transition",
            )
        fulfilment.push_state = Push.PENDING
        fulfilment.push_next_at = timezone.now()
        fulfilment.save(update_fields=["push_state", "push_next_at", "updated_at"])
        _fulfilment_event(fulfilment, "push_again", f"Asked by {actor or 'a job'}.")
        fulfilment_id = fulfilment.pk
        transaction.on_commit(
            lambda: signals.fulfilment_created.send_robust(
                sender=Fulfilment, fulfilment_id=fulfilment_id
            )
        )
    return fulfilment


def fulfilments_push_due(*, limit: int = 200) -> list[int]:
    return list(
        Fulfilment.objects.filter(
            push_state__in=[Push.PENDING, Push.FAILED], push_next_at__lte=timezone.now()
        )
        .order_by("push_next_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


# -- delivery ---------------------------------------------------------------------------


def _order_delivered(order: Order, *, actor=None, reason: str = "") -> None:
    """With `order` locked: when it is fully shipped and every parcel is delivered, its
    delivered time is the last parcel's, and its commissions' holds count from it."""
    parcels = list(order.fulfilments.all())
    if not parcels or any(p.delivered_at is None for p in parcels):
        return
    if order.fulfilled_at is None and not _fully_shipped(order):
        return
    last = max(p.delivered_at for p in parcels)
    if order.delivered_at == last:
        return
    order.delivered_at = last
    order.save(update_fields=["delivered_at", "updated_at"])
    _event(order, action="deliver", from_status=order.status,
           reason=reason or "Every parcel is delivered.", actor=actor)  # fmt: skip
    moved = commissions.commission_hold_recompute(order_id=order.pk)
    if moved:
        logger.info("sales.holds_moved_to_delivery", extra={"order_id": order.pk, "count": moved})


def fulfilment_deliver(
    *, fulfilment_id: int, at=None, reason: str = "", actor=None, tracking_status: str = ""
) -> Fulfilment:
    """A parcel arrived (channel webhook, carrier tracking or the console). Idempotent: a
    parcel already delivered keeps its first delivery time."""
    order_id = Fulfilment.objects.filter(pk=fulfilment_id).values_list("order_id", flat=True)
    if not order_id:
        raise ApplicationError(f"Parcel #{fulfilment_id} does not exist.", code="not_found")
    at = at or timezone.now()
    if at > timezone.now() + timedelta(minutes=5):
        raise ApplicationError("A delivery time cannot be in the future.",
                               fields={"at": "Not in the future."})  # fmt: skip
    with transaction.atomic(durable=True):
        order = _lock_order(order_id[0])
        fulfilment = _lock_fulfilment(fulfilment_id)
        if tracking_status:
            fulfilment.tracking_status = tracking_status[:40]
        if fulfilment.delivered_at is None:
            fulfilment.delivered_at = at
            fulfilment.status = Fulfilment.Status.DELIVERED
            _fulfilment_event(fulfilment, "deliver", reason or "Delivered.")
        fulfilment.save()
        _order_delivered(order, actor=actor, reason=reason)
    return fulfilment


def fulfilment_tracking_checked(*, fulfilment_id: int, tracking_status: str) -> None:
    """The carrier's tracking says the parcel is still on its way (or unknown)."""
    Fulfilment.objects.filter(pk=fulfilment_id).update(
        tracking_status=tracking_status[:40], tracking_checked_at=timezone.now()
    )


def fulfilments_to_track(*, limit: int = 200) -> list[int]:
    """Parcels in transit whose tracking was not checked within FULFILMENT_TRACKING_EVERY."""
    due = timezone.now() - timedelta(seconds=settings.FULFILMENT_TRACKING_EVERY)
    oldest = timezone.now() - timedelta(days=settings.FULFILMENT_TRACKING_MAX_DAYS)
    return list(
        Fulfilment.objects.filter(status=Fulfilment.Status.SHIPPED, shipped_at__gte=oldest)
        .exclude(tracking_checked_at__gt=due)
        .order_by("tracking_checked_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def channel_fulfilment_apply(
    *, order: Order, external_id: str, carrier: str, tracking_number: str, tracking_url: str,
    lines: list[ParcelLine], shipment_status: str, at, delivery=None,
) -> str:  # fmt: skip
    """A channel's own fulfilment (Shopify `fulfillments/create` / `fulfillments/update`),
    with `order` locked in the caller's transaction: the parcel is recorded once (by the
    channel's id, or by its tracking number if we pushed it), and a `delivered` shipment
    status delivers it. Returns a note for the delivery."""
    parcel = Fulfilment.objects.filter(order=order, external_id=external_id).first()
    code = carriers.normalise(carrier)
    if parcel is None and code and tracking_number:
        parcel = _same_parcel(order, code, tracking_number.strip())
        if parcel is not None and not parcel.external_id:
            parcel.external_id = external_id[:255]
            parcel.save(update_fields=["external_id", "updated_at"])
    note = f"Parcel {external_id} already recorded."
    if parcel is None:
        if not tracking_number:
            return f"Fulfilment {external_id} has no tracking number yet; nothing recorded."
        if not code:
            return (f"Fulfilment {external_id}: carrier {carrier!r} is not one we know "
                    f"({carriers.known()}); nothing recorded.")  # fmt: skip
        if order.status not in FULFILLABLE and order.status not in LIVE:
            return f"Order is {order.status}; fulfilment {external_id} not recorded."
        try:
            with transaction.atomic():
                parcel, _ = _create(
                    order, lines=lines, carrier=code, tracking_number=tracking_number,
                    tracking_url=tracking_url, source=Fulfilment.Source.CHANNEL, actor=None,
                    external_id=external_id, shipped_at=at,
                )  # fmt: skip
        except ApplicationError as exc:
            return f"Fulfilment {external_id} not recorded: {exc.message}"
        note = f"Parcel {parcel} recorded from the channel."
    if shipment_status == "delivered" and parcel.delivered_at is None:
        parcel = _lock_fulfilment(parcel.pk)
        parcel.delivered_at = at or timezone.now()
        parcel.status = Fulfilment.Status.DELIVERED
        parcel.tracking_status = "delivered"
        parcel.save()
        _fulfilment_event(parcel, "deliver", "The channel says it was delivered.")
        _order_delivered(order, reason="The channel says every parcel was delivered.")
        note += " Delivered."
    elif shipment_status and shipment_status != parcel.tracking_status:
        parcel.tracking_status = shipment_status[:40]
        parcel.save(update_fields=["tracking_status", "updated_at"])
    return note
