"""The rollups: idempotent folds from watermarks, late facts in their own bucket, refunds and
clawbacks as negative amounts, totals equal to the ledger's, the merchant's time zone."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum
from django.utils import timezone

from analytics import checks, portable, rollups, services
from analytics.models import Rollup, RollupWatermark
from links.models import ShortLink
from sales import ledger
from sales.ledger_models import LedgerEntry
from tests.analytics.helpers import credited_order, refund, rows
from tests.attribution.factories import CreatorFactory, click, link_for, program_with
from tests.ugc.factories import UGCItemFactory
from ugc.models import UGCItemLink

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")


@pytest.fixture
def maya():
    creator = CreatorFactory(handle="maya")
    program_with("10", creators=[creator])
    return creator


def day_rows(dim="total", key="", currency=""):
    return {
        r.bucket.astimezone(rollups.zone()).date(): r
        for r in Rollup.objects.filter(grain="d", dim=dim, key=key, currency=currency)
    }


def test_a_fold_counts_clicks_orders_refunds_and_commission_and_running_it_again_changes_nothing(
    maya,
):
    link = link_for(maya)
    now = timezone.now().replace(microsecond=0)
    click(maya, link=link, at=now - timedelta(hours=3), country="FR", device_type="mobile")
    click(maya, link=link, at=now - timedelta(hours=3), bot=True)
    order = credited_order(maya, link, at=now - timedelta(hours=2), total="80.00")
    refund(order, "20.00", at=now - timedelta(hours=1))

    services.rollups_fold()
    first = rows()
    services.rollups_fold()  # nothing new: the same rows
    assert rows() == first
    services.rollups_rebuild()  # every window computed again from the facts: the same rows
    assert rows() == first

    money = Rollup.objects.filter(grain="d", dim="link", key=str(link.pk), currency="USD")
    sums = money.aggregate(
        orders=Sum("orders"), revenue=Sum("revenue"), refunds=Sum("refunds"), c=Sum("commission")
    )
    assert sums == {"orders": 1, "revenue": 8000, "refunds": -2000, "c": 800 - 200}
    clicks = Rollup.objects.filter(grain="d", dim="link", key=str(link.pk), currency="")
    assert clicks.aggregate(h=Sum("clicks"), b=Sum("bot_clicks")) == {"h": 2, "b": 1}
    by_country = Rollup.objects.get(grain="d", dim="country", key="FR", currency="")
    assert by_country.clicks == 1
    hourly = Rollup.objects.filter(grain="h", dim="channel", key=str(order.channel_id))
    assert hourly.aggregate(s=Sum("commission"))["s"] == 600
    assert hourly.count() == 3  # the order, its refund, and the commission (posted now)
    # Per link, creator, content and product: daily rows only (an hour holds a click or two).
    assert not Rollup.objects.filter(grain="h", dim__in=["link", "creator", "product"]).exists()
    assert checks.commission_matches_ledger() == []
    assert checks.revenue_matches_orders() == []


def test_a_late_click_lands_in_the_bucket_of_when_it_happened(maya):
    link = link_for(maya)
    now = timezone.now()
    click(maya, link=link, at=now)
    services.rollups_fold()
    ten_days_ago = now - timedelta(days=10)
    click(maya, link=link, at=ten_days_ago)  # drained late: a new id, an old time

    result = services.rollups_fold()

    assert result["days"] >= 1
    days = day_rows("link", str(link.pk))
    assert days[rollups.local_day(ten_days_ago)].clicks == 1
    assert days[rollups.local_day(now)].clicks == 1


def test_a_refund_months_later_is_a_negative_row_in_its_own_month_and_clawback_too(maya):
    link = link_for(maya)
    placed = timezone.now() - timedelta(days=100)
    order = credited_order(maya, link, at=placed, total="50.00")
    services.rollups_fold()
    later = timezone.now() - timedelta(hours=1)
    refund(order, "50.00", at=later)

    services.rollups_fold()

    days = day_rows(currency="USD")
    assert days[rollups.local_day(placed)].revenue == 5000
    assert days[rollups.local_day(placed)].commission == 500
    assert days[rollups.local_day(later)].refunds == -5000
    assert days[rollups.local_day(later)].commission == -500
    assert checks.commission_matches_ledger() == []
    assert checks.revenue_matches_orders() == []


def test_totals_equal_the_ledgers_to_the_cent_and_a_wrong_row_is_reported(maya):
    link = link_for(maya)
    now = timezone.now()
    for n, total in enumerate(["19.99", "0.05", "333.33"]):
        credited_order(maya, link, at=now - timedelta(days=n), total=total)
    services.rollups_fold()
    expense = LedgerEntry.objects.filter(account__kind="commission_expense", currency="USD")
    debits = expense.filter(side="debit").aggregate(s=Sum("amount"))["s"]
    credits = expense.filter(side="credit").aggregate(s=Sum("amount"))["s"] or 0
    rolled = Rollup.objects.filter(grain="d", dim="total", currency="USD")
    assert rolled.aggregate(s=Sum("commission"))["s"] == debits - credits == 200 + 1 + 3333
    assert checks.commission_matches_ledger() == []
    assert ledger.verify()["ok"]

    rolled.filter(bucket__gte=now - timedelta(hours=30)).update(commission=1)

    problems = checks.commission_matches_ledger()
    assert problems and "commission in USD" in problems[0]
    result = ledger.verify()
    assert not result["ok"] and any("rollups' commission" in p for p in result["problems"])
    services.rollups_rebuild()  # computing the days again from the facts repairs them
    assert services.rollups_verify() == {"ok": True, "problems": []}


def test_the_portable_fold_of_make_runs_sqlite_makes_the_same_rows_as_postgresqls(maya):
    """`make run` folds in Python (SQLite has no GROUPING SETS): the same facts, the same
    rows, compared here on PostgreSQL."""
    product_link = link_for(maya)
    external = ShortLink.objects.create(url="https://elsewhere.example/item", code="ext1")
    item = UGCItemFactory(creator=maya)
    content_link = link_for(maya)
    UGCItemLink.objects.create(item=item, product=content_link.product, short_link=content_link)
    now = timezone.now().replace(microsecond=0)
    click(maya, link=external, at=now - timedelta(days=2), bot=True, referrer_host="x.com")
    click(maya, link=content_link, at=now - timedelta(hours=5), is_qr=True, is_unique=True)
    order = credited_order(maya, product_link, at=now - timedelta(days=3), total="10.10")
    refund(order, "3.03", at=now - timedelta(hours=2))
    credited_order(maya, content_link, at=now - timedelta(days=1), total="7.77", country="JP")
    services.rollups_fold()
    by_sql = [row for row in rows() if row[0] in ("h", "d")]  # the window's own rows: hours, days
    months_by_sql = [row for row in rows() if row[0] in ("m", "w")]  # months and weeks of a month
    ledger_wm = RollupWatermark.objects.get(name="ledger").last_id
    lo, hi = rollups.day_start(rollups.local_day(now) - timedelta(days=5)), now + timedelta(1)

    computed = portable.window_rows(lo, hi, ledger_wm=ledger_wm, tz=rollups.zone())

    by_python = sorted(
        (r.grain, r.dim, r.key, r.currency, r.bucket.astimezone(UTC), r.clicks, r.unique_clicks,
         r.bot_clicks, r.orders, r.revenue, r.refunds, r.commission)
        for r in computed
    )  # fmt: skip
    assert by_python == by_sql
    assert {r[1] for r in by_sql} >= {"content", "preview", "product", "channel", "source"}
    # The month and week rows summed in Python are PostgreSQL's too.
    portable.refresh_months(lo - timedelta(days=40), hi + timedelta(days=40), tz=rollups.zone())
    assert months_by_sql and [row for row in rows() if row[0] in ("m", "w")] == months_by_sql
    assert {row[0] for row in months_by_sql} == {"m", "w"}
