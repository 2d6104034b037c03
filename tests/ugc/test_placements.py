"""Placement: the order credit reads it from the landing page, the beacon refuses unknown
ones, and the console report says which placement sells, with each item's funnel."""

import json
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone

from attribution.services import attribution_decide
from tests.attribution.factories import click, link_for, make_order, program_with
from tests.links.factories import CreatorFactory
from tests.ugc.admin_helpers import login
from tests.ugc.factories import publishable_item
from ugc import metrics
from ugc.models import UGCItem

REPORT = "/admin/ugc/ugcmetricdaily/placements/"


@pytest.fixture(autouse=True)
def clean_counters():
    buf = metrics.buffer
    buf.client().delete(buf.list_key, buf.lock_key)
    yield
    buf.client().delete(buf.list_key, buf.lock_key)


@pytest.mark.django_db
def test_the_order_credit_takes_the_placement_of_the_item_it_came_through():
    creator = CreatorFactory(handle="maya")
    program_with("10", creators=[creator])
    item = publishable_item(status=UGCItem.Status.PUBLISHED, creator=creator)
    other = publishable_item(status=UGCItem.Status.PUBLISHED, creator=creator)
    visit = click(creator, link=link_for(creator), utm_content=f"ugc-{item.pk}")

    through_card = make_order(
        click_id=str(visit.click_id),
        landing_url=f"/products/x/?utm_content=ugc-{item.pk}&ugc_placement=widget",
    )
    credit = attribution_decide(order_id=through_card.pk)
    assert (credit.content_item_id, credit.content_placement) == (item.pk, "widget")
    assert credit.rule == "order_click"  # the click won the credit; the content still shows

    # A landing page naming another item's placement does not lend it to the click's item.
    mixed = make_order(
        click_id=str(click(creator, link=link_for(creator), utm_content=f"ugc-{item.pk}").click_id),
        landing_url=f"/products/x/?utm_content=ugc-{other.pk}&ugc_placement=collection",
    )
    credit = attribution_decide(order_id=mixed.pk)
    assert (credit.content_item_id, credit.content_placement) == (item.pk, "")

    unknown = make_order(landing_url=f"/p/?utm_content=ugc-{item.pk}&ugc_placement=billboard")
    credit = attribution_decide(order_id=unknown.pk)
    assert (credit.content_item_id, credit.content_placement) == (item.pk, "")

    no_content = attribution_decide(order_id=make_order().pk)
    assert (no_content.content_item_id, no_content.content_placement) == (None, "")


@pytest.mark.django_db
def test_beacons_carry_a_known_placement_or_are_refused(client):
    item = publishable_item(status=UGCItem.Status.PUBLISHED)
    post = lambda body: client.post(  # noqa: E731
        "/shop/feed/events", json.dumps(body), content_type="text/plain"
    )
    assert post({"impressions": [item.pk], "placement": "widget"}).status_code == 202
    assert post({"add_to_carts": [item.pk], "placement": "collection"}).status_code == 202
    refused = post({"impressions": [item.pk], "placement": "billboard"})
    assert refused.status_code == 400
    assert "placement" in refused.json()["error"]["fields"]
    day = metrics.today()
    assert metrics.pending_by_placement() == {
        (item.pk, day, "impressions", "widget"): 1,
        (item.pk, day, "add_to_carts", "collection"): 1,
    }
    metrics.flush()
    rows = {(m.placement, m.impressions, m.add_to_carts) for m in item.metrics.all()}
    assert rows == {("widget", 1, 0), ("collection", 0, 1)}


@pytest.mark.django_db
def test_the_report_shows_which_placement_sells_and_each_items_funnel(client):
    creator = CreatorFactory(handle="maya")
    program_with("10", creators=[creator])
    item = publishable_item(status=UGCItem.Status.PUBLISHED, creator=creator)
    day = timezone.now().date()
    from ugc.services import ugc_metrics_add

    ugc_metrics_add(counts={
        (item.pk, day, "impressions", "home_feed"): 200, (item.pk, day, "clicks", "home_feed"): 20,
        (item.pk, day, "add_to_carts", "home_feed"): 5,
        (item.pk, day, "impressions", "product_page"): 100,
        (item.pk, day - timedelta(days=60), "impressions", "widget"): 999,  # outside 30 days
    })  # fmt: skip
    for _ in range(2):
        order = make_order(
            lines=(("A", 1, "40.00"),),
            landing_url=f"/products/x/?utm_content=ugc-{item.pk}&ugc_placement=home_feed",
        )
        attribution_decide(order_id=order.pk)

    login(client, "Catalog manager")
    page = client.get(REPORT)
    assert page.status_code == 200
    soup = BeautifulSoup(page.content, "lxml")
    cells = [td.text for td in soup.select('.ugc-placements tr[data-placement="Home feed"] td')]
    assert cells == ["200", "20", "10.0%", "5", "25.0%", "2", "40.0%", "$80.00"]
    placements = [tr["data-placement"] for tr in soup.select(".ugc-placements tbody tr")]
    assert placements == ["Home feed", "Product page gallery"]  # best seller first; no widget
    funnel = soup.select_one(f'.ugc-funnel tr[data-item="{item.pk}"]').text
    assert "200" in funnel and "20 (10.0%)" in funnel and "2 (40.0%)" in funnel


@pytest.mark.django_db
def test_the_widget_may_be_framed_by_the_shops_own_sites_only(client, settings):
    from links.models import AllowedDomain

    settings.PUBLIC_BASE_URL = "https://shop.example.com"
    AllowedDomain.objects.create(domain="brand.example", include_subdomains=True)
    widget = client.get("/shop/feed?placement=widget")
    assert "X-Frame-Options" not in widget
    assert widget["Content-Security-Policy"] == (
        "frame-ancestors 'self' https://brand.example https://*.brand.example "
        "https://shop.example.com"
    )
    assert 'data-placement="widget"' in widget.content.decode()
    home = client.get("/shop/feed")
    assert home["X-Frame-Options"] == "DENY"
    assert 'data-placement="home_feed"' in home.content.decode()
    assert client.get("/shop/feed?placement=billboard")["X-Frame-Options"] == "DENY"
