"""The life of a commission, in the ledger.

- **Earned** (`commission_post`, called by attribution when an order is paid and credited):
  the merchant's commission expense is debited and the creator's `pending` account credited;
  the commission is held until `hold_until` (counted from delivery or fulfilment when the
  channel tells us, else from payment), or held for review when a fraud signal says so.
- **Hold ends** (`commissions_release_due`, a beat job): `pending` -> `available`.
- **Refund or cancellation** (`commissions_reverse_for_refund`, `commissions_reverse_for_order`,
  called by the sales services that record them): reversed pro rata per refunded line at the
  frozen amount, from wherever the money now is: `pending` or `available` back to the
  expense, or, once paid out, a clawback to the creator's `receivable`. Never an edit.
- **Review** (`commission_hold`, `commission_review_release`, `commission_review_reduce`,
  `commission_review_reject`): a held commission waits for a person; every decision is
  audited with who and why.

Each move locks the commission row, checks it against `ALLOWED`, posts its ledger transaction
under an idempotency key of its own, and writes a `CommissionEvent`, in one transaction.
"""

import logging
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.money import format_money, from_minor
from creators import notifications
from sales import ledger
from sales.ledger_models import Commission, CommissionEvent, LedgerAccount, LedgerTransaction
from sales.models import Order, OrderLine, Refund

logger = logging.getLogger(__name__)

Status = Commission.Status
Kind = LedgerAccount.Kind
Txn = LedgerTransaction.Kind

# (status, action) -> new status. Reversals keep the status unless nothing is left.
ALLOWED: dict[tuple[str, str], str] = {
    (Status.PENDING, "release"): Status.AVAILABLE,
    (Status.PENDING, "hold"): Status.HELD,
    (Status.HELD, "approve"): Status.PENDING,
    (Status.HELD, "reject"): Status.REVERSED,
    (Status.AVAILABLE, "hold"): Status.HELD,
    # Payouts (sales/payouts.py): a run takes available commissions; the provider's word
    # pays them; a failure (or a cancelled run, or a payout the provider returned) gives
    # them back.
    (Status.AVAILABLE, "payout"): Status.IN_PAYOUT,
    (Status.IN_PAYOUT, "paid"): Status.PAID,
    (Status.IN_PAYOUT, "payout_failed"): Status.AVAILABLE,
    (Status.PAID, "payout_failed"): Status.AVAILABLE,
}
# Where the money of a commission in each status sits on the creator's side.
HOLDING_ACCOUNT = {
    Status.PENDING: Kind.PENDING,
    Status.HELD: Kind.PENDING,
    Status.AVAILABLE: Kind.AVAILABLE,
}


def _lock(commission_id: int) -> Commission:
    try:
        return Commission.objects.select_for_update().get(pk=commission_id)
    except Commission.DoesNotExist:
        raise ApplicationError(
            f"Commission #{commission_id} does not exist.", code="not_found"
        ) from None


def _target(commission: Commission, action: str) -> str:
    to_status = ALLOWED.get((commission.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action} commission #{commission.pk}: it is {commission.status}.",
            code="invalid_transition",
        )
    return to_status


def _event(commission, *, action, from_status, amount=0, reason="", actor=None) -> None:
    CommissionEvent.objects.create(
        commission=commission, action=action, from_status=from_status,
        to_status=commission.status, amount=amount, reason=reason,
        actor=actor if getattr(actor, "pk", None) else None,
    )  # fmt: skip
    if commission.status == Status.HELD and from_status != Status.HELD:  # creator portal
        notifications.commission_held(
            creator_id=commission.creator_id,
            amount=format_money(from_minor(commission.net, commission.currency),
                                commission.currency),
        )  # fmt: skip


def _account(commission: Commission, kind: str) -> ledger.AccountKey:
    return ledger.creator_account(commission.creator_id, kind, commission.currency)


def _expense(commission: Commission) -> ledger.AccountKey:
    return ledger.merchant_account(Kind.COMMISSION_EXPENSE, commission.currency)


def hold_start(order: Order) -> datetime:
    """When a commission's hold starts counting: delivery, else fulfilment, else payment."""
    return order.delivered_at or order.fulfilled_at or order.paid_at or order.placed_at


# -- earned ---------------------------------------------------------------------------------


def commission_post(
    *,
    key: str,
    order_id: int,
    creator_id: int,
    base: int,
    amount: int,
    hold_days: int,
    line_id: int | None = None,
    rule: dict | None = None,
    attribution_id: int | None = None,
    review_reason: str = "",
    order: Order | None = None,
) -> Commission:
    """Record what an order (line) earns a creator and post it as pending. Once per `key`.

    Amounts are minor units of the order's currency. Refunds already recorded on the line
    (a refund that arrived before the credit) are reversed at once, in the same transaction.
    `order`: the order row when the caller holds it already (attribution has it locked),
    so it is not read again.
    """
    for name, value in (("base", base), ("amount", amount)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ApplicationError(
                f"A commission's {name} is a whole number of minor units, not {value!r}.",
                code="invalid_amount", fields={name: "A whole number of minor units ≥ 0."},
            )  # fmt: skip
    if amount == 0:
        raise ApplicationError("A commission of nothing is not recorded.", code="invalid_amount")
    with transaction.atomic():
        if order is None or order.pk != order_id:
            order = Order.objects.filter(pk=order_id).first()
        if order is None:
            raise ApplicationError(f"Order #{order_id} does not exist.", code="not_found")
        if line_id is not None and not OrderLine.objects.filter(pk=line_id, order=order).exists():
            raise ApplicationError(f"Line #{line_id} is not on order #{order_id}.", code="invalid")
        existing = Commission.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                commission = Commission.objects.create(
                    idempotency_key=key, order=order, line_id=line_id, creator_id=creator_id,
                    currency=order.currency, base=base, amount=amount, rule=rule or {},
                    attribution_id=attribution_id,
                    status=Status.HELD if review_reason else Status.PENDING,
                    hold_days=hold_days,
                    hold_until=hold_start(order) + timedelta(days=hold_days),
                    review_reason=review_reason,
                )  # fmt: skip
        except IntegrityError:  # the same key, posted at the same moment elsewhere
            return Commission.objects.get(idempotency_key=key)
        ledger.post(
            idempotency_key=f"commission:{commission.pk}:earned",
            kind=Txn.COMMISSION,
            legs=[
                ledger.debit(_expense(commission), amount),
                ledger.credit(_account(commission, Kind.PENDING), amount),
            ],
            memo=f"Order {order.external_id}: {rule.get('description', '') if rule else ''}",
            occurred_at=order.paid_at or timezone.now(),
            order_id=order.pk,
            commission_id=commission.pk,
        )
        _event(commission, action="earned", from_status="", amount=amount,
               reason=review_reason or (rule or {}).get("description", ""))  # fmt: skip
        for refund in Refund.objects.filter(order=order).order_by("refunded_at", "pk"):
            _reverse_for_refund(commission, refund)
        if order.status == Order.Status.CANCELLED:
            _reverse_rest(commission, key_suffix="cancel", reason="The order was cancelled.")
    return commission


# -- hold ends ------------------------------------------------------------------------------


def commissions_release_due(*, now=None, limit: int = 500) -> int:
    """Move commissions whose hold has ended from pending to available. Returns how many."""
    now = now or timezone.now()
    released = 0
    with transaction.atomic():
        due = list(
            Commission.objects.filter(status=Status.PENDING, hold_until__lte=now)
            .order_by("pk")
            .select_for_update(skip_locked=True)[:limit]
        )
        for commission in due:
            _release(commission, now=now)
            released += 1
    if released:
        logger.info("commission.released", extra={"count": released})
    return released


def _release(commission: Commission, *, now, actor=None, reason="The hold ended.") -> None:
    from_status = commission.status
    commission.status = _target(commission, "release")
    if commission.net:
        ledger.post(
            idempotency_key=f"commission:{commission.pk}:released",
            kind=Txn.RELEASE,
            legs=ledger.move(
                commission.net,
                source=_account(commission, Kind.PENDING),
                target=_account(commission, Kind.AVAILABLE),
            ),
            occurred_at=now, commission_id=commission.pk, actor=actor,
        )  # fmt: skip
    commission.released_at = now
    commission.save(update_fields=["status", "released_at"])
    _event(commission, action="release", from_status=from_status, amount=commission.net,
           reason=reason, actor=actor)  # fmt: skip


def commission_hold_recompute(*, order_id: int) -> int:
    """After the order's delivery or fulfilment time is known, its pending commissions'
    holds count from it. Returns how many were moved."""
    with transaction.atomic():
        order = Order.objects.get(pk=order_id)
        start = hold_start(order)
        moved = 0
        for commission in (
            Commission.objects.filter(order=order, status=Status.PENDING)
            .order_by("pk")
            .select_for_update()
        ):
            new_until = start + timedelta(days=commission.hold_days)
            if new_until != commission.hold_until:
                commission.hold_until = new_until
                commission.save(update_fields=["hold_until"])
                moved += 1
    return moved


# -- refunds and cancellations --------------------------------------------------------------


def _share(amount: int, part: Decimal, whole: Decimal) -> int:
    """`amount × part / whole` rounded half-up, never above `amount`."""
    if whole <= 0 or part >= whole:
        return amount
    exact = Decimal(amount) * part / whole
    return min(amount, int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def _refunded_on(commission: Commission, refund: Refund) -> Decimal:
    """What `refund` took back of the commission's line (or of the whole order, for a
    commission per order). A refund that names no lines (Stripe refunds an amount) is spread
    over the order's lines in proportion to their totals."""
    if commission.line_id is None:
        return refund.total
    lines = list(refund.lines.all())
    if lines:
        return sum((r.amount for r in lines if r.line_id == commission.line_id), Decimal(0))
    order_total = commission.order.total
    if order_total <= 0:
        return Decimal(0)
    return refund.total * commission.line.total / order_total


def _refunded_before(commission: Commission, refund: Refund) -> tuple[Decimal, Decimal]:
    """(refunded before this refund, refunded including it) on the commission's line."""
    earlier = Refund.objects.filter(order_id=commission.order_id, pk__lt=refund.pk)
    before = sum((_refunded_on(commission, r) for r in earlier.prefetch_related("lines")),
                 Decimal(0))  # fmt: skip
    return before, before + _refunded_on(commission, refund)


def _reverse_for_refund(commission: Commission, refund: Refund) -> int:
    """Reverse the part of `commission` that `refund` takes back (cumulative, so rounding
    never adds up to more or less than the refunded share)."""
    whole = commission.line.total if commission.line_id is not None else commission.order.total
    before, after = _refunded_before(commission, refund)
    amount = _share(commission.amount, after, whole) - _share(commission.amount, before, whole)
    amount = min(amount, commission.net)
    if amount <= 0:
        return 0
    return _reverse(
        commission, amount, key_suffix=f"refund:{refund.pk}",
        reason=f"Refund {refund.external_id}.", refund_id=refund.pk,
    )  # fmt: skip


def commissions_reverse_for_refund(*, refund_id: int) -> int:
    """Reverse, pro rata, every commission on the lines (or order) a refund touched.

    Returns the minor units reversed. Safe to run twice: each reversal has its own key.
    """
    with transaction.atomic():
        refund = Refund.objects.select_related("order").get(pk=refund_id)
        total = 0
        for commission in _locked_commissions(refund.order_id):
            if commission.status != Status.REVERSED:
                total += _reverse_for_refund(commission, refund)
    return total


def commissions_reverse_for_order(*, order_id: int, reason: str) -> int:
    """Reverse everything left of an order's commissions (a cancellation)."""
    with transaction.atomic():
        total = 0
        for commission in _locked_commissions(order_id):
            total += _reverse_rest(commission, key_suffix="cancel", reason=reason)
    return total


def _locked_commissions(order_id: int) -> list[Commission]:
    return list(
        Commission.objects.filter(order_id=order_id)
        .select_related("line", "order")
        .order_by("pk")
        .select_for_update(of=("self",))
    )


def _reverse_rest(commission: Commission, *, key_suffix: str, reason: str, actor=None) -> int:
    if commission.net <= 0:
        return 0
    return _reverse(commission, commission.net, key_suffix=key_suffix, reason=reason, actor=actor)


def _reverse(
    commission: Commission, amount: int, *, key_suffix: str, reason: str, refund_id=None,
    actor=None, kind: str = Txn.REVERSAL,
) -> int:  # fmt: skip
    """Take `amount` back from wherever the commission's money is now. Returns what moved:
    0 when this reversal (by its key) was already posted."""
    from_status = commission.status
    source = HOLDING_ACCOUNT.get(commission.status)
    if source is None:  # in a payout or paid out: the creator owes it back
        legs = [
            ledger.debit(_account(commission, Kind.RECEIVABLE), amount),
            ledger.credit(_expense(commission), amount),
        ]
        kind = Txn.CLAWBACK
    else:
        legs = [
            ledger.debit(_account(commission, source), amount),
            ledger.credit(_expense(commission), amount),
        ]
    _txn, created = ledger.post(
        idempotency_key=f"commission:{commission.pk}:{key_suffix}",
        kind=kind, legs=legs, memo=reason, commission_id=commission.pk,
        order_id=commission.order_id, refund_id=refund_id, actor=actor,
    )  # fmt: skip
    if not created:
        return 0
    commission.reversed += amount
    if commission.net == 0 and commission.status in HOLDING_ACCOUNT:
        commission.status = Status.REVERSED
    commission.save(update_fields=["reversed", "status"])
    action = "clawback" if kind == Txn.CLAWBACK else "reverse"
    _event(commission, action=action, from_status=from_status, amount=amount, reason=reason,
           actor=actor)  # fmt: skip
    return amount


# -- review ---------------------------------------------------------------------------------


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Say why: the creator sees it.", code="reason_required", fields={"reason": "Required."}
        )
    return reason


def commission_hold(*, commission_id: int, reason: str, actor=None) -> Commission:
    """Hold a commission for review (a fraud signal): it stays out of `available`."""
    reason = _require_reason(reason)
    with transaction.atomic():
        commission = _lock(commission_id)
        from_status = commission.status
        commission.status = _target(commission, "hold")
        if from_status == Status.AVAILABLE and commission.net:
            ledger.post(
                idempotency_key=f"commission:{commission.pk}:rehold:{commission.events.count()}",
                kind=Txn.ADJUSTMENT,
                legs=ledger.move(
                    commission.net,
                    source=_account(commission, Kind.AVAILABLE),
                    target=_account(commission, Kind.PENDING),
                ),
                memo=f"Held for review: {reason}", commission_id=commission.pk, actor=actor,
            )  # fmt: skip
        commission.review_reason = reason
        commission.save(update_fields=["status", "review_reason"])
        _event(commission, action="hold", from_status=from_status, reason=reason, actor=actor)
    return commission


def commission_review_release(*, commission_id: int, actor, note: str = "") -> Commission:
    """Approve a held commission: it goes back to its hold (released at once if it is over)."""
    with transaction.atomic():
        commission = _lock(commission_id)
        from_status = commission.status
        commission.status = _target(commission, "approve")
        commission.save(update_fields=["status"])
        _event(commission, action="approve", from_status=from_status,
               reason=note or "Approved on review.", actor=actor)  # fmt: skip
        now = timezone.now()
        if commission.hold_until and commission.hold_until <= now:
            _release(commission, now=now, actor=actor, reason="Approved; the hold had ended.")
    return commission


def commission_review_reduce(
    *, commission_id: int, new_amount: int, actor, reason: str
) -> Commission:
    """Approve a held commission at a lower amount: the difference is reversed."""
    reason = _require_reason(reason)
    with transaction.atomic():
        commission = _lock(commission_id)
        if commission.status != Status.HELD:
            raise ApplicationError(
                f"Only a commission held for review can be reduced; #{commission.pk} is "
                f"{commission.status}.",
                code="invalid_transition",
            )
        if not isinstance(new_amount, int) or not 0 < new_amount < commission.net:
            raise ApplicationError(
                f"The new amount must be above zero and below {commission.net} minor units.",
                code="invalid_amount", fields={"new_amount": "Above zero, below the current."},
            )  # fmt: skip
        _reverse(
            commission, commission.net - new_amount, key_suffix="review-reduce",
            reason=reason, actor=actor, kind=Txn.FRAUD_REDUCE,
        )  # fmt: skip
    return commission_review_release(commission_id=commission_id, actor=actor, note=reason)


def commission_review_reject(*, commission_id: int, actor, reason: str) -> Commission:
    """Reject a held commission: all of it is reversed, with the reason the creator sees."""
    reason = _require_reason(reason)
    with transaction.atomic():
        commission = _lock(commission_id)
        _target(commission, "reject")
        _reverse_rest(commission, key_suffix="review-reject", reason=reason, actor=actor)
        commission.refresh_from_db()
        if commission.status != Status.REVERSED:  # nothing was left to reverse
            from_status = commission.status
            commission.status = Status.REVERSED
            commission.save(update_fields=["status"])
            _event(commission, action="reject", from_status=from_status, reason=reason,
                   actor=actor)  # fmt: skip
    return commission


# -- payouts (called by sales/payouts.py, in its transactions) ---------------------------------


def commissions_enter_payout(commissions: list[Commission], *, payout_id: int, actor=None) -> None:
    """Mark the (locked, available) commissions a payout covers as in the payout. The money
    moved with the payout's own transaction; this records which commissions it was."""
    for commission in commissions:
        from_status = commission.status
        commission.status = _target(commission, "payout")
        commission.save(update_fields=["status"])
        _event(commission, action="payout", from_status=from_status, amount=commission.net,
               reason=f"In payout #{payout_id}.", actor=actor)  # fmt: skip


def commissions_leave_payout(
    commission_ids: list[int], *, payout_id: int, paid: bool, reason: str = "", actor=None
) -> int:
    """The commissions of a payout once the provider has spoken: paid, or (failed, cancelled,
    returned) available again (reversed, if refunds took all of one back meanwhile).
    Locks them in pk order. Returns how many moved."""
    moved = 0
    for commission in (
        Commission.objects.filter(pk__in=commission_ids).order_by("pk").select_for_update()
    ):
        from_status = commission.status
        action = "paid" if paid else "payout_failed"
        if (from_status, action) not in ALLOWED:
            continue  # e.g. already moved by an earlier delivery of the same word
        commission.status = _target(commission, action)
        if not paid and commission.net == 0:
            commission.status = Status.REVERSED  # nothing of it is left to pay
        commission.save(update_fields=["status"])
        _event(commission, action=action, from_status=from_status, amount=commission.net,
               reason=reason or f"Payout #{payout_id}.", actor=actor)  # fmt: skip
        moved += 1
    return moved
