"""The dashboards' reads: ranges of local days, series, top tables, from rollups only.

Every page costs the same number of queries whatever its range: one for the series (this
period and the previous one side by side), one for every top table at once (in a transaction
of its own that gives it the memory to hash), one per kind of name shown, and the few "needs
attention" counts.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Min, Q, Sum
from django.utils import timezone

from analytics.models import Rollup
from analytics.rollups import HOURLY_DIMS, day_start, next_month, next_quarter, zone
from core.errors import ApplicationError
from sales.ledger_models import Commission, LedgerAccount
from sales.models import OrderLine, WebhookDelivery
from sales.reconciliation_models import ProviderTransaction
from ugc.models import UGCItem

RANGES = {
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "mtd": "Month to date",
    "custom": "Custom",
}
DEFAULT_RANGE = "30d"
MAX_DAYS = 400
TOP = 10
METRICS = ("clicks", "unique_clicks", "bot_clicks", "orders", "revenue", "refunds", "commission")


@dataclass(frozen=True)
class Range:
    key: str
    first: date
    last: date  # inclusive

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def hourly(self) -> bool:
        return self.days == 1

    @property
    def lo(self) -> datetime:
        return day_start(self.first)

    @property
    def hi(self) -> datetime:
        return day_start(self.last + timedelta(days=1))

    @property
    def previous(self) -> "Range":
        return Range("previous", self.first - timedelta(days=self.days), self.first - timedelta(1))

    @property
    def label(self) -> str:
        if self.key != "custom":
            return RANGES[self.key]
        return f"{self.first:%d %b %Y} – {self.last:%d %b %Y}"

    def buckets(self, hourly: bool) -> list[datetime]:
        """Every bucket of the range, for zero-filling: hours of the day, or days."""
        if hourly:
            start = self.lo
            return [
                (start + timedelta(hours=n)).astimezone(zone())
                for n in range(int((self.hi - self.lo).total_seconds() // 3600))
            ]
        return [day_start(self.first + timedelta(days=n)) for n in range(self.days)]


def today() -> date:
    return timezone.localtime(timezone.now(), zone()).date()


def parse_range(params) -> Range:
    """The range a page asks for: `range` = today, 7d, 30d, 90d, mtd, or custom with `from`
    and `to` (local days, inclusive). Bad input raises ApplicationError naming the field."""
    key = params.get("range") or DEFAULT_RANGE
    now = today()
    if key not in RANGES:
        raise ApplicationError(
            f"Unknown range {key!r}: choose one of {', '.join(RANGES)}.",
            code="invalid", fields={"range": ["Unknown range."]},
        )  # fmt: skip
    if key == "today":
        return Range(key, now, now)
    if key == "mtd":
        return Range(key, now.replace(day=1), now)
    if key != "custom":
        return Range(key, now - timedelta(days=int(key[:-1]) - 1), now)
    first, last = _day(params, "from"), _day(params, "to")
    if first > last:
        raise ApplicationError(
            "The range's start is after its end.", code="invalid",
            fields={"from": ["Must not be after the end."]},
        )  # fmt: skip
    if (last - first).days + 1 > MAX_DAYS:
        raise ApplicationError(
            f"A range covers at most {MAX_DAYS} days.", code="invalid",
            fields={"to": [f"At most {MAX_DAYS} days after the start."]},
        )  # fmt: skip
    return Range(key, first, last)


def _day(params, name: str) -> date:
    value = params.get(name) or ""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApplicationError(
            f"{name!r} must be a date like 2026-12-01; {value!r} is not.", code="invalid",
            fields={name: ["Enter a date like 2026-12-01."]},
        ) from None  # fmt: skip


# -- series -------------------------------------------------------------------------------


@dataclass
class Series:
    """Per bucket of this period and of the previous one: clicks and money per currency."""

    buckets: list[datetime]
    hourly: bool = False
    current: list[dict] = field(default_factory=list)
    previous: list[dict] = field(default_factory=list)
    currencies: list[str] = field(default_factory=list)

    def total(self, metric: str, *, previous=False, currency: str = "") -> int:
        rows = self.previous if previous else self.current
        return sum(row.get((metric, currency), 0) for row in rows)


def series(period: Range, *, dim: str = "total", keys=("",)) -> Series:
    """This period and the previous one, zero-filled, summed over `keys` of `dim`: by hour
    for one day where the dimension has hourly rows, else by day."""
    hourly = period.hourly and dim in HOURLY_DIMS
    grain = "h" if hourly else "d"
    previous = period.previous
    found = (
        Rollup.objects.filter(
            grain=grain, dim=dim, key__in=list(keys), bucket__gte=previous.lo, bucket__lt=period.hi
        )
        .values_list("bucket", "currency")
        .annotate(*(Sum(metric) for metric in METRICS))
        .order_by()
    )
    result = Series(buckets=period.buckets(hourly), hourly=hourly)
    lo = period.lo
    step = lo - previous.lo
    current = {b: {} for b in result.buckets}
    before = {b: {} for b in result.buckets}
    currencies = set()
    for bucket, currency, *values in found:
        if currency:
            currencies.add(currency)
        target = current if bucket >= lo else before
        bucket = bucket if bucket >= lo else bucket + step
        row = target.get(bucket)
        if row is None:  # a daylight-saving hour that the other period does not have
            continue
        for metric, value in zip(METRICS, values, strict=True):
            row[(metric, currency)] = row.get((metric, currency), 0) + int(value)
    result.current = [current[b] for b in result.buckets]
    result.previous = [before[b] for b in result.buckets]
    result.currencies = sorted(currencies)
    return result


# -- top tables ---------------------------------------------------------------------------


@dataclass
class Row:
    """One line of a top table: a dimension's value with its numbers (money by currency)."""

    dim: str
    key: str
    label: str = ""
    url: str = ""
    clicks: int = 0
    unique_clicks: int = 0
    bot_clicks: int = 0
    orders: int = 0
    money: dict = field(default_factory=dict)  # currency -> {"revenue", "refunds", ...}

    @property
    def conversion(self) -> float | None:
        return self.orders / self.clicks if self.clicks else None


WEEK_STARTS = (1, 8, 15, 22)  # the week rows of a month: days 1-7, 8-14, 15-21, 22-28


def pieces(first: date, last: date) -> list[tuple[str, date, date]]:
    """The days first..last (inclusive) as the fewest rollup rows per value that sum to them:
    (grain, first day, the day after) runs of whole quarters, whole months, whole weeks of a
    month (days 1-7, 8-14, 15-21, 22-28) and single days, in order; consecutive pieces of one
    grain are one run. At 180 days: a quarter, two or three months, three weeks, four days."""
    runs: list[tuple[str, date, date]] = []
    day = first
    while day <= last:
        if day.day == 1 and day.month % 3 == 1 and next_quarter(day) - timedelta(1) <= last:
            grain, end = Rollup.Grain.QUARTER, next_quarter(day)
        elif day.day == 1 and next_month(day) - timedelta(days=1) <= last:
            grain, end = Rollup.Grain.MONTH, next_month(day)
        elif day.day in WEEK_STARTS and day + timedelta(days=6) <= last:
            grain, end = Rollup.Grain.WEEK, day + timedelta(days=7)
        else:
            grain, end = Rollup.Grain.DAY, day + timedelta(days=1)
        if runs and runs[-1][0] == grain and runs[-1][2] == day:
            runs[-1] = (grain, runs[-1][1], end)
        else:
            runs.append((grain, day, end))
        day = end
    return runs


def _coarsest(period: Range) -> Q:
    """The rows that sum to the range with the fewest rows: a quarter or month row per value
    for every whole quarter or month inside it, a week row for every whole week of a month
    left, day rows for the days left (see `pieces`)."""
    where = Q()
    for grain, lo, hi in pieces(period.first, period.last):
        where |= Q(grain=grain, bucket__gte=day_start(lo), bucket__lt=day_start(hi))
    return where


# PostgreSQL guesses ten times more groups than the top tables have (a value per link per
# currency it cannot tell apart), so under the default work_mem (4 MB) it sorts the rows on
# disk by their text keys to group them; with room for the guess it hashes them in memory,
# two to three times faster at 180 days (`make bench-dashboard`). Only for this transaction.
TOP_WORK_MEM = "32MB"


def _hash_aggregate() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{TOP_WORK_MEM}'")


# The top tables ranked inside the database: every value's numbers per currency summed over
# the range's coarsest rows (`v`), each value's rank in its dimension by orders, then clicks,
# then bots and unfurls, then its key in code-point order (`r`: the order Python's `sorted`
# gave when the ranking was done here), and only the rows of the first `limit` values come
# back. One statement on PostgreSQL and SQLite alike (window functions); `{rows}` is the
# ORM's query of `v`, `{collate}` the binary collation of each.
_TOP_SQL = """
WITH v AS ({rows}),
r AS (
  SELECT dim, "key", ROW_NUMBER() OVER (
    PARTITION BY dim
    ORDER BY SUM(orders_) DESC, SUM(clicks_) DESC, SUM(bot_clicks_) DESC, "key" {collate}
  ) AS n
  FROM v GROUP BY dim, "key"
)
SELECT v.dim, v."key", v.currency, r.n, {metrics}
FROM v JOIN r ON r.dim = v.dim AND r."key" = v."key"
WHERE r.n <= %s
ORDER BY v.dim, r.n, v.currency
"""
_COLLATE = {"postgresql": 'COLLATE "C"', "sqlite": "COLLATE BINARY"}


def top(period: Range, dims: list[str], *, keys: list[str] | None = None, limit=TOP) -> dict:
    """dim -> its first `limit` rows ranked by orders, then clicks, then bots and unfurls,
    then key (one query for every dimension; the ranking is done by the database)."""
    if keys is not None and not keys:  # an item with no links: nothing to read
        return {dim: [] for dim in dims}
    rows = Rollup.objects.filter(_coarsest(period), dim__in=dims)
    if keys is not None:
        rows = rows.filter(key__in=keys)
    summed = (
        rows.values("dim", "key", "currency")
        .annotate(**{f"{metric}_": Sum(metric) for metric in METRICS})
        .order_by()
    )
    inner, params = summed.query.sql_with_params()
    sql = _TOP_SQL.format(
        rows=inner,
        collate=_COLLATE.get(connection.vendor, ""),
        metrics=", ".join(f"v.{metric}_" for metric in METRICS),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        _hash_aggregate()
        cursor.execute(sql, [*params, limit])
        found = cursor.fetchall()
    tables: dict[str, dict[str, Row]] = {dim: {} for dim in dims}
    for dim, key, currency, _n, clicks, uniq, bots, orders, revenue, refunds, commission in found:
        row = tables[dim].setdefault(key, Row(dim=dim, key=key))
        row.clicks += int(clicks)
        row.unique_clicks += int(uniq)
        row.bot_clicks += int(bots)
        row.orders += int(orders)
        if currency:
            row.money[currency] = {
                "revenue": int(revenue), "refunds": int(refunds),
                "net": int(revenue) + int(refunds), "commission": int(commission),
            }  # fmt: skip
    return {dim: list(rows.values()) for dim, rows in tables.items()}


# -- what needs attention -------------------------------------------------------------------


def attention() -> list[dict]:
    """Counts the merchant should act on, each with where to act (five small queries)."""
    oldest = UGCItem.objects.filter(status=UGCItem.Status.QUEUED).aggregate(at=Min("created_at"))[
        "at"
    ]
    age = timezone.now() - oldest if oldest else None
    return [
        {
            "label": "Moderation queue: oldest item waiting",
            "value": _age(age) if age else "empty",
            "warn": bool(age and age > timedelta(days=1)),
            "url": "admin:ugc_ugcitem_changelist",
        },
        {
            "label": "Commissions held for review",
            "value": Commission.objects.filter(status=Commission.Status.HELD).count(),
            "url": "admin:attribution_heldcommission_changelist",
        },
        {
            "label": "Failed webhook deliveries",
            "value": WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).count(),
            "url": "admin:sales_webhookdelivery_changelist",
        },
        {
            "label": "Order lines with no product",
            "value": OrderLine.objects.filter(variant__isnull=True).count(),
            "url": "admin:sales_unmappedline_changelist",
        },
        {
            "label": "Reconciliation problems",
            "value": ProviderTransaction.objects.filter(
                Q(status__in=ProviderTransaction.OPEN)
            ).count(),
            "url": "admin:sales_providertransaction_changelist",
        },
    ]


def _age(age: timedelta) -> str:
    if age >= timedelta(days=1):
        return f"{age.days} day{'s' if age.days != 1 else ''}"
    hours = int(age.total_seconds() // 3600)
    return f"{hours} h" if hours else f"{int(age.total_seconds() // 60)} min"


def commission_owed(creator_id: int | None = None) -> dict:
    """What creators hold now, per currency: pending (in its hold), available, paid."""
    kinds = [LedgerAccount.Kind.PENDING, LedgerAccount.Kind.AVAILABLE, LedgerAccount.Kind.PAID]
    accounts = LedgerAccount.objects.filter(owner=LedgerAccount.Owner.CREATOR, kind__in=kinds)
    if creator_id is not None:
        accounts = accounts.filter(creator_id=creator_id)
    owed: dict[str, dict[str, int]] = {}
    for kind, currency, balance in accounts.values_list("kind", "currency", "balance"):
        owed.setdefault(currency, dict.fromkeys(kinds, 0))[kind] += balance
    return dict(sorted(owed.items()))


def has_rollups() -> bool:
    return Rollup.objects.exists()
