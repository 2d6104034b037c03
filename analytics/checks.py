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
from analytics.rollups import LEDGER, _prepare

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
_ORDERS_SQL = """
SELECT currency, SUM(amount) FROM (
  SELECT o.currency, round(o.total * f.factor)::bigint AS amount
  FROM sales_order o JOIN _factors f ON f.code = o.currency
  WHERE o.paid_at IS NOT NULL AND o.status <> 'cancelled'
  UNION ALL
  SELECT r.currency, -round(r.total * f.factor)::bigint
  FROM sales_refund r JOIN sales_order o ON o.id = r.order_id
  JOIN _factors f ON f.code = r.currency
  WHERE o.paid_at IS NOT NULL AND o.status <> 'cancelled'
) x GROUP BY currency
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
    with connection.cursor() as cursor:
        _prepare(cursor)
        cursor.execute(_ORDERS_SQL)
        orders = {currency: int(amount) for currency, amount in cursor.fetchall()}
    _commission, revenue = _rollup_totals()
    return _differences("net revenue", revenue, orders)
