"""`manage.py ledger_verify`'s attribution check: every paid order's commission matches its
attribution.

For each decision: the commissions posted under its current version add up to what it
recorded, all to its creator; commissions of earlier versions (a credit that moved) are
reversed in full; no commission names an attribution that does not exist.
"""

from django.db import connection

_SQL = """
WITH current AS (
    SELECT a.id, a.order_id, a.creator_id, a.version, a.commission_total,
           COALESCE(SUM(c.amount) FILTER (
               WHERE c.idempotency_key LIKE 'attribution:' || a.id || ':v' || a.version || ':%%'
           ), 0) AS posted,
           COUNT(c.id) FILTER (
               WHERE c.idempotency_key LIKE 'attribution:' || a.id || ':v' || a.version || ':%%'
                 AND c.creator_id IS DISTINCT FROM a.creator_id
           ) AS wrong_creator,
           COUNT(c.id) FILTER (
               WHERE c.idempotency_key NOT LIKE 'attribution:' || a.id || ':v' || a.version || ':%%'
                 AND c.amount > c.reversed
           ) AS stale_open
    FROM attribution_attribution a
    LEFT JOIN sales_commission c ON c.attribution_id = a.id
    GROUP BY a.id
)
SELECT order_id, id, commission_total, posted, wrong_creator, stale_open FROM current
WHERE posted <> commission_total OR wrong_creator > 0 OR stale_open > 0
ORDER BY order_id
"""
_ORPHANS = """
SELECT c.id, c.attribution_id FROM sales_commission c
LEFT JOIN attribution_attribution a ON a.id = c.attribution_id
WHERE c.attribution_id IS NOT NULL AND a.id IS NULL ORDER BY c.id
"""


def commissions_match_attributions() -> list[str]:
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(_SQL)
        for order_id, attribution_id, total, posted, wrong, stale in cursor.fetchall():
            if posted != total:
                problems.append(
                    f"order {order_id}: attribution {attribution_id} recorded "
                    f"{total} of commission; its ledger holds {posted}"
                )
            if wrong:
                problems.append(
                    f"order {order_id}: {wrong} commission(s) credit another creator "
                    f"than attribution {attribution_id}"
                )
            if stale:
                problems.append(
                    f"order {order_id}: {stale} commission(s) of an earlier decision "
                    "are not reversed"
                )
        cursor.execute(_ORPHANS)
        for commission_id, attribution_id in cursor.fetchall():
            problems.append(
                f"commission {commission_id} names attribution {attribution_id}, "
                "which does not exist"
            )
    return problems
