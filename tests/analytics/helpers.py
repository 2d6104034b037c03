"""Builders for the analytics tests: credited orders, refunds through the services."""

import uuid
from datetime import timedelta
from decimal import Decimal

from analytics.models import Rollup
from analytics.selectors import METRICS
from attribution.services import attribution_decide
from sales import commissions
from sales.models import Refund, RefundLine
from tests.attribution.factories import click, make_order


def credited_order(creator, link, *, at, total="100.00", currency="USD", **fields):
    """A paid order carrying a click on `link` an hour earlier, attributed (commission
    posted to the ledger)."""
    made = click(creator, link=link, at=at - timedelta(hours=1))
    order = make_order(
        lines=(("A", 1, total),),
        currency=currency,
        placed_at=at,
        click_id=str(made.click_id),
        products={"A": link.product},
        **fields,
    )
    attribution_decide(order_id=order.pk)
    return order


def refund(order, amount: str, *, at):
    """A refund of part of the order's line, its commission reversed pro rata."""
    refund = Refund.objects.create(
        order=order,
        channel=order.channel,
        external_id=f"re-{uuid.uuid4().hex[:8]}",
        currency=order.currency,
        total=Decimal(amount),
        refunded_at=at,
    )
    line = order.lines.first()
    RefundLine.objects.create(refund=refund, line=line, sku=line.sku, quantity=1, amount=amount)
    commissions.commissions_reverse_for_refund(refund_id=refund.pk)
    return refund


def rows():
    """Every rollup row as comparable tuples."""
    return sorted(
        Rollup.objects.values_list(
            "grain", "dim", "key", "currency", "bucket", "clicks", "unique_clicks",
            "bot_clicks", "orders", "revenue", "refunds", "commission",
        )
    )  # fmt: skip


def total(grain="d", dim="total", key="", currency="USD", **bucket):
    qs = Rollup.objects.filter(grain=grain, dim=dim, key=key, currency=currency, **bucket)
    return list(qs.values_list("bucket", "orders", "revenue", "refunds", "commission"))


# -- the top tables' ranking ----------------------------------------------------------------

RANKED_DIMS = ["link", "preview"]
# Values with ties at every level of the ranking: orders (summed over currencies), clicks,
# bots and unfurls, then the key (code points: digits, capitals, small letters, accents).
PREVIEW_KEYS = ["Zeta", "alpha", "éclair", "Éclair", "9", "10", "a b"]


def ranking_rows(first, last) -> None:
    """Day rows of links and external previews from first - 5 days to last + 1 day, then their
    week and month rows as the fold sums them (on PostgreSQL or SQLite)."""
    from django.db import connection

    from analytics import rollups

    def day(n):  # n days after `first`
        return rollups.day_start(first + timedelta(days=n))

    inside, late = (last - first).days, (last - first).days + 1
    made = []

    def add(dim, key, n, currency="", **metrics):
        made.append(Rollup(grain="d", dim=dim, key=key, currency=currency, bucket=day(n),
                           **metrics))  # fmt: skip

    add("link", "2", 1, clicks=3, unique_clicks=2)
    add("link", "2", 1, "USD", orders=1, revenue=500, commission=50)
    add("link", "2", inside - 7, "EUR", orders=1, revenue=700, refunds=-200, commission=49)
    add("link", "3", 8, clicks=50, unique_clicks=40)
    add("link", "3", 8, "USD", orders=1, revenue=90000, commission=9000)
    add("link", "4", inside, clicks=10)
    add("link", "4", inside, "USD", orders=1, revenue=100, commission=10)
    add("link", "4", late, "USD", orders=5, revenue=500)  # after the range: not counted
    add("link", "11", 20, clicks=10, bot_clicks=5)
    add("link", "11", 20, "USD", orders=1, revenue=100)
    add("link", "5", -5, clicks=100)  # before the range: not counted
    add("link", "5", 30, clicks=7)
    add("link", "6", 31, clicks=7, bot_clicks=1)
    for key in ("7", "8", "9", "10", "12"):
        add("link", key, 2, clicks=1)
    for key in PREVIEW_KEYS:
        add("preview", key, inside - 2, clicks=1, bot_clicks=2)
    Rollup.objects.bulk_create(made)
    with connection.cursor() as cursor:
        rollups.refresh_months(cursor, first - timedelta(days=5), last + timedelta(days=1))


def top_by_days(period, dims, *, limit):
    """The reference: every day row of the range summed here per value and currency, ranked
    by orders, then clicks, then bots and unfurls, then key (as the home ranked before)."""
    from analytics.selectors import Row

    found = Rollup.objects.filter(
        grain="d", dim__in=dims, bucket__gte=period.lo, bucket__lt=period.hi
    ).values("dim", "key", "currency", *METRICS)
    tables = {dim: {} for dim in dims}
    for r in found:
        row = tables[r["dim"]].setdefault(r["key"], Row(dim=r["dim"], key=r["key"]))
        for metric in ("clicks", "unique_clicks", "bot_clicks", "orders"):
            setattr(row, metric, getattr(row, metric) + r[metric])
        if r["currency"]:
            money = row.money.setdefault(
                r["currency"], {"revenue": 0, "refunds": 0, "net": 0, "commission": 0}
            )
            for metric in ("revenue", "refunds", "commission"):
                money[metric] += r[metric]
            money["net"] += r["revenue"] + r["refunds"]

    def rank(row):
        return (-row.orders, -row.clicks, -row.bot_clicks, row.key)

    return {dim: sorted(rows.values(), key=rank)[:limit] for dim, rows in tables.items()}
