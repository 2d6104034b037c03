"""Reconciliation: every write. Import a provider's statement, match it to orders, refunds and
payouts, and resolve what does not match, with who and why.

- `reconciliation_import` reads a file with its provider's module
  (`sales/reconciliation_formats/`), refuses it whole if a line is bad (naming the line and
  column), and inserts each line once: the file's SHA-256 is unique per channel (the same
  file again returns the first import and changes nothing) and each line's provider-side id
  is unique per channel (an overlapping file adds only the new lines). Then it matches.
- `reconciliation_fetch_stripe` does the same from Stripe's API for a Stripe channel with its
  secret key (`GET /v1/balance_transactions`, every page, the sources expanded).
- `reconcile` (re)matches every line of a channel not resolved by a person: a charge to its
  order (same currency, same total), a refund to its refund (by id, else by amount on its
  order), a Stripe transfer to its payout; a second line for the same order or refund is a
  duplicate; fees and bank payouts have nothing to match. Deterministic: run twice, it says
  the same.
- What Shoploop holds that the statements do not show (orders paid, refunds made, payouts
  sent within the period the channel's statements cover) is computed by
  `sales.selectors.reconciliation_report`.
- Resolutions: `reconciliation_link` (this line is that order, refund or payout),
  `reconciliation_ignore` (with a reason), `reconciliation_create_refund` (the refund the
  statement shows was never recorded: it is recorded through `sales.services.refund_record`,
  reversing commissions like any refund), `reconciliation_dismiss` (an order, refund or
  payout missing from the statements, set aside with a reason).
"""

import hashlib
import logging
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Min
from django.utils import timezone

from core.errors import ApplicationError
from core.money import from_minor
from sales import reconciliation_formats
from sales.models import Order, Payout, Refund, SalesChannel
from sales.reconciliation_models import (
    ProviderTransaction,
    ReconciliationDismissal,
    ReconciliationImport,
    StatementSource,
)

logger = logging.getLogger(__name__)

T = ProviderTransaction.Status
K = ProviderTransaction.Kind

# A statement of each source belongs to a channel of this provider.
SOURCE_PROVIDER = {
    StatementSource.SHOPIFY_PAYMENTS: "shopify",
    StatementSource.STRIPE: "stripe",
    StatementSource.TIKTOK_SHOP: "tiktok_shop",
}


def reconciliation_import(
    *, channel_id: int, source: str, filename: str, content: bytes, actor=None
) -> tuple[ReconciliationImport, bool]:
    """Import a statement file. Returns (import, created); the same file twice is one import."""
    channel = SalesChannel.objects.filter(pk=channel_id).first()
    if channel is None:
        raise ApplicationError(f"Channel #{channel_id} does not exist.", code="not_found",
                               fields={"channel": "Unknown channel."})  # fmt: skip
    if SOURCE_PROVIDER.get(source) != channel.provider:
        raise ApplicationError(
            f"A {StatementSource(source).label if source in StatementSource.values else source}"
            f" file belongs to a {SOURCE_PROVIDER.get(source, '?')} channel; {channel.name} is "
            f"{channel.get_provider_display()}.",
            fields={"source": "Does not match the channel's provider."},
        )
    digest = hashlib.sha256(content).hexdigest()
    existing = ReconciliationImport.objects.filter(channel=channel, sha256=digest).first()
    if existing is not None:
        return existing, False
    lines = reconciliation_formats.parse(source, content,
                                         max_rows=settings.RECONCILIATION_MAX_ROWS)  # fmt: skip
    return _import_lines(channel, source, filename, digest, lines, actor)


def reconciliation_fetch_stripe(
    *, channel_id: int, start, end, actor=None
) -> tuple[ReconciliationImport, bool]:
    """Import a Stripe channel's balance transactions between `start` and `end` from Stripe's
    API (with the channel's secret key), as the report's lines. The same answer twice is one
    import; lines seen before (in a file or an earlier fetch) are kept as they were."""
    import json

    from sales.providers import payout_clients
    from sales.providers.base import ProviderRefused, ProviderUnavailable
    from sales.reconciliation_formats import stripe as stripe_format

    channel = SalesChannel.objects.filter(pk=channel_id, provider="stripe").first()
    if channel is None or not channel.api_key:
        raise ApplicationError(
            "Fetching needs a Stripe channel with its secret API key (sk_…).",
            fields={"channel": "A Stripe channel with an API key."},
        )
    if not start < end:
        raise ApplicationError("The period's start comes before its end.",
                               fields={"start": "Before the end."})  # fmt: skip
    try:
        found = payout_clients.stripe_balance_transactions(
            api_key=channel.api_key, created_gte=int(start.timestamp()),
            created_lt=int(end.timestamp()),
        )  # fmt: skip
    except (ProviderUnavailable, ProviderRefused) as exc:
        raise ApplicationError(f"Stripe: {exc}", code="provider") from None
    lines = stripe_format.from_api(found)
    canonical = json.dumps([[x.external_id, str(x.amount), str(x.fee), x.currency,
                             x.occurred_at.isoformat()] for x in lines])  # fmt: skip
    digest = hashlib.sha256(b"stripe-api:" + canonical.encode()).hexdigest()
    existing = ReconciliationImport.objects.filter(channel=channel, sha256=digest).first()
    if existing is not None:
        return existing, False
    name = f"Stripe API, {start:%Y-%m-%d} to {end:%Y-%m-%d}"
    return _import_lines(channel, StatementSource.STRIPE, name, digest, lines, actor)


def _import_lines(channel, source, filename, digest, lines, actor):
    try:
        with transaction.atomic(durable=True):
            made = ReconciliationImport.objects.create(
                channel=channel, source=source, filename=filename[:255], sha256=digest,
                rows=len(lines), imported_by=actor if getattr(actor, "pk", None) else None,
                period_start=min((x.occurred_at for x in lines), default=None),
                period_end=max((x.occurred_at for x in lines), default=None),
            )  # fmt: skip
            before = ProviderTransaction.objects.filter(channel=channel).count()
            ProviderTransaction.objects.bulk_create(
                [ProviderTransaction(
                    channel=channel, first_import=made, external_id=x.external_id[:120],
                    kind=x.kind, currency=x.currency, amount=x.amount, fee=x.fee, net=x.net,
                    occurred_at=x.occurred_at, order_ref=x.order_ref[:255],
                    refund_ref=x.refund_ref[:255], transfer_ref=x.transfer_ref[:255],
                    description=x.description, raw=x.raw, status=T.MISSING,
                ) for x in lines],
                ignore_conflicts=True,  # a line seen in an earlier file stays as it was
            )  # fmt: skip
            made.new_rows = ProviderTransaction.objects.filter(channel=channel).count() - before
            made.save(update_fields=["new_rows"])
            _reconcile(channel)
    except IntegrityError:  # the same file, imported at the same moment elsewhere
        return ReconciliationImport.objects.get(channel=channel, sha256=digest), False
    logger.info("reconciliation.imported", extra={"channel": channel.pk, "rows": made.rows,
                                                  "new": made.new_rows})  # fmt: skip
    return made, True


def reconcile(*, channel_id: int) -> dict:
    """Match the channel's unresolved statement lines again. Returns the count per status."""
    with transaction.atomic():
        channel = SalesChannel.objects.select_for_update().get(pk=channel_id)
        return _reconcile(channel)


def _find_order(channel, ref: str) -> Order | None:
    if not ref:
        return None
    if channel.provider == "shopify":  # the export names orders (#1001), not ids
        return Order.objects.filter(channel=channel, name=ref).first() or Order.objects.filter(
            channel=channel, external_id=ref.lstrip("#")).first()  # fmt: skip
    return Order.objects.filter(channel=channel, external_id=ref).first()


def _reconcile(channel) -> dict:
    lines = list(
        ProviderTransaction.objects.filter(channel=channel)
        .exclude(status__in=ProviderTransaction.RESOLVED)
        .order_by("occurred_at", "pk").select_for_update()
    )  # fmt: skip
    claimed_orders = set(
        ProviderTransaction.objects.filter(channel=channel, status__in=ProviderTransaction.RESOLVED,
                                           kind=K.CHARGE, order__isnull=False)
        .values_list("order_id", flat=True)
    )  # fmt: skip
    claimed_refunds = set(
        ProviderTransaction.objects.filter(channel=channel, refund__isnull=False,
                                           status__in=ProviderTransaction.RESOLVED)
        .values_list("refund_id", flat=True)
    )  # fmt: skip
    claimed_payouts = set(
        ProviderTransaction.objects.filter(channel=channel, payout__isnull=False,
                                           status__in=ProviderTransaction.RESOLVED)
        .values_list("payout_id", flat=True)
    )  # fmt: skip
    counts: dict[str, int] = {}
    for line in lines:
        status, problem, order, refund, payout = _match(
            channel, line, claimed_orders, claimed_refunds, claimed_payouts
        )
        if (line.status, line.problem, line.order_id, line.refund_id, line.payout_id) != (
            status, problem, getattr(order, "pk", None), getattr(refund, "pk", None),
            getattr(payout, "pk", None),
        ):  # fmt: skip
            line.status, line.problem = status, problem
            line.order, line.refund, line.payout = order, refund, payout
            line.save(update_fields=["status", "problem", "order", "refund", "payout"])
        counts[status] = counts.get(status, 0) + 1
    return counts


def _match(channel, line, claimed_orders, claimed_refunds, claimed_payouts):
    """(status, problem, order, refund, payout) for one line."""
    if line.kind in (K.FEE, K.BANK_PAYOUT, K.ADJUSTMENT, K.OTHER):
        return T.NOT_APPLICABLE, "", None, None, None
    if line.kind == K.TRANSFER:
        payout = Payout.objects.filter(provider_ref=line.transfer_ref).first() \
            if line.transfer_ref else None  # fmt: skip
        if payout is None:
            return T.MISSING, f"No payout of Shoploop's is transfer {line.transfer_ref}.", None, \
                None, None  # fmt: skip
        if payout.pk in claimed_payouts:
            return T.DUPLICATE, f"Payout #{payout.pk} already has a statement line.", None, None, \
                payout  # fmt: skip
        claimed_payouts.add(payout.pk)
        if line.currency != payout.currency:
            return T.CURRENCY_MISMATCH, f"Payout #{payout.pk} is in {payout.currency}.", None, \
                None, payout  # fmt: skip
        expected = from_minor(payout.amount, payout.currency)
        if abs(line.amount) != expected:
            return T.AMOUNT_MISMATCH, f"Payout #{payout.pk} is {expected}; the statement says " \
                f"{abs(line.amount)}.", None, None, payout  # fmt: skip
        return T.MATCHED, "", None, None, payout
    order = _find_order(channel, line.order_ref)
    if line.kind == K.CHARGE:
        if order is None:
            return T.MISSING, f"No order {line.order_ref or '(no reference)'} in Shoploop.", \
                None, None, None  # fmt: skip
        if order.pk in claimed_orders:
            return T.DUPLICATE, f"Order {order.name or order.external_id} was already charged " \
                "on another line.", order, None, None  # fmt: skip
        claimed_orders.add(order.pk)
        if line.currency != order.currency:
            return T.CURRENCY_MISMATCH, f"The order is in {order.currency}.", order, None, None
        if line.amount != order.total:
            return T.AMOUNT_MISMATCH, f"The order's total is {order.total}; the statement " \
                f"says {line.amount}.", order, None, None  # fmt: skip
        return T.MATCHED, "", order, None, None
    # a refund
    refund = None
    if line.refund_ref:
        refund = Refund.objects.filter(channel=channel, external_id=line.refund_ref).first()
    if refund is None and order is not None:
        refund = (
            Refund.objects.filter(order=order, total=abs(line.amount))
            .exclude(pk__in=claimed_refunds).order_by("refunded_at", "pk").first()
        )  # fmt: skip
    if refund is None:
        where = f"order {order.name or order.external_id}" if order else \
            f"order {line.order_ref or '(no reference)'}, which Shoploop does not have"  # fmt: skip
        return T.MISSING, f"No refund of {abs(line.amount)} {line.currency} on {where}.", \
            order, None, None  # fmt: skip
    if refund.pk in claimed_refunds:
        return T.DUPLICATE, f"Refund {refund.external_id} already has a statement line.", \
            refund.order, refund, None  # fmt: skip
    claimed_refunds.add(refund.pk)
    if line.currency != refund.currency:
        return T.CURRENCY_MISMATCH, f"The refund is in {refund.currency}.", refund.order, refund, \
            None  # fmt: skip
    if abs(line.amount) != refund.total:
        return T.AMOUNT_MISMATCH, f"Refund {refund.external_id} is {refund.total}; the " \
            f"statement says {abs(line.amount)}.", refund.order, refund, None  # fmt: skip
    return T.MATCHED, "", refund.order, refund, None


# -- resolutions -----------------------------------------------------------------------------


def _require(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Say why: the reconciliation keeps it.", code="reason_required",
                               fields={"reason": "Required."})  # fmt: skip
    return reason


def _lock_line(transaction_id: int) -> ProviderTransaction:
    line = ProviderTransaction.objects.select_for_update().filter(pk=transaction_id).first()
    if line is None:
        raise ApplicationError(f"Statement line #{transaction_id} does not exist.",
                               code="not_found")  # fmt: skip
    if line.status in ProviderTransaction.RESOLVED:
        raise ApplicationError(f"Statement line #{line.pk} is already resolved "
                               f"({line.get_status_display().lower()}).",
                               code="invalid_transition")  # fmt: skip
    return line


def _resolve(line, status, *, actor, reason, **links) -> ProviderTransaction:
    for name, value in links.items():
        setattr(line, name, value)
    line.status, line.note = status, reason
    line.resolved_by = actor if getattr(actor, "pk", None) else None
    line.resolved_at = timezone.now()
    line.save()
    return line


def reconciliation_link(
    *, transaction_id: int, actor, reason: str, order_id: int | None = None,
    refund_id: int | None = None, payout_id: int | None = None,
) -> ProviderTransaction:  # fmt: skip
    """This statement line is that order, refund or payout (a person checked)."""
    reason = _require(reason)
    if [order_id, refund_id, payout_id].count(None) != 2:
        raise ApplicationError("Link the line to one order, refund or payout.",
                               fields={"target": "One of order, refund, payout."})  # fmt: skip
    with transaction.atomic():
        line = _lock_line(transaction_id)
        order = refund = payout = None
        if order_id is not None:
            order = Order.objects.filter(pk=order_id, channel_id=line.channel_id).first()
            if order is None:
                raise ApplicationError(f"Order #{order_id} is not an order of this channel.",
                                       fields={"order": "Unknown order."})  # fmt: skip
        if refund_id is not None:
            refund = Refund.objects.filter(pk=refund_id, channel_id=line.channel_id).first()
            if refund is None:
                raise ApplicationError(f"Refund #{refund_id} is not a refund of this channel.",
                                       fields={"refund": "Unknown refund."})  # fmt: skip
            order = refund.order
        if payout_id is not None:
            payout = Payout.objects.filter(pk=payout_id).first()
            if payout is None:
                raise ApplicationError(f"Payout #{payout_id} does not exist.",
                                       fields={"payout": "Unknown payout."})  # fmt: skip
        return _resolve(line, T.LINKED, actor=actor, reason=reason, order=order, refund=refund,
                        payout=payout)  # fmt: skip


def reconciliation_ignore(*, transaction_id: int, actor, reason: str) -> ProviderTransaction:
    reason = _require(reason)
    with transaction.atomic():
        return _resolve(_lock_line(transaction_id), T.IGNORED, actor=actor, reason=reason)


def reconciliation_create_refund(
    *, transaction_id: int, actor, reason: str = ""
) -> ProviderTransaction:
    """The statement shows a refund Shoploop never recorded: record it through the sales
    services (commissions reversed pro rata, the order moved and audited) and link it."""
    from sales import services

    with transaction.atomic():
        line = _lock_line(transaction_id)
        if line.kind != K.REFUND or line.status != T.MISSING:
            raise ApplicationError("Only a refund line missing in Shoploop can make a refund.",
                                   code="invalid_transition")  # fmt: skip
        order = line.order or _find_order(line.channel, line.order_ref)
        if order is None:
            raise ApplicationError(f"Shoploop has no order {line.order_ref}: link the line to "
                                   "an order first, or ignore it with a reason.",
                                   code="invalid_transition")  # fmt: skip
        if line.currency != order.currency:
            raise ApplicationError(f"The refund is in {line.currency}; its order in "
                                   f"{order.currency}.", code="invalid_transition")  # fmt: skip
        external_id = line.refund_ref or f"statement:{line.external_id}"
        why = (reason or "").strip() or f"Found in the {line.first_import.get_source_display()}."
        refund = services.refund_record(
            order_id=order.pk, external_id=external_id, total=abs(Decimal(line.amount)),
            reason=why, actor=actor, refunded_at=line.occurred_at,
        )  # fmt: skip
        return _resolve(line, T.REFUND_CREATED, actor=actor, reason=why, order=order,
                        refund=refund)  # fmt: skip


def reconciliation_dismiss(
    *, channel_id: int, actor, reason: str, order_id: int | None = None,
    refund_id: int | None = None, payout_id: int | None = None,
) -> ReconciliationDismissal:  # fmt: skip
    """Set aside an order, refund or payout the statements do not show, with a reason."""
    reason = _require(reason)
    if [order_id, refund_id, payout_id].count(None) != 2:
        raise ApplicationError("Set aside one order, refund or payout.",
                               fields={"target": "One of order, refund, payout."})  # fmt: skip
    try:
        with transaction.atomic():
            return ReconciliationDismissal.objects.create(
                channel_id=channel_id, order_id=order_id, refund_id=refund_id,
                payout_id=payout_id, reason=reason,
                actor=actor if getattr(actor, "pk", None) else None,
            )  # fmt: skip
    except IntegrityError:
        raise ApplicationError("It is already set aside.", code="conflict") from None


def statement_period(channel_id: int):
    """(first, last) moment the channel's statements cover, or (None, None)."""
    bounds = ProviderTransaction.objects.filter(channel_id=channel_id).aggregate(
        first=Min("occurred_at"), last=Max("occurred_at")
    )
    return bounds["first"], bounds["last"]
