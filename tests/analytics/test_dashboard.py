"""The dashboards: ranges in the merchant's time zone, zero-filled; the same number of queries
whatever the range; CSV of every table; who may see them."""

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from analytics import selectors, services
from core.errors import ApplicationError
from tests.analytics.helpers import credited_order, refund
from tests.attribution.factories import CreatorFactory, click, link_for, program_with
from tests.ugc.factories import UGCItemFactory

pytestmark = pytest.mark.django_db

LA = "America/Los_Angeles"


@pytest.fixture
def maya():
    creator = CreatorFactory(handle="maya")
    program_with("10", creators=[creator])
    return creator


def user_in(role):
    user = User.objects.create_user(f"{role}-user", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def test_an_order_at_2330_local_in_utc_minus_8_is_on_that_local_day(settings, maya, owner_client):
    settings.DASHBOARD_TIME_ZONE = LA
    local = datetime(2026, 11, 20, 23, 30, tzinfo=ZoneInfo(LA))  # 07:30 UTC on the 21st
    credited_order(maya, link_for(maya), at=local, total="42.00")
    services.rollups_fold()

    day = selectors.Range("custom", local.date(), local.date())
    next_day = selectors.Range("custom", local.date() + timedelta(1), local.date() + timedelta(1))
    assert selectors.series(day).total("orders", currency="USD") == 1
    assert selectors.series(day).total("revenue", currency="USD") == 4200
    assert selectors.series(next_day).total("orders", currency="USD") == 0
    hours = selectors.series(day)
    assert len(hours.buckets) == 24
    at_2300 = hours.buckets.index(datetime(2026, 11, 20, 23, tzinfo=ZoneInfo(LA)))
    assert hours.current[at_2300][("orders", "USD")] == 1

    page = owner_client.get(
        "/admin/", {"range": "custom", "from": "2026-11-20", "to": "2026-11-20"}
    )
    assert page.status_code == 200
    assert "$42.00" in page.content.decode()
    assert LA in page.content.decode()


def test_ranges_are_whole_local_days_zero_filled_with_the_previous_period_beside(settings, maya):
    settings.DASHBOARD_TIME_ZONE = LA
    link = link_for(maya)
    now = timezone.now()
    click(maya, link=link, at=now)
    click(maya, link=link, at=now - timedelta(days=7))  # in the previous 7 days
    services.rollups_fold()

    week = selectors.parse_range({"range": "7d"})
    result = selectors.series(week)
    assert len(result.buckets) == 7 == len(result.current) == len(result.previous)
    assert result.total("clicks") == 1
    assert result.total("clicks", previous=True) == 1
    assert sum(1 for row in result.current if not row) >= 5  # days without clicks are zeros
    assert selectors.parse_range({"range": "mtd"}).first.day == 1
    assert selectors.parse_range({"range": "today"}).hourly


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"range": "year"}, "range"),
        ({"range": "custom", "from": "2026-13-01", "to": "2026-12-01"}, "from"),
        ({"range": "custom", "from": "2026-12-02", "to": "2026-12-01"}, "from"),
        ({"range": "custom", "from": "2020-01-01", "to": "2026-12-01"}, "to"),
    ],
)
def test_a_bad_range_names_the_field_and_the_page_shows_the_default(params, field, owner_client):
    with pytest.raises(ApplicationError) as error:
        selectors.parse_range(params)
    assert field in error.value.fields
    page = owner_client.get("/admin/", params)
    assert page.status_code == 200
    assert "Showing Last 30 days" in page.content.decode()


def grow(maya, days: int):
    def add():
        now = timezone.now()
        for n in range(days):
            link = link_for(maya)
            click(maya, link=link, at=now - timedelta(days=n), country="DE")
            credited_order(maya, link, at=now - timedelta(days=n, hours=1), total="10.00")
        services.rollups_fold()

    return add


@pytest.mark.parametrize("range_key", ["today", "7d", "90d"])
def test_the_home_costs_the_same_queries_whatever_the_range_and_the_data(
    range_key, maya, owner_client, query_budget
):
    grow(maya, 2)()  # every table has rows before and after
    count = query_budget(owner_client, "/admin/", grow(maya, 20), {"range": range_key})
    assert count <= 30


def test_entity_pages_cost_the_same_queries_and_are_reachable_from_tables(
    maya, owner_client, query_budget
):
    grow(maya, 2)()
    link = maya.links.first()
    for url in (
        reverse("analytics:link", args=[link.pk]),
        reverse("analytics:creator", args=[maya.pk]),
        reverse("analytics:product", args=[link.product_id]),
    ):
        query_budget(owner_client, url, grow(maya, 5), {"range": "90d"})
    home = owner_client.get("/admin/", {"range": "30d"}).content.decode()
    assert reverse("analytics:creator", args=[maya.pk]) in home
    assert reverse("analytics:link", args=[link.pk]) in home


def test_every_table_downloads_as_csv_with_money_in_its_currency(maya, owner_client):
    link = link_for(maya)
    order = credited_order(maya, link, at=timezone.now() - timedelta(hours=2), total="25.50")
    refund(order, "5.50", at=timezone.now() - timedelta(hours=1))
    services.rollups_fold()
    page = owner_client.get("/admin/", {"range": "7d"})
    for name in ("link", "creator", "content", "preview", "product", "channel", "country",
                 "device", "source"):  # fmt: skip
        assert f"csv={name}" in page.content.decode()
    response = owner_client.get("/admin/", {"range": "7d", "csv": "creator"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["creator", "key", "clicks"]
    assert rows[1][0] == "@maya" and rows[1][6] == "USD"
    assert rows[1][7:] == ["25.50", "-5.50", "20.00", "2.00"]
    days = owner_client.get(
        reverse("analytics:link", args=[link.pk]), {"range": "7d", "csv": "days"}
    )
    assert len(list(csv.reader(io.StringIO(days.content.decode())))) == 1 + 7
    assert owner_client.get("/admin/", {"csv": "nope"}).status_code == 404


def test_owner_and_finance_see_the_dashboard_others_the_console_as_before(client, maya):
    link = link_for(maya)
    for role in ("Owner", "Finance"):
        client.force_login(user_in(role))
        assert "dash-kpis" in client.get("/admin/").content.decode()
        assert client.get(reverse("analytics:link", args=[link.pk])).status_code == 200
    for role in ("Catalog manager", "Moderator"):
        client.force_login(user_in(role))
        page = client.get("/admin/")
        assert page.status_code == 200 and "dash-kpis" not in page.content.decode()
        assert client.get(reverse("analytics:link", args=[link.pk])).status_code == 403
    client.logout()
    assert client.get("/admin/").status_code == 302


def test_the_console_pages_of_links_creators_content_and_products_link_to_their_analytics(
    maya, owner_client, client
):
    link = link_for(maya)
    item = UGCItemFactory(creator=maya)
    pages = [
        ("admin:links_shortlink_change", "analytics:link", link.pk),
        ("admin:creators_creator_change", "analytics:creator", maya.pk),
        ("admin:ugc_ugcitem_change", "analytics:content", item.pk),
        ("admin:catalog_product_change", "analytics:product", link.product_id),
    ]
    for console, target, pk in pages:
        page = reverse(console, args=[pk])
        html = owner_client.get(page).content.decode()
        assert f'href="{reverse(target, args=[pk])}"' in html, page
        assert owner_client.get(reverse(target, args=[pk]), {"range": "7d"}).status_code == 200
    client.force_login(user_in("Catalog manager"))  # no dashboards: no button
    html = client.get(reverse("admin:links_shortlink_change", args=[link.pk])).content.decode()
    assert "analyticslink" not in html
