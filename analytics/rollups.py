"""Folding facts into `Rollup` rows: by window, from watermarks, idempotent.

The unit of work is a window of whole local days (`DASHBOARD_TIME_ZONE`): its rows, hourly
and daily, are deleted and computed again from the facts inside it, in one transaction. So
running a window twice gives the same rows, and a fact that arrives late (a click drained an
hour after it happened, a refund months after its order) is counted in the bucket of when it
happened: its arrival only marks that day's window to be computed again.

What marks a day: clicks and ledger transactions with an id above their watermark (ids only
grow; a margin below the watermark is looked at again, for rows that committed out of
order), orders updated, refunds created and attributions decided since the last fold (less
a margin). Commission is counted only up to the ledger's watermark, so that `checks` can
compare it with the ledger exactly while postings go on.

Three statements fill a window, each one pass over its facts with GROUPING SETS (every
dimension, hourly and daily): clicks; order-level money (orders, refunds, commission); and
per-product money (order lines, refund lines, commission on a line). Then the month rows and
week rows (days 1-7, 8-14, 15-21, 22-28 of a month) of the months touched are summed again
from their day rows, and their quarters' rows from the month rows (`refresh_months`), in the
same transaction, so a month, week or quarter row always equals the sum of its days.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from analytics import portable
from analytics.models import Rollup, RollupWatermark
from attribution.models import Attribution
from core.money import MINOR_UNITS
from links.models import ClickEvent
from sales.ledger_models import LedgerTransaction
from sales.models import Order, Refund

CLICK_ID_MARGIN = 10_000  # ids below the watermark looked at again (out-of-order commits)
LEDGER_ID_MARGIN = 1_000
TIME_MARGIN = timedelta(minutes=15)  # orders, refunds, attributions: updated_at overlap
WINDOW_DAYS = 7  # a rebuild commits every this many days

CLICKS, LEDGER, SALES = "clicks", "ledger", "sales"

_SOURCE = (
    "COALESCE(NULLIF({c}.utm_source, ''), NULLIF({c}.referrer_host, ''), "
    "CASE WHEN {c}.is_qr THEN 'qr' ELSE 'direct' END)"
)
# Hourly rows only for the whole shop and the small dimensions: per link, creator, content,
# product or preview an hour holds a click or two, and such rows would outnumber the clicks.
HOURLY_DIMS = {"total", "channel", "country", "device", "source"}
CLICK_DIMS = ["link", "creator", "product", "content", "preview", "country", "device", "source"]
ORDER_DIMS = ["link", "creator", "content", "preview", "channel", "country", "device", "source"]

_BUCKETS = """
  date_trunc('hour', {at} AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s AS h,
  date_trunc('day', {at} AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s AS d"""

_CLICK_FACTS = f"""
SELECT {_BUCKETS.format(at="c.clicked_at")},
  c.link_id::text AS link, c.creator_id::text AS creator, c.product_id::text AS product,
  il.item_id::text AS content, NULLIF(left(l.url, 500), '') AS preview,
  COALESCE(NULLIF(c.country, ''), '-') AS country,
  COALESCE(NULLIF(c.device_type, ''), '-') AS device, {_SOURCE.format(c="c")} AS source,
  ''::varchar AS currency,
  (NOT c.is_bot)::int AS clicks, (c.is_unique AND NOT c.is_bot)::int AS unique_clicks,
  c.is_bot::int AS bot_clicks, 0 AS orders, 0::bigint AS revenue, 0::bigint AS refunds,
  0::bigint AS commission
FROM links_clickevent c
JOIN links_shortlink l ON l.id = c.link_id
LEFT JOIN ugc_ugcitemlink il ON il.short_link_id = c.link_id
WHERE c.clicked_at >= %(lo)s AND c.clicked_at < %(hi)s
"""  # noqa: S608 - built from constants

# What an order is credited to: its attribution, and the click that won (for link, device,
# source). Orders count when paid and not cancelled, in the bucket of when they were placed.
_ORDER_DIMS_SQL = """
  ck.link_id::text AS link, a.creator_id::text AS creator, a.ugc_item_id::text AS content,
  NULLIF(left(l.url, 500), '') AS preview, o.channel_id::text AS channel,
  COALESCE(NULLIF(o.country, ''), '-') AS country,
  COALESCE(NULLIF(ck.device_type, ''), '-') AS device,
  CASE WHEN ck.id IS NOT NULL THEN {source}
       WHEN a.rule = 'code' THEN 'code' ELSE 'direct' END AS source""".format(
    source=_SOURCE.format(c="ck")
)
_ORDER_JOINS = """
LEFT JOIN attribution_attribution a ON a.order_id = o.id
LEFT JOIN links_clickevent ck ON ck.click_id = a.click_id
LEFT JOIN links_shortlink l ON l.id = ck.link_id"""
_COUNTED = "o.paid_at IS NOT NULL AND o.status <> 'cancelled'"
_EXPENSE = "CASE WHEN e.side = 'debit' THEN e.amount ELSE -e.amount END"

_MONEY_FACTS = f"""
SELECT {_BUCKETS.format(at="o.placed_at")}, {_ORDER_DIMS_SQL}, o.currency::varchar AS currency,
  0 AS clicks, 0 AS unique_clicks, 0 AS bot_clicks, 1 AS orders,
  round(o.total * f.factor)::bigint AS revenue, 0::bigint AS refunds, 0::bigint AS commission
FROM sales_order o JOIN _factors f ON f.code = o.currency {_ORDER_JOINS}
WHERE o.placed_at >= %(lo)s AND o.placed_at < %(hi)s AND {_COUNTED}
UNION ALL
SELECT {_BUCKETS.format(at="r.refunded_at")}, {_ORDER_DIMS_SQL}, r.currency::varchar,
  0, 0, 0, 0, 0::bigint, -round(r.total * f.factor)::bigint, 0::bigint
FROM sales_refund r JOIN sales_order o ON o.id = r.order_id
JOIN _factors f ON f.code = r.currency {_ORDER_JOINS}
WHERE r.refunded_at >= %(lo)s AND r.refunded_at < %(hi)s AND {_COUNTED}
UNION ALL
SELECT {_BUCKETS.format(at="t.occurred_at")},
  ck.link_id::text, COALESCE(cm.creator_id, acc2.creator_id)::text, a.ugc_item_id::text,
  NULLIF(left(l.url, 500), ''), o.channel_id::text, COALESCE(NULLIF(o.country, ''), '-'),
  COALESCE(NULLIF(ck.device_type, ''), '-'),
  CASE WHEN ck.id IS NOT NULL THEN {_SOURCE.format(c="ck")}
       WHEN a.rule = 'code' THEN 'code' ELSE 'direct' END,
  e.currency::varchar, 0, 0, 0, 0, 0::bigint, 0::bigint, {_EXPENSE}
FROM sales_ledgerentry e
JOIN sales_ledgeraccount acc ON acc.id = e.account_id AND acc.kind = 'commission_expense'
JOIN sales_ledgertransaction t ON t.id = e.transaction_id
LEFT JOIN sales_commission cm ON cm.id = t.commission_id
LEFT JOIN LATERAL (
  SELECT a2.creator_id FROM sales_ledgerentry e2
  JOIN sales_ledgeraccount a2 ON a2.id = e2.account_id AND a2.owner = 'creator'
  WHERE e2.transaction_id = t.id LIMIT 1
) acc2 ON cm.id IS NULL
LEFT JOIN sales_order o ON o.id = COALESCE(cm.order_id, t.order_id) {_ORDER_JOINS}
WHERE t.occurred_at >= %(lo)s AND t.occurred_at < %(hi)s AND t.id <= %(ledger_wm)s
"""  # noqa: S608 - built from constants

_PRODUCT_FACTS = f"""
SELECT {_BUCKETS.format(at="x.at")}, x.product, x.currency, 0 AS clicks, 0 AS unique_clicks,
  0 AS bot_clicks, x.orders, x.revenue, x.refunds, x.commission
FROM (
  SELECT o.placed_at AS at, ln.product_id::text AS product, o.currency::varchar AS currency,
    1 AS orders, round(sum(ln.total) * max(f.factor))::bigint AS revenue, 0::bigint AS refunds,
    0::bigint AS commission
  FROM sales_orderline ln JOIN sales_order o ON o.id = ln.order_id
  JOIN _factors f ON f.code = o.currency
  WHERE o.placed_at >= %(lo)s AND o.placed_at < %(hi)s AND {_COUNTED}
    AND ln.product_id IS NOT NULL
  GROUP BY o.id, ln.product_id
  UNION ALL
  SELECT r.refunded_at, ln.product_id::text, r.currency::varchar, 0, 0::bigint,
    -round(sum(rl.amount) * max(f.factor))::bigint, 0::bigint
  FROM sales_refundline rl JOIN sales_refund r ON r.id = rl.refund_id
  JOIN sales_orderline ln ON ln.id = rl.line_id JOIN sales_order o ON o.id = r.order_id
  JOIN _factors f ON f.code = r.currency
  WHERE r.refunded_at >= %(lo)s AND r.refunded_at < %(hi)s AND {_COUNTED}
    AND ln.product_id IS NOT NULL
  GROUP BY r.id, ln.product_id
  UNION ALL
  SELECT t.occurred_at, ln.product_id::text, e.currency::varchar, 0, 0::bigint, 0::bigint,
    {_EXPENSE}
  FROM sales_ledgerentry e
  JOIN sales_ledgeraccount acc ON acc.id = e.account_id AND acc.kind = 'commission_expense'
  JOIN sales_ledgertransaction t ON t.id = e.transaction_id
  JOIN sales_commission cm ON cm.id = t.commission_id
  JOIN sales_orderline ln ON ln.id = cm.line_id
  WHERE t.occurred_at >= %(lo)s AND t.occurred_at < %(hi)s AND t.id <= %(ledger_wm)s
    AND ln.product_id IS NOT NULL
) x
"""  # noqa: S608 - built from constants

_METRICS = ["clicks", "unique_clicks", "bot_clicks", "orders", "revenue", "refunds", "commission"]


def _insert(facts: str, dims: list[str], *, by_currency: bool) -> str:
    """INSERT the facts grouped by every dimension, hourly and daily, adding into rows that
    another statement of the same window already made (clicks and money share no row)."""
    cur = ", currency" if by_currency else ""
    sets = [f"({grain}{cur})" for grain in ("h", "d")] + [
        f"({grain}{cur}, {dim})"
        for grain in ("h", "d")
        for dim in dims
        if grain == "d" or dim in HOURLY_DIMS
    ]
    if dims == ["product"]:  # per-product money: no "total" row (the order-level one has it)
        sets = [s for s in sets if "product" in s]
    hourly = any(s.startswith("(h") for s in sets)
    grain = "CASE WHEN GROUPING(f.h) = 0 THEN 'h' ELSE 'd' END" if hourly else "'d'"
    bucket = "COALESCE(f.h, f.d)" if hourly else "f.d"
    dim_case = " ".join(f"WHEN GROUPING(f.{dim}) = 0 THEN '{dim}'" for dim in dims)
    key_case = " ".join(f"WHEN GROUPING(f.{dim}) = 0 THEN f.{dim}" for dim in dims)
    sums = ", ".join(f"SUM(f.{m})" for m in _METRICS)
    currency = "f.currency" if by_currency else "''"
    updates = ", ".join(f"{m} = analytics_rollup.{m} + EXCLUDED.{m}" for m in _METRICS)
    return f"""
INSERT INTO analytics_rollup (grain, dim, key, currency, bucket, {", ".join(_METRICS)})
SELECT * FROM (
  SELECT {grain} AS grain,
    CASE {dim_case} ELSE 'total' END AS dim,
    CASE {key_case} ELSE '' END AS key,
    {currency} AS currency, {bucket} AS bucket, {sums}
  FROM ({facts}) f
  GROUP BY GROUPING SETS ({", ".join(sets)})
) g WHERE g.key IS NOT NULL
ON CONFLICT (grain, dim, key, currency, bucket) DO UPDATE SET {updates}
"""  # noqa: S608 - built from constants


_MONTHS = f"""
INSERT INTO analytics_rollup (grain, dim, key, currency, bucket, {", ".join(_METRICS)})
SELECT 'm', dim, key, currency,
  date_trunc('month', bucket AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s AS month,
  {", ".join(f"SUM({m})" for m in _METRICS)}
FROM analytics_rollup
WHERE grain = 'd' AND bucket >= %(lo)s AND bucket < %(hi)s
GROUP BY dim, key, currency, month
"""  # noqa: S608 - built from constants

# Week rows: the days 1-7, 8-14, 15-21 and 22-28 of each local month (the days after the
# 28th have none), each the sum of its seven day rows; the bucket is the local midnight of
# the week's first day.
_WEEK_OF = (
    "date_trunc('month', bucket AT TIME ZONE %(tz)s) + (((extract(day FROM bucket AT TIME "
    "ZONE %(tz)s)::int - 1) / 7) * 7) * interval '1 day'"
)
_WEEKS = f"""
INSERT INTO analytics_rollup (grain, dim, key, currency, bucket, {", ".join(_METRICS)})
SELECT 'w', dim, key, currency, ({_WEEK_OF}) AT TIME ZONE %(tz)s AS week,
  {", ".join(f"SUM({m})" for m in _METRICS)}
FROM analytics_rollup
WHERE grain = 'd' AND bucket >= %(lo)s AND bucket < %(hi)s
  AND extract(day FROM bucket AT TIME ZONE %(tz)s) <= 28
GROUP BY dim, key, currency, week
"""  # noqa: S608 - built from constants

_QUARTERS = f"""
INSERT INTO analytics_rollup (grain, dim, key, currency, bucket, {", ".join(_METRICS)})
SELECT 'q', dim, key, currency,
  date_trunc('quarter', bucket AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s AS quarter,
  {", ".join(f"SUM({m})" for m in _METRICS)}
FROM analytics_rollup
WHERE grain = 'm' AND bucket >= %(lo)s AND bucket < %(hi)s
GROUP BY dim, key, currency, quarter
"""  # noqa: S608 - built from constants

_FACTORS = "CREATE TEMP TABLE IF NOT EXISTS _factors (code varchar(3) PRIMARY KEY, factor numeric)"
_STATEMENTS = (
    _insert(_CLICK_FACTS, CLICK_DIMS, by_currency=False),
    _insert(_MONEY_FACTS, ORDER_DIMS, by_currency=True),
    _insert(_PRODUCT_FACTS, ["product"], by_currency=True),
)


def zone() -> ZoneInfo:
    return ZoneInfo(settings.DASHBOARD_TIME_ZONE)


def day_start(day: date) -> datetime:
    """Local midnight of `day`, as an aware datetime."""
    return datetime.combine(day, time(), tzinfo=zone())


def local_day(at: datetime) -> date:
    return timezone.localtime(at, zone()).date()


def _prepare(cursor) -> None:
    """The currencies' minor-unit factors, as a temporary table the statements join."""
    if connection.vendor != "postgresql":
        return
    cursor.execute(_FACTORS)
    cursor.execute("SELECT count(*) FROM _factors")
    if cursor.fetchone()[0] == 0:
        rows = ", ".join(f"('{code}', {10**digits})" for code, digits in MINOR_UNITS.items())
        cursor.execute(f"INSERT INTO _factors VALUES {rows}")  # noqa: S608 - constants


def rebuild_window(cursor, first: date, last: date, *, ledger_wm: int) -> None:
    """Delete and compute again every row of the local days first..last (inclusive)."""
    lo, hi = day_start(first), day_start(last + timedelta(days=1))
    if connection.vendor != "postgresql":
        portable.rebuild_window(lo, hi, ledger_wm=ledger_wm, tz=zone())
        return
    params = {"tz": settings.DASHBOARD_TIME_ZONE, "lo": lo, "hi": hi, "ledger_wm": ledger_wm}
    cursor.execute(
        "DELETE FROM analytics_rollup WHERE grain IN ('h', 'd') AND bucket >= %(lo)s "
        "AND bucket < %(hi)s",
        params,
    )
    for statement in _STATEMENTS:
        cursor.execute(statement, params)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def quarter_start(day: date) -> date:
    return date(day.year, day.month - (day.month - 1) % 3, 1)


def next_quarter(day: date) -> date:
    return next_month(next_month(next_month(quarter_start(day))))


def refresh_months(cursor, first: date, last: date) -> None:
    """Compute again the month and week rows of every month that holds a day of first..last,
    as sums of their day rows, then the rows of their quarters, as sums of the quarters' month
    rows. Call it in the transaction that rebuilt those days."""
    lo, hi = day_start(month_start(first)), day_start(next_month(last))
    quarters = day_start(quarter_start(first)), day_start(next_quarter(last))
    if connection.vendor != "postgresql":
        portable.refresh_months(lo, hi, tz=zone())
        portable.refresh_quarters(*quarters, tz=zone())
        return
    params = {"tz": settings.DASHBOARD_TIME_ZONE, "lo": lo, "hi": hi}
    cursor.execute(
        "DELETE FROM analytics_rollup WHERE grain IN ('m', 'w') AND bucket >= %(lo)s "
        "AND bucket < %(hi)s",
        params,
    )
    cursor.execute(_MONTHS, params)
    cursor.execute(_WEEKS, params)
    params.update(lo=quarters[0], hi=quarters[1])
    cursor.execute(
        "DELETE FROM analytics_rollup WHERE grain = 'q' AND bucket >= %(lo)s AND bucket < %(hi)s",
        params,
    )
    cursor.execute(_QUARTERS, params)


def refresh_months_of(cursor, days: set[date]) -> None:
    """refresh_months for every month holding one of `days`, each month once."""
    for month in sorted({month_start(day) for day in days}):
        refresh_months(cursor, month, month)


def windows(days: set[date], *, span: int = WINDOW_DAYS) -> list[tuple[date, date]]:
    """Consecutive days merged into windows of at most `span` days."""
    out: list[tuple[date, date]] = []
    for day in sorted(days):
        if out and day == out[-1][1] + timedelta(days=1) and (day - out[-1][0]).days < span:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def _watermarks() -> dict[str, RollupWatermark]:
    for name in (CLICKS, LEDGER, SALES):
        RollupWatermark.objects.get_or_create(name=name)
    marks = RollupWatermark.objects.select_for_update().order_by("pk")
    return {mark.name: mark for mark in marks}


def _days(cursor, sql: str, params: dict) -> set[date]:
    cursor.execute(sql, {"tz": settings.DASHBOARD_TIME_ZONE, **params})
    return {row[0] for row in cursor.fetchall() if row[0] is not None}


def _changed(cursor, table: str, column: str, where: str, params: dict) -> set[date]:
    """The local days of `column` in the rows of `table` matching `where` (constants)."""
    local = f"(date_trunc('day', {column} AT TIME ZONE %(tz)s))::date"
    sql = f"SELECT DISTINCT {local} FROM {table} WHERE {where}"  # noqa: S608 - constants
    return _days(cursor, sql, params)


def changed_days(cursor, marks, *, click_hi: int, ledger_hi: int, since) -> set[date]:
    """The local days whose facts changed since the watermarks."""
    clicks_from = max(0, marks[CLICKS].last_id - CLICK_ID_MARGIN)
    ledger_from = max(0, marks[LEDGER].last_id - LEDGER_ID_MARGIN)
    if since is None:  # first fold: every day with an order or a refund
        since = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))
    if connection.vendor != "postgresql":
        return _changed_portable(clicks_from, click_hi, ledger_from, ledger_hi, since)
    ids = "id > %(lo)s AND id <= %(hi)s"
    return (
        _changed(cursor, "links_clickevent", "clicked_at", ids, {"lo": clicks_from, "hi": click_hi})
        | _changed(
            cursor,
            "sales_ledgertransaction",
            "occurred_at",
            ids,
            {"lo": ledger_from, "hi": ledger_hi},
        )  # fmt: skip
        | _changed(cursor, "sales_order", "placed_at", "updated_at >= %(s)s", {"s": since})
        | _changed(cursor, "sales_refund", "refunded_at", "created_at >= %(s)s", {"s": since})
        | _changed(
            cursor, "attribution_attribution", "placed_at", "decided_at >= %(s)s", {"s": since}
        )
    )


def _changed_portable(clicks_from, click_hi, ledger_from, ledger_hi, since) -> set[date]:
    tz = zone()
    return (
        portable.changed_days(ClickEvent, "clicked_at", Q(id__gt=clicks_from, id__lte=click_hi), tz)
        | portable.changed_days(
            LedgerTransaction, "occurred_at", Q(id__gt=ledger_from, id__lte=ledger_hi), tz
        )
        | portable.changed_days(Order, "placed_at", Q(updated_at__gte=since), tz)
        | portable.changed_days(Refund, "refunded_at", Q(created_at__gte=since), tz)
        | portable.changed_days(Attribution, "placed_at", Q(decided_at__gte=since), tz)
    )


def fold() -> dict:
    """Fold every fact that arrived since the last fold; one transaction, one fold at a time
    (the watermark rows are locked). Returns what it did."""
    with transaction.atomic(durable=True):
        marks = _watermarks()
        started = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute("SELECT COALESCE(max(id), 0) FROM links_clickevent")
            click_hi = cursor.fetchone()[0]
            cursor.execute("SELECT COALESCE(max(id), 0) FROM sales_ledgertransaction")
            ledger_hi = cursor.fetchone()[0]
            last_at = marks[SALES].last_at
            since = last_at - TIME_MARGIN if last_at else None
            days = changed_days(cursor, marks, click_hi=click_hi, ledger_hi=ledger_hi, since=since)
            _prepare(cursor)
            spans = windows(days)
            for first, last in spans:
                rebuild_window(cursor, first, last, ledger_wm=ledger_hi)
            refresh_months_of(cursor, days)
            if len(days) > 31 and connection.vendor == "postgresql":
                # A large fold (the first one, a backfill) changes the table's shape: fresh
                # statistics, so the dashboards' aggregates hash rather than sort on disk.
                cursor.execute("ANALYZE analytics_rollup")
        _advance(marks, click_hi=click_hi, ledger_hi=ledger_hi, at=started)
    return {"days": len(days), "windows": len(spans), "clicks_id": click_hi, "ledger_id": ledger_hi}


def _advance(marks, *, click_hi: int, ledger_hi: int, at) -> None:
    marks[CLICKS].last_id = max(marks[CLICKS].last_id, click_hi)
    marks[LEDGER].last_id = max(marks[LEDGER].last_id, ledger_hi)
    marks[SALES].last_at = at
    for mark in marks.values():
        mark.save()


def rebuild(first: date | None = None, last: date | None = None) -> dict:
    """Compute again every row from `first` to `last` (default: every day with facts),
    committing one window at a time. The ledger's watermark stays where the last fold left
    it, so that the commission counted is still exactly the ledger's up to it."""
    with connection.cursor() as cursor:
        if first is None or last is None:
            lo, hi = _fact_days(cursor)
            first, last = first or lo, last or hi
        if first is None:
            return {"days": 0, "windows": 0}
        days = {first + timedelta(days=n) for n in range((last - first).days + 1)}
        spans = windows(days)
        for lo_day, hi_day in spans:
            with transaction.atomic():
                # The watermarks locked, as a fold locks them: a fold and a rebuild both
                # rewrite month and quarter rows, so they take turns, window by window.
                ledger_wm = _watermarks()[LEDGER].last_id
                _prepare(cursor)
                rebuild_window(cursor, lo_day, hi_day, ledger_wm=ledger_wm)
                refresh_months(cursor, lo_day, hi_day)
    return {"days": len(days), "windows": len(spans)}


def _fact_days(cursor) -> tuple[date | None, date | None]:
    if connection.vendor != "postgresql":
        return _fact_days_portable()
    cursor.execute(
        """SELECT min(lo), max(hi) FROM (
             SELECT min(clicked_at) lo, max(clicked_at) hi FROM links_clickevent
             UNION ALL SELECT min(placed_at), max(placed_at) FROM sales_order
             UNION ALL SELECT min(refunded_at), max(refunded_at) FROM sales_refund
             UNION ALL SELECT min(occurred_at), max(occurred_at) FROM sales_ledgertransaction
           ) x"""
    )
    lo, hi = cursor.fetchone()
    if lo is None:
        return None, None
    return local_day(lo), local_day(hi)


def _fact_days_portable() -> tuple[date | None, date | None]:
    found = []
    for model, column in (
        (ClickEvent, "clicked_at"), (Order, "placed_at"), (Refund, "refunded_at"),
        (LedgerTransaction, "occurred_at"),
    ):  # fmt: skip
        span = model.objects.aggregate(lo=Min(column), hi=Max(column))
        if span["lo"] is not None:
            found.append((span["lo"], span["hi"]))
    if not found:
        return None, None
    return local_day(min(lo for lo, _ in found)), local_day(max(hi for _, hi in found))


__all__ = [
    "Rollup",
    "fold",
    "rebuild",
    "rebuild_window",
    "refresh_months",
    "windows",
    "day_start",
    "local_day",
]
