"""The rollups' totals against the facts, to the cent (in minor units).

- `commission_matches_ledger` (registered in `sales.ledger.verify`, so `ledger_verify` and its
  nightly job run it): the commission in the daily rollups, per currency, equals what the
  ledger's commission expense accounts moved, counting the ledger's transactions up to the
  rollups' watermark (the ones folded in).
- `revenue_matches_orders`: net revenue in the rollups equals the paid, not cancelled orders'
  totals less their refunds. It needs the rollups folded up to now, so the nightly
  `analytics.rollups_verify` job folds first.
"""

from django.db import connection

from analytics.models import RollupWatermark
from analytics.rollups import LEDGER
from core.money import quantize, to_minor
from sales.models import Order, Refund

_ROLLUP_SQL = """
SELECT currency, SUM(commission), SUM(revenue + refunds) FROM analytics_rollup
WHERE grain = 'd' AND dim = 'total' AND currency <> '' GROUP BY currency
"""
_LEDGER_SQL = """
SELECT e.currency, SUM(CASE WHEN e.side = 'debit' THEN e.amount ELSE -e.amount END)
FROM sales_ledgerentry e
JOIN sales_ledgeraccount a ON a.id = e.account_id AND a.kind = 'commission_expense'
WHERE e.transaction_id <= %s GROUP BY e.currency
"""


def _rollup_totals() -> tuple[dict, dict]:
    with connection.cursor() as cursor:
        cursor.execute(_ROLLUP_SQL)
        rows = cursor.fetchall()
    return {c: int(k) for c, k, _ in rows}, {c: int(r) for c, _, r in rows}


def _differences(what: str, rollups: dict, facts: dict) -> list[str]:
    problems = []
    for currency in sorted(set(rollups) | set(facts)):
        have, want = rollups.get(currency, 0), facts.get(currency, 0)
        if have != want:
            problems.append(
                f"rollups' {what} in {currency} is {have} minor units; the facts say {want}"
            )
    return problems


def commission_matches_ledger() -> list[str]:
    mark = RollupWatermark.objects.filter(name=LEDGER).values_list("last_id", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(_LEDGER_SQL, [mark or 0])
        ledger = {currency: int(amount) for currency, amount in cursor.fetchall()}
    commission, _revenue = _rollup_totals()
    return _differences("commission", commission, ledger)


def revenue_matches_orders() -> list[str]:
    counted = Order.objects.filter(paid_at__isnull=False).exclude(status=Order.Status.CANCELLED)
    orders: dict[str, int] = {}
    for currency, total in counted.values_list("currency", "total").iterator():
        orders[currency] = orders.get(currency, 0) + to_minor(quantize(total, currency), currency)
    refunds = Refund.objects.filter(order__in=counted).values_list("currency", "total")
    for currency, total in refunds.iterator():
        orders[currency] = orders.get(currency, 0) - to_minor(quantize(total, currency), currency)
    _commission, revenue = _rollup_totals()
    return _differences("net revenue", revenue, orders)
