"""Collections: curated, ordered galleries of published UGC at /shop/collections/<slug>/.

What they show (published items only, in the collection's order, then the auto-fill rule's),
their pages and API, 404s, Open Graph, the placement on every card, a fixed number of queries
whatever the size, the services' refusals, the console (add, order, remove; who may), and the
publishing calendar's collection placement."""

import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Product
from core.errors import ApplicationError
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.ugc.admin_helpers import login, messages_of
from tests.ugc.factories import UGCProductMapFactory, publishable_item, with_card_links
from tests.ugc.test_feed import image_manifest, page_ids, published
from ugc import services, tasks
from ugc.models import (
    ModerationEvent,
    UGCCollection,
    UGCCollectionEntry,
    UGCItem,
    UGCProductMap,
    UGCSchedule,
)

ADMIN = "/admin/ugc/ugccollection/"


def page_url(slug="summer") -> str:
    return f"/shop/collections/{slug}/"


def api_url(slug="summer") -> str:
    return f"/api/ugc/collections/{slug}"


def collection(*items, slug="summer", **fields) -> UGCCollection:
    made = services.ugc_collection_save(
        name=fields.pop("name", "Summer looks"), slug=slug, **fields
    )
    if items:
        services.ugc_collection_set_items(collection_id=made.pk, item_ids=[i.pk for i in items])
    return made


def api_ids(client, slug="summer", **params):
    response = client.get(api_url(slug), params)
    assert response.status_code == 200, response.content
    body = response.json()
    return [item["id"] for item in body["items"]], body["next_cursor"]


def entry_ids(made: UGCCollection) -> list[int]:
    return list(made.entries.order_by("position", "pk").values_list("item_id", flat=True))


# --- what the page shows ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_shows_the_published_items_in_the_collections_order(client):
    first, second, third, fourth = (published() for _ in range(4))
    made = collection(third, first, fourth, second)
    published()  # published, in the feed, not in the collection
    now = timezone.now()
    # Leaves the page as it leaves the feed: archived, rights expired, rights revoked.
    UGCItem.objects.filter(pk=fourth.pk).update(status=UGCItem.Status.ARCHIVED)
    first.rights.starts_at = now - timedelta(days=30)
    first.rights.expires_at = now - timedelta(minutes=1)
    first.rights.save()

    html = client.get(page_url()).content.decode()
    assert page_ids(html) == [third.pk, second.pk]
    assert api_ids(client)[0] == [third.pk, second.pk]
    assert entry_ids(made) == [third.pk, first.pk, fourth.pk, second.pk]  # kept, not shown

    # Rights renewed: the item comes back in its place.
    first.rights.expires_at = now + timedelta(days=30)
    first.rights.save()
    assert page_ids(client.get(page_url()).content.decode()) == [third.pk, first.pk, second.pk]


@pytest.mark.django_db
def test_cards_carry_the_collection_placement_and_the_page_unfurls(client, settings):
    settings.PUBLIC_BASE_URL = "https://shop.example.com"
    product = ProductFactory(title="Cloud Knit Hoodie")
    VariantFactory(product=product, price="59.00", currency="USD")
    item = published(product=product, manifest=image_manifest(7), caption="Cosy <b>Sunday</b>")
    collection(item, description="What our customers wear in the sun.")

    response = client.get(page_url())
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "lxml")
    feed = soup.select_one(".ugc-feed")
    assert feed["data-placement"] == "collection"
    assert feed["data-api"] == api_url()
    assert soup.select_one("h1.feed-title").text == "Summer looks"
    assert soup.title.text.startswith("Summer looks")
    button = soup.select_one(f'.feed-item[data-id="{item.pk}"] a.feed-card-button')
    assert button["href"].startswith("/p/") and button["href"].endswith("?ugc_placement=collection")
    assert "Cosy <b>Sunday</b>" in soup.select_one(".feed-caption").text  # escaped, as text
    meta = {m.get("property"): m.get("content") for m in soup.select("meta[property]")}
    assert meta["og:title"] == "Summer looks"
    assert meta["og:description"] == "What our customers wear in the sun."
    assert meta["og:url"] == "https://shop.example.com/shop/collections/summer/"
    assert meta["og:image"] == "https://shop.example.com/media/ugc/display/7.jpg"

    body = client.get(api_url()).json()
    assert body["items"][0]["products"][0]["title"] == "Cloud Knit Hoodie"


@pytest.mark.django_db
def test_inactive_and_unknown_collections_are_404s(client):
    item = published()
    collection(item, active=False)
    assert client.get(page_url()).status_code == 404
    assert client.get(page_url("nope")).status_code == 404
    missing = client.get(api_url())
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert client.get(api_url("nope")).status_code == 404
    services.ugc_collection_save(
        collection_id=UGCCollection.objects.get().pk, name="Summer looks", slug="summer"
    )
    assert page_ids(client.get(page_url()).content.decode()) == [item.pk]


@pytest.mark.django_db
def test_an_empty_collection_says_so(client):
    collection()
    response = client.get(page_url())
    assert response.status_code == 200
    assert "Nothing to shop here yet" in response.content.decode()


@pytest.mark.django_db
def test_pages_follow_the_collection_order_and_a_bad_cursor_is_a_400(client):
    items = [published() for _ in range(5)]
    made = collection(*items)
    ids, cursor = api_ids(client, limit=2)
    assert ids == [items[0].pk, items[1].pk]
    # The moderator moves the page's last item to the end meanwhile: the next pages start at
    # the place the first one ended (position 1, then entry id), so nothing after it is
    # skipped; the moved item is shown again at its new place.
    services.ugc_collection_set_items(
        collection_id=made.pk,
        item_ids=[i.pk for i in (items[0], items[2], items[3], items[4], items[1])],
    )
    ids, cursor = api_ids(client, limit=2, cursor=cursor)
    assert ids == [items[2].pk, items[3].pk]  # items[2] took position 1, a later entry
    ids, cursor = api_ids(client, limit=2, cursor=cursor)
    assert ids == [items[4].pk, items[1].pk]
    assert cursor is None

    services.ugc_collection_set_items(collection_id=made.pk, item_ids=[i.pk for i in items])
    seen, cursor = api_ids(client, limit=2)
    while cursor:
        more, cursor = api_ids(client, limit=2, cursor=cursor)
        seen += more
    assert seen == [i.pk for i in items]

    bad = client.get(api_url(), {"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"]["cursor"]
    assert client.get(page_url(), {"cursor": "not-a-cursor"}).status_code == 400


@pytest.mark.django_db
def test_without_javascript_more_pages_through_the_collection(client, settings):
    settings.UGC_FEED_PAGE_SIZE = 2
    items = [published() for _ in range(3)]
    collection(*items)
    soup = BeautifulSoup(client.get(page_url()).content, "lxml")
    assert page_ids(str(soup)) == [items[0].pk, items[1].pk]
    more = soup.select_one("a.feed-more")["href"]
    assert more.startswith("?cursor=")
    soup = BeautifulSoup(client.get(page_url() + more).content, "lxml")
    assert page_ids(str(soup)) == [items[2].pk]
    assert soup.select_one("a.feed-more") is None


@pytest.mark.django_db
def test_auto_fill_adds_the_latest_published_items_of_a_brand_after_the_chosen_ones(client):
    now = timezone.now()
    lumen = [ProductFactory(brand="Lumen Lab") for _ in range(2)]
    other = ProductFactory(brand="Sonic")
    for product in (*lumen, other):
        VariantFactory(product=product, price="10.00", currency="USD")
    chosen = published(product=other)
    oldest = published(product=lumen[0], at=now - timedelta(days=3))
    newer = published(product=lumen[1], at=now - timedelta(days=2))
    newest = published(product=lumen[0], at=now - timedelta(days=1))
    also_chosen = published(product=lumen[1], at=now)  # chosen and of the brand: shown once
    published(product=other, at=now)  # another brand
    retired = published(product=ProductFactory(brand="lumen lab"), at=now)
    Product.objects.filter(pk=retired.product_maps.get().product_id).update(active=False)

    collection(chosen, also_chosen, auto_fill_brand="LUMEN LAB", auto_fill_limit=2)
    assert api_ids(client)[0] == [chosen.pk, also_chosen.pk, newest.pk, newer.pk]
    made = UGCCollection.objects.get()
    made.auto_fill_limit = 10
    made.save()
    every = [chosen.pk, also_chosen.pk, newest.pk, newer.pk, oldest.pk]
    assert api_ids(client)[0] == every

    # Page by page, across the chosen items and the rule's, the limit counted across pages.
    for limit, rule in ((1, 10), (2, 10), (3, 10), (1, 2), (2, 1)):
        made.auto_fill_limit = rule
        made.save()
        seen, cursor = api_ids(client, limit=limit)
        while cursor:
            more, cursor = api_ids(client, limit=limit, cursor=cursor)
            seen += more
        assert seen == every[: 2 + rule], (limit, rule)


@pytest.mark.django_db
def test_the_schema_documents_the_collection_endpoint(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/ugc/collections/{slug}"]["get"]
    assert operation["operationId"] == "ugc_collection_feed"
    assert {p["name"] for p in operation["parameters"]} == {"cursor", "limit", "slug"}
    assert operation["security"] == [{}]  # public
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/FeedPage")  # the feed's own shape
    assert {"400", "404"} <= set(operation["responses"])


# --- queries ----------------------------------------------------------------------------


def _make_items(n: int) -> list[UGCItem]:
    """Items of the brand "Lumen Lab", each with two products (two cards)."""
    made = []
    for _ in range(n):
        product = ProductFactory(brand="Lumen Lab")
        VariantFactory(product=product, price="30.00", currency="EUR")
        item = published(product=product)
        extra = ProductFactory()
        VariantFactory(product=extra)
        UGCProductMapFactory(item=item, product=extra, placement=UGCProductMap.Placement.HOME_FEED)
        made.append(with_card_links(item))
    return made


def _queries(client, url, params=None) -> int:
    client.get(url, params or {})  # warm: per-process caches
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_query_count_is_the_same_whatever_the_number_of_items(client, django_assert_num_queries):
    made = collection(*_make_items(3))
    auto = collection(slug="lumen", auto_fill_brand="Lumen Lab", auto_fill_limit=100)
    urls = [
        (page_url(), {}),
        (api_url(), {}),
        (api_url(), {"limit": 50}),
        (page_url("lumen"), {}),
        (api_url("lumen"), {"limit": 50}),
    ]
    small = [_queries(client, url, params) for url, params in urls]
    # The collection, its shown entries, the items and the feed's four prefetches (one more
    # for the auto-fill rule).
    assert small == [7, 7, 7, 8, 8]

    more = _make_items(30)
    services.ugc_collection_set_items(
        collection_id=made.pk, item_ids=[*entry_ids(made), *(i.pk for i in more)]
    )
    for (url, params), count in zip(urls, small, strict=True):
        client.get(url, params)  # warm
        with django_assert_num_queries(count):
            response = client.get(url, params)
        shown = response.json()["items"] if url.startswith("/api/") else page_ids(response.content)
        assert len(shown) > 3
    assert auto.pk  # the rule's collection answered above with 33 items of its brand


# --- the services -----------------------------------------------------------------------


@pytest.mark.django_db
def test_only_published_items_go_in_and_a_refusal_changes_nothing():
    kept, other = published(), published()
    made = collection(kept)
    approved = publishable_item()  # approved, not published
    with pytest.raises(ApplicationError) as refused:
        services.ugc_collection_set_items(
            collection_id=made.pk, item_ids=[other.pk, approved.pk, 999999]
        )
    assert refused.value.code == "not_published"
    assert refused.value.fields["items"] == [
        f"Item #{approved.pk} is approved; only published items go in.",
        "Item #999999 does not exist.",
    ]
    with pytest.raises(ApplicationError) as twice:
        services.ugc_collection_set_items(collection_id=made.pk, item_ids=[other.pk, other.pk])
    assert twice.value.code == "duplicate_item"
    assert entry_ids(made) == [kept.pk]

    # An item in the collection that was archived since may stay (it is just not shown).
    UGCItem.objects.filter(pk=kept.pk).update(status=UGCItem.Status.ARCHIVED)
    services.ugc_collection_set_items(collection_id=made.pk, item_ids=[other.pk, kept.pk])
    assert entry_ids(made) == [other.pk, kept.pk]
    with pytest.raises(ApplicationError):
        services.ugc_collection_add_item(collection_id=made.pk, item_id=approved.pk)

    last = published()
    services.ugc_collection_add_item(collection_id=made.pk, item_id=last.pk)
    services.ugc_collection_add_item(collection_id=made.pk, item_id=other.pk)  # already in
    assert entry_ids(made) == [other.pk, kept.pk, last.pk]


@pytest.mark.django_db
def test_bad_collection_fields_are_named_and_nothing_is_saved():
    collection()
    with pytest.raises(ApplicationError) as taken:
        services.ugc_collection_save(name="Again", slug="summer")
    assert "slug" in taken.value.fields
    with pytest.raises(ApplicationError) as bad:
        services.ugc_collection_save(name="", slug="has spaces", auto_fill_limit=0)
    assert {"name", "slug", "auto_fill_limit"} <= set(bad.value.fields)
    assert UGCCollection.objects.count() == 1


# --- the console ------------------------------------------------------------------------


def _form(made=None, *, rows=(), **fields) -> dict:
    """The change form's POST: the collection's fields and the inline's rows
    [(entry or None, item, position, delete)]."""
    data = {
        "name": fields.get("name", made.name if made else "Summer looks"),
        "slug": fields.get("slug", made.slug if made else "summer"),
        "description": fields.get("description", ""),
        "active": "on",
        "auto_fill_brand": "",
        "auto_fill_limit": "12",
        "entries-TOTAL_FORMS": str(len(rows)),
        "entries-INITIAL_FORMS": str(sum(1 for entry, *_ in rows if entry)),
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
    }
    for n, (entry, item, position, delete) in enumerate(rows):
        data[f"entries-{n}-id"] = str(entry.pk) if entry else ""
        data[f"entries-{n}-collection"] = str(made.pk) if made else ""
        data[f"entries-{n}-item"] = str(item.pk)
        data[f"entries-{n}-position"] = str(position)
        if delete:
            data[f"entries-{n}-DELETE"] = "on"
    return data


@pytest.mark.django_db
def test_a_moderator_adds_orders_and_removes_items_in_the_console(client):
    login(client, "Moderator")
    a, b, c = published(), published(), published()
    response = client.post(
        f"{ADMIN}add/", _form(rows=[(None, a, 2, False), (None, b, 1, False)]), follow=True
    )
    assert response.status_code == 200, response.content
    made = UGCCollection.objects.get()
    assert entry_ids(made) == [b.pk, a.pk]  # by position
    assert made.entries.get(item=a).added_by.groups.get().name == "Moderator"

    entries = {e.item_id: e for e in made.entries.all()}
    response = client.post(
        f"{ADMIN}{made.pk}/change/",
        _form(
            made,
            rows=[(entries[b.pk], b, 5, False), (entries[a.pk], a, 1, True), (None, c, 0, False)],
        ),
        follow=True,
    )
    assert response.status_code == 200
    assert any("was changed successfully" in m for m in messages_of(response))
    assert entry_ids(made) == [c.pk, b.pk]
    assert page_ids(client.get(page_url()).content.decode()) == [c.pk, b.pk]

    listing = client.get(ADMIN).content.decode()
    assert "/shop/collections/summer/" in listing and "Summer looks" in listing


@pytest.mark.django_db
def test_the_console_refuses_unpublished_and_repeated_items_naming_them(client):
    login(client, "Moderator")
    a = published()
    approved = publishable_item()
    made = collection(a)
    entry = made.entries.get()
    response = client.post(
        f"{ADMIN}{made.pk}/change/",
        _form(made, rows=[(entry, a, 0, False), (None, approved, 1, False)]),
    )
    assert response.status_code == 200  # the form again, with the error
    assert f"Item #{approved.pk} is approved; only published items go in a collection." in (
        response.content.decode()
    )
    response = client.post(
        f"{ADMIN}{made.pk}/change/", _form(made, rows=[(entry, a, 0, False), (None, a, 1, False)])
    )
    assert "Please correct the duplicate data for item." in response.content.decode()
    assert entry_ids(made) == [a.pk]


@pytest.mark.django_db
def test_the_item_picker_finds_published_items_only(client):
    login(client, "Moderator")
    shown = published(caption="summer dress")
    publishable_item(caption="summer hat")  # approved only
    response = client.get(
        "/admin/autocomplete/",
        {
            "term": "summer",
            "app_label": "ugc",
            "model_name": "ugccollectionentry",
            "field_name": "item",
        },
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(shown.pk)]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["Catalog manager", "Finance"])
def test_catalog_managers_and_finance_see_collections_but_do_not_change_them(client, role):
    login(client, role)
    made = collection(published())
    assert client.get(ADMIN).status_code == 200
    page = client.get(f"{ADMIN}{made.pk}/change/")
    assert page.status_code == 200 and 'name="name"' not in page.content.decode()
    assert client.get(f"{ADMIN}add/").status_code == 403
    assert client.post(f"{ADMIN}{made.pk}/change/", _form(made, name="Hacked")).status_code == 403
    assert UGCCollection.objects.get().name == "Summer looks"


@pytest.mark.django_db
def test_staff_without_a_ugc_role_do_not_reach_collections(client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("plain", password="pw", is_staff=True))
    assert client.get(ADMIN).status_code == 403


# --- the publishing calendar ------------------------------------------------------------


@pytest.mark.django_db
def test_the_collection_placement_publishes_into_its_collection():
    before = published()
    made = collection(before)
    item = publishable_item()
    UGCProductMap.objects.filter(item=item).update(placement="collection")
    with pytest.raises(ApplicationError) as unnamed:
        services.ugc_schedule_create(
            item_id=item.pk, placement="collection", publish_at=timezone.now() + timedelta(hours=1)
        )
    assert "collection" in unnamed.value.fields
    with pytest.raises(ApplicationError) as elsewhere:
        services.ugc_schedule_create(
            item_id=item.pk,
            placement="product_page",
            collection_id=made.pk,
            publish_at=timezone.now() + timedelta(hours=1),
        )
    assert "collection" in elsewhere.value.fields
    assert UGCSchedule.objects.count() == 0

    schedule = services.ugc_schedule_create(
        item_id=item.pk,
        placement="collection",
        collection_id=made.pk,
        publish_at=timezone.now() + timedelta(seconds=1),
    )
    UGCSchedule.objects.filter(pk=schedule.pk).update(publish_at=timezone.now())
    assert tasks.publish_scheduled() == {"published": 1, "failed": 0}
    schedule.refresh_from_db()
    assert schedule.outcome == "Published on schedule; live in Collection “Summer looks”."
    assert entry_ids(made) == [before.pk, item.pk]
    assert (
        ModerationEvent.objects.filter(item=item, action="schedule")
        .get()
        .reason.startswith("Collection “Summer looks” at ")
    )


@pytest.mark.django_db
def test_the_console_schedules_into_a_collection(client):
    login(client, "Moderator")
    made = collection()
    item = publishable_item()
    UGCProductMap.objects.filter(item=item).update(placement="collection")
    when = timezone.localtime(timezone.now() + timedelta(days=1))
    url = "/admin/ugc/ugcschedule/schedule/"
    data = {"item": item.pk, "placement": "collection", "publish_at": f"{when:%Y-%m-%dT%H:%M}"}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Choose the collection the item goes into." in response.content.decode()
    response = client.post(url, {**data, "collection": made.pk}, follow=True)
    assert response.status_code == 200
    assert UGCSchedule.objects.get().collection == made
    assert "Collection “Summer looks”" in response.content.decode()  # on the calendar
    assert UGCCollectionEntry.objects.count() == 0  # not before it is published


@pytest.mark.django_db
def test_a_moderator_deletes_a_collection_but_not_one_the_calendar_names(client):
    login(client, "Moderator")
    item = published()
    gone = collection(item, slug="gone")
    response = client.post(f"{ADMIN}{gone.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert not UGCCollection.objects.filter(pk=gone.pk).exists()
    assert not UGCCollectionEntry.objects.exists()
    assert UGCItem.objects.filter(pk=item.pk, status=UGCItem.Status.PUBLISHED).exists()

    kept = collection(item)
    approved = publishable_item()
    UGCProductMap.objects.filter(item=approved).update(placement="collection")
    services.ugc_schedule_create(
        item_id=approved.pk,
        placement="collection",
        collection_id=kept.pk,
        publish_at=timezone.now() + timedelta(days=1),
    )
    page = client.post(f"{ADMIN}{kept.pk}/delete/", {"post": "yes"})
    assert re.search(r"<title>\s*Cannot delete UGC collection", page.content.decode())
    assert UGCCollection.objects.filter(pk=kept.pk).exists()
