"""Helpers for the ledger, payout and reconciliation tests: orders, commissions that are
available to pay, payout details, staff in a role, balances."""

import itertools
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.test import TestCase
from django.utils import timezone

from core.money import to_minor
from sales import commissions, ledger, payouts
from sales.ledger_models import LedgerAccount
from sales.models import Order, OrderLine
from tests.sales.factories import SalesChannelFactory

Kind = LedgerAccount.Kind
_orders = itertools.count(1)


def paid_order(lines, *, currency="USD", channel=None, name="", paid_at=None,
               external_id="") -> Order:  # fmt: skip
    """lines: [(sku, quantity, line total as text)]."""
    channel = channel or SalesChannelFactory(currency=currency)
    total = sum((Decimal(t) for _, _, t in lines), Decimal(0))
    n = next(_orders)
    order = Order.objects.create(
        channel=channel, external_id=external_id or f"order-{n}", name=name or f"#{1000 + n}",
        status=Order.Status.PAID, currency=currency, subtotal=total, total=total,
        paid_at=paid_at or timezone.now() - timedelta(days=1),
    )  # fmt: skip
    for sku, quantity, line_total in lines:
        OrderLine.objects.create(
            order=order, sku=sku, external_id=f"{order.external_id}-{sku}", quantity=quantity,
            unit_price=Decimal(line_total) / quantity, total=Decimal(line_total),
        )  # fmt: skip
    return order


def earn(order, creator, sku, amount, *, hold_days=0, review=""):
    line = order.lines.get(sku=sku)
    return commissions.commission_post(
        key=f"attr:{order.pk}:{line.pk}:{creator.pk}", order_id=order.pk, line_id=line.pk,
        creator_id=creator.pk, base=to_minor(line.total, order.currency), amount=amount,
        hold_days=hold_days, rule={"description": "10% of the line"}, review_reason=review,
    )  # fmt: skip


def available(creator, amount, *, currency="USD", total="100.00", channel=None):
    """An order paid and credited to `creator`, its hold over: `amount` minor units available."""
    total = {"JPY": "10000", "KWD": "100.000"}.get(currency, total)
    order = paid_order([("SKU", 1, total)], currency=currency, channel=channel)
    commission = earn(order, creator, "SKU", amount)
    commissions.commissions_release_due()
    commission.refresh_from_db()
    return commission


def give_details(creator, *, method="manual", account="", tax=True, country="FR"):
    account = account or {"stripe": f"acct_{creator.handle.replace('-', '')}1",
                          "paypal": f"{creator.handle}@example.com",
                          "manual": "FR76 3000 6000 0112 3456 7890 189"}[method]  # fmt: skip
    return payouts.payout_details_set(creator_id=creator.pk, method=method, account=account,
                                      tax_form_received=tax, country=country)  # fmt: skip


def staff(username: str, role: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(username, password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions


def balances(creator, currency="USD") -> dict:
    return {kind: ledger.balance(ledger.creator_account(creator.pk, kind, currency))
            for kind in (Kind.PENDING, Kind.AVAILABLE, Kind.IN_PAYOUT, Kind.PAID,
                         Kind.RECEIVABLE)}  # fmt: skip


def expense(currency="USD") -> int:
    return ledger.balance(ledger.merchant_account(Kind.COMMISSION_EXPENSE, currency))


def approve(run, actor, note=""):
    """Approve a run and run the jobs it queues (after commit), as the eager broker would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return payouts.payout_run_approve(run_id=run.pk, actor=actor, note=note)
