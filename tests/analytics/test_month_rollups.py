"""Month rows: each is the sum of its days, kept so by every fold and rebuild (late facts
too), and a range spanning month edges reads the same numbers as summing its days."""

from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q

from analytics import rollups, selectors, services
from analytics.models import Rollup
from analytics.selectors import METRICS
from tests.analytics.helpers import credited_order, refund, rows
from tests.attribution.factories import CreatorFactory, click, link_for, program_with

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
DIMS = [choice for choice, _ in Rollup.Dim.choices if choice != "total"]


@pytest.fixture
def shop(settings):
    """Clicks and orders of two creators over September to November, some on the local
    edges of months (in UTC-7/-8 a month's last evening is the next month in UTC)."""
    settings.DASHBOARD_TIME_ZONE = LA.key
    maya, noor = CreatorFactory(handle="maya"), CreatorFactory(handle="noor")
    program_with("10", creators=[maya, noor])
    links = {maya: link_for(maya), noor: link_for(noor)}
    moments = [
        datetime(2026, 9, 28, 12, tzinfo=LA),
        datetime(2026, 9, 30, 23, 30, tzinfo=LA),
        datetime(2026, 10, 1, 0, 30, tzinfo=LA),
        datetime(2026, 10, 15, 9, tzinfo=LA),
        datetime(2026, 10, 31, 23, 30, tzinfo=LA),
        datetime(2026, 11, 1, 0, 15, tzinfo=LA),
        datetime(2026, 11, 20, 18, tzinfo=LA),
        datetime(2026, 11, 21, 8, tzinfo=LA),
    ]
    orders = []
    for n, at in enumerate(moments):
        creator = maya if n % 2 else noor
        click(creator, link=links[creator], at=at, country="FR" if n % 3 else "DE")
        total = f"{10 + n}.{n}5"
        orders.append(credited_order(creator, links[creator], at=at, total=total))
    services.rollups_fold()
    return {"orders": orders, "maya": maya, "link": links[maya]}


def days_only(period: selectors.Range) -> Q:
    """The old reading: every day row of the range."""
    return Q(grain="d", bucket__gte=period.lo, bucket__lt=period.hi)


def assert_months_are_sums_of_their_days():
    sums = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    for row in Rollup.objects.filter(grain="d"):
        local = row.bucket.astimezone(rollups.zone()).date()
        month = rollups.day_start(rollups.month_start(local))
        for metric in METRICS:
            sums[(row.dim, row.key, row.currency, month)][metric] += getattr(row, metric)
    months = {
        (row.dim, row.key, row.currency, row.bucket): {m: getattr(row, m) for m in METRICS}
        for row in Rollup.objects.filter(grain="m")
    }
    assert months == dict(sums)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2026, 9, 29), date(2026, 11, 20)),  # ragged both sides, October whole
        (date(2026, 9, 1), date(2026, 11, 30)),  # whole months only
        (date(2026, 10, 1), date(2026, 11, 1)),  # a whole month and a day
        (date(2026, 10, 2), date(2026, 10, 30)),  # inside one month: days only
    ],
)
def test_a_range_spanning_month_edges_gives_the_same_tables_as_summing_its_days(
    shop, monkeypatch, first, last
):
    period = selectors.Range("custom", first, last)
    by_months = selectors.top(period, DIMS, limit=100)
    monkeypatch.setattr(selectors, "_coarsest", days_only)
    by_days = selectors.top(period, DIMS, limit=100)

    assert by_months == by_days
    assert sum(row.orders for row in by_days["creator"]) > 0


def test_the_ragged_range_reads_month_rows_for_whole_months(shop):
    period = selectors.Range("custom", date(2026, 9, 29), date(2026, 11, 20))
    read = Rollup.objects.filter(selectors._coarsest(period))
    october = rollups.day_start(date(2026, 10, 1))
    assert set(read.filter(grain="m").values_list("bucket", flat=True)) == {october}
    assert not read.filter(grain="d", bucket__gte=october, bucket__lt=rollups.day_start(
        date(2026, 11, 1))).exists()  # fmt: skip


def test_months_are_the_sums_of_their_days_after_folds_late_facts_and_rebuilds(shop):
    assert_months_are_sums_of_their_days()
    assert Rollup.objects.filter(grain="m", dim="total", currency="USD").count() == 3

    # A refund in November of a September order: November's month row moves, September's not.
    september = rollups.day_start(date(2026, 9, 1))
    before = Rollup.objects.get(grain="m", dim="total", currency="USD", bucket=september)
    clicks = Rollup.objects.get(grain="m", dim="total", currency="", bucket=september).clicks
    refund(shop["orders"][0], "5.00", at=datetime(2026, 11, 21, 9, tzinfo=LA))
    late = datetime(2026, 9, 2, 9, tzinfo=LA)
    click(shop["maya"], link=shop["link"], at=late)  # a click drained late
    services.rollups_fold()
    assert_months_are_sums_of_their_days()
    after = Rollup.objects.get(grain="m", dim="total", currency="USD", bucket=september)
    assert (after.revenue, after.refunds) == (before.revenue, before.refunds)
    november = Rollup.objects.get(
        grain="m", dim="total", currency="USD", bucket=rollups.day_start(date(2026, 11, 1))
    )
    assert november.refunds == -500
    late_month = Rollup.objects.get(grain="m", dim="total", currency="", bucket=september)
    assert late_month.clicks == clicks + 1

    folded = rows()
    services.rollups_fold()  # nothing new
    assert rows() == folded
    services.rollups_rebuild()  # every window again, its months with it
    assert rows() == folded
