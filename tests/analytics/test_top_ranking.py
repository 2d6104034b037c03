"""The top tables ranked by the database over month, week and day rows: the same tables as
summing every day row of the range in Python and sorting there (orders summed over
currencies, then clicks, then bots and unfurls, then the key in code-point order), money kept
per currency, on PostgreSQL and on `make run`'s SQLite; week rows are the sums of their days."""

import json
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import asdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from analytics import rollups, selectors, services
from analytics.models import Rollup
from analytics.selectors import METRICS
from tests.analytics.helpers import (
    PREVIEW_KEYS,
    RANKED_DIMS,
    ranking_rows,
    refund,
    rows,
    top_by_days,
)
from tests.analytics.test_month_rollups import LA, shop  # noqa: F401 - the fixture
from tests.attribution.factories import click

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
FIRST, LAST = date(2026, 9, 25), date(2026, 11, 9)  # ragged days, October, a week, two days
RANGES = [(FIRST, LAST), (date(2026, 6, 25), date(2026, 10, 9))]  # days, Q3, a week, days
EXPECTED_LINKS = ["2", "3", "11", "4", "6", "5", "10", "12", "7", "8"]
EXPECTED_PREVIEWS = ["10", "9", "Zeta", "a b", "alpha", "Éclair", "éclair"]


def tables(found: dict) -> dict:
    return {dim: [asdict(row) for row in rows] for dim, rows in found.items()}


@pytest.mark.parametrize(("first", "last"), RANGES)
def test_the_ranking_breaks_ties_by_clicks_bots_then_key_and_keeps_currencies_apart(
    settings, first, last
):
    settings.DASHBOARD_TIME_ZONE = LA.key
    ranking_rows(first, last)
    period = selectors.Range("custom", first, last)

    found = selectors.top(period, RANKED_DIMS)

    assert found == top_by_days(period, RANKED_DIMS, limit=10)
    assert [row.key for row in found["link"]] == EXPECTED_LINKS  # "9" is the eleventh
    assert [row.key for row in found["preview"]] == EXPECTED_PREVIEWS == sorted(PREVIEW_KEYS)
    two = found["link"][0]
    assert (two.orders, two.clicks) == (2, 3)  # one order in USD and one in EUR
    assert two.money == {
        "USD": {"revenue": 500, "refunds": 0, "net": 500, "commission": 50},
        "EUR": {"revenue": 700, "refunds": -200, "net": 500, "commission": 49},
    }
    four = found["link"][3]
    assert (four.orders, four.money["USD"]["revenue"]) == (1, 100)  # the day after: left out
    assert found["link"][5].clicks == 7  # the 100 clicks before the range: left out
    for limit in (1, 3, 6, 100):
        assert selectors.top(period, RANKED_DIMS, limit=limit) == top_by_days(
            period, RANKED_DIMS, limit=limit
        )
    some = selectors.top(period, ["link"], keys=["5", "6", "9", "nope"])
    assert [row.key for row in some["link"]] == ["6", "5", "9"]
    assert selectors.top(period, ["link"], keys=[]) == {"link": []}


def test_the_range_reads_months_weeks_of_a_month_and_days(settings):
    settings.DASHBOARD_TIME_ZONE = LA.key
    assert selectors.pieces(FIRST, LAST) == [
        ("d", date(2026, 9, 25), date(2026, 10, 1)),  # the 22nd-28th week is not whole
        ("m", date(2026, 10, 1), date(2026, 11, 1)),
        ("w", date(2026, 11, 1), date(2026, 11, 8)),
        ("d", date(2026, 11, 8), date(2026, 11, 10)),
    ]
    # 180 days to 7 December: days, two weeks, days, the third quarter, two months, a week.
    assert [g for g, _, _ in selectors.pieces(date(2026, 6, 11), date(2026, 12, 7))] == [
        "d", "w", "d", "q", "m", "w"
    ]  # fmt: skip
    ranking_rows(FIRST, LAST)
    read = Rollup.objects.filter(selectors._coarsest(selectors.Range("custom", FIRST, LAST)))
    assert set(read.values_list("grain", flat=True)) == {"d", "m", "w"}
    assert not read.filter(grain="d", bucket__gte=rollups.day_start(date(2026, 10, 1)),
                           bucket__lt=rollups.day_start(date(2026, 11, 8))).exists()  # fmt: skip
    first, last = RANGES[1]
    ranking_rows(first, last)
    read = Rollup.objects.filter(selectors._coarsest(selectors.Range("custom", first, last)))
    assert set(read.values_list("grain", flat=True)) == {"d", "q", "w"}


def test_pieces_cover_every_day_of_any_range_once_with_whole_months_and_weeks():
    start = date(2027, 1, 20)  # February of a common year: its weeks end on the 28th
    for first in (start + timedelta(days=n) for n in range(0, 75, 3)):
        for length in (1, 2, 6, 7, 8, 13, 28, 29, 31, 45, 90, 180, 400):
            last = first + timedelta(days=length - 1)
            covered = []
            for grain, lo, hi in selectors.pieces(first, last):
                if grain == "q":
                    assert lo.day == hi.day == 1 and lo.month % 3 == hi.month % 3 == 1
                if grain == "m":
                    assert lo.day == 1 and hi.day == 1
                if grain == "w":
                    assert lo.day in (1, 8, 15, 22) and (hi - lo).days % 7 == 0
                    step = lo
                    while step < hi:  # consecutive weeks, none past the 28th
                        assert step.day in (1, 8, 15, 22)
                        step += timedelta(days=7)
                covered += [lo + timedelta(days=n) for n in range((hi - lo).days)]
            assert covered == [first + timedelta(days=n) for n in range(length)]


@pytest.mark.parametrize(("first", "last"), RANGES)
def test_sqlite_ranks_the_same_tables(tmp_path, first, last):
    """`make run`'s SQLite: the same rows, week and month rows summed in Python, the same
    statement ranking them, the same tables."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings", DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", DASHBOARD_TIME_ZONE=LA.key,
    )  # fmt: skip
    script = f"""
import json
import django
django.setup()
from dataclasses import asdict
from datetime import date
from django.db import connection
from analytics import selectors
from analytics.models import Rollup
from tests.analytics.helpers import RANKED_DIMS, ranking_rows, top_by_days
assert connection.vendor == "sqlite"
with connection.schema_editor() as editor:
    editor.create_model(Rollup)
first, last = date.fromisoformat({str(first)!r}), date.fromisoformat({str(last)!r})
ranking_rows(first, last)
period = selectors.Range("custom", first, last)
out = {{}}
for limit in (3, 10, 100):
    found = selectors.top(period, RANKED_DIMS, limit=limit)
    assert found == top_by_days(period, RANKED_DIMS, limit=limit), limit
    out[limit] = {{d: [asdict(r) for r in rows] for d, rows in found.items()}}
weeks = sorted((r.grain, r.dim, r.key, r.currency, r.bucket.isoformat(), r.clicks, r.revenue)
               for r in Rollup.objects.filter(grain__in=["w", "m", "q"]))
print(json.dumps({{"tables": out, "weeks": weeks}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    on_sqlite = json.loads(result.stdout.strip().splitlines()[-1])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.conf.settings.DASHBOARD_TIME_ZONE", LA.key)
        ranking_rows(first, last)
        period = selectors.Range("custom", first, last)
        for limit in (3, 10, 100):
            on_postgresql = tables(selectors.top(period, RANKED_DIMS, limit=limit))
            assert on_sqlite["tables"][str(limit)] == on_postgresql
        weeks = sorted(
            [r.grain, r.dim, r.key, r.currency,
             r.bucket.astimezone(ZoneInfo("UTC")).isoformat(), r.clicks, r.revenue]
            for r in Rollup.objects.filter(grain__in=["w", "m", "q"])
        )  # fmt: skip
    assert [row["key"] for row in on_sqlite["tables"]["10"]["link"]] == EXPECTED_LINKS
    assert [row["key"] for row in on_sqlite["tables"]["10"]["preview"]] == EXPECTED_PREVIEWS
    assert [row["key"] for row in on_sqlite["tables"]["3"]["preview"]] == EXPECTED_PREVIEWS[:3]
    sqlite_weeks = [
        [g, d, k, c, datetime.fromisoformat(b).astimezone(ZoneInfo("UTC")).isoformat(), n, r]
        for g, d, k, c, b, n, r in on_sqlite["weeks"]
    ]
    assert {w[0] for w in weeks} == {"w", "m", "q"}
    assert sorted(sqlite_weeks) == weeks  # week, month and quarter rows summed alike


def assert_weeks_and_quarters_are_sums_of_their_days():
    sums = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    for row in Rollup.objects.filter(grain="d"):
        local = row.bucket.astimezone(rollups.zone()).date()
        starts = [("q", rollups.day_start(rollups.quarter_start(local)))]
        if local.day <= 28:
            starts.append(("w", rollups.day_start(local.replace(day=1 + (local.day - 1) // 7 * 7))))
        for grain, start in starts:
            for metric in METRICS:
                sums[(grain, row.dim, row.key, row.currency, start)][metric] += getattr(row, metric)
    found = {
        (row.grain, row.dim, row.key, row.currency, row.bucket): {
            m: getattr(row, m) for m in METRICS
        }
        for row in Rollup.objects.filter(grain__in=["w", "q"])
    }
    assert found == dict(sums)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2026, 9, 29), date(2026, 11, 20)),  # days, October, two weeks, days
        (date(2026, 9, 8), date(2026, 11, 7)),  # weeks on both sides
        (date(2026, 10, 1), date(2026, 10, 7)),  # one week
        (date(2026, 9, 25), date(2026, 10, 31)),
        (date(2026, 6, 30), date(2026, 12, 31)),  # a day, two quarters
    ],
)
def test_folded_facts_give_the_same_tables_as_summing_every_day(shop, first, last):  # noqa: F811
    period = selectors.Range("custom", first, last)
    dims = [choice for choice, _ in Rollup.Dim.choices if choice != "total"]
    for limit in (1, 10):
        assert selectors.top(period, dims, limit=limit) == top_by_days(period, dims, limit=limit)
    assert sum(row.orders for row in selectors.top(period, dims)["creator"]) > 0


def test_weeks_and_quarters_are_the_sums_of_their_days_after_folds_late_facts_and_rebuilds(
    shop,  # noqa: F811
):
    assert_weeks_and_quarters_are_sums_of_their_days()
    assert Rollup.objects.filter(grain="w", dim="total", currency="USD").exists()
    week = rollups.day_start(date(2026, 11, 15))  # 15-21 November: the orders of the 20th
    before = Rollup.objects.get(grain="w", dim="total", currency="USD", bucket=week)
    third = rollups.day_start(date(2026, 7, 1))  # July to September: the orders of September
    q3_clicks = Rollup.objects.get(grain="q", dim="total", currency="", bucket=third).clicks

    refund(shop["orders"][0], "5.00", at=datetime(2026, 11, 16, 9, tzinfo=LA))
    click(shop["maya"], link=shop["link"], at=datetime(2026, 9, 2, 9, tzinfo=LA))  # late
    click(shop["maya"], link=shop["link"], at=datetime(2026, 7, 15, 9, tzinfo=LA))  # later
    services.rollups_fold()

    assert_weeks_and_quarters_are_sums_of_their_days()
    after = Rollup.objects.get(grain="w", dim="total", currency="USD", bucket=week)
    assert (after.revenue, after.refunds) == (before.revenue, before.refunds - 500)
    early = Rollup.objects.get(
        grain="w", dim="total", currency="", bucket=rollups.day_start(date(2026, 9, 1))
    )
    assert early.clicks == 1
    q3 = Rollup.objects.get(grain="q", dim="total", currency="", bucket=third)
    assert q3.clicks == q3_clicks + 2
    folded = rows()
    services.rollups_rebuild()
    assert rows() == folded
