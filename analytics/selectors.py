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
from analytics.rollups import HOURLY_DIMS, day_start, month_start, next_month, zone
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
    step = period.lo - previous.lo
    current = {b: {} for b in result.buckets}
    before = {b: {} for b in result.buckets}
    currencies = set()
    for bucket, currency, *values in found:
        if currency:
            currencies.add(currency)
        target = current if bucket >= period.lo else before
        bucket = bucket if bucket >= period.lo else bucket + step
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


def _coarsest(period: Range) -> Q:
    """The rows that sum to the range with the fewest rows: a month row per value for every
    whole month inside it, day rows for the days before the first and after the last."""
    first_month = period.first if period.first.day == 1 else next_month(period.first)
    end_month = month_start(period.last + timedelta(days=1))  # the first month not whole
    if first_month >= end_month:
        return Q(grain=Rollup.Grain.DAY, bucket__gte=period.lo, bucket__lt=period.hi)
    months_lo, months_hi = day_start(first_month), day_start(end_month)
    return (
        Q(grain=Rollup.Grain.DAY, bucket__gte=period.lo, bucket__lt=months_lo)
        | Q(grain=Rollup.Grain.MONTH, bucket__gte=months_lo, bucket__lt=months_hi)
        | Q(grain=Rollup.Grain.DAY, bucket__gte=months_hi, bucket__lt=period.hi)
    )


# PostgreSQL guesses ten times more groups than the top tables have (a value per link per
# currency it cannot tell apart), so under the default work_mem (4 MB) it sorts the rows on
# disk by their text keys to group them; with room for the guess it hashes them in memory,
# two to three times faster at 180 days (`make bench-dashboard`). Only for this transaction.
TOP_WORK_MEM = "32MB"


def _hash_aggregate() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{TOP_WORK_MEM}'")


def top(period: Range, dims: list[str], *, keys: list[str] | None = None, limit=TOP) -> dict:
    """dim -> its rows ranked by orders, then clicks (one query for every dimension)."""
    rows = Rollup.objects.filter(_coarsest(period), dim__in=dims)
    if keys is not None:
        rows = rows.filter(key__in=keys)
    # Every value's numbers per currency, summed in the database (one query); ranked here.
    found = (
        rows.values_list("dim", "key", "currency")
        .annotate(*(Sum(metric) for metric in METRICS))
        .order_by()
    )
    with transaction.atomic():
        _hash_aggregate()
        found = list(found)
    tables: dict[str, dict[str, Row]] = {dim: {} for dim in dims}
    for dim, key, currency, clicks, uniq, bots, orders, revenue, refunds, commission in found:
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

    def rank(row: Row):
        return (-row.orders, -row.clicks, -row.bot_clicks, row.key)

    return {dim: sorted(rows.values(), key=rank)[:limit] for dim, rows in tables.items()}


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
