"""The shoppable feed: what it shows, its pages and API, its card links and its counters."""

import json
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from bs4 import BeautifulSoup
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Product
from links.models import ShortLink
from tests.catalog.factories import ProductFactory, VariantFactory, image_bytes, upload
from tests.links.factories import CreatorFactory
from tests.links.helpers import MOBILE_SAFARI
from tests.ugc.factories import UGCProductMapFactory, publishable_item, with_card_links
from ugc import metrics, selectors, services
from ugc.models import UGCItem, UGCItemLink, UGCMetricDaily, UGCProductMap
from ugc.services import feed as feed_services

FEED = "/shop/feed"
API = "/api/ugc/feed"
EVENTS = "/shop/feed/events"


def image_manifest(n: int = 1) -> dict:
    return {
        "kind": "image",
        "width": 1080,
        "height": 1350,
        "aspect": 0.8,
        "display": {"name": f"ugc/display/{n}.jpg", "content_type": "image/jpeg",
                    "width": 1080, "height": 1350},
        "thumbnail": {"name": f"ugc/thumbs/{n}.jpg", "width": 320, "height": 400},
    }  # fmt: skip


def video_manifest(n: int = 1) -> dict:
    return {
        **image_manifest(n),
        "kind": "video",
        "renditions": [
            {"label": "720p", "name": f"ugc/video/{n}-720.mp4", "content_type": "video/mp4",
             "width": 720, "height": 1280, "bytes": 900_000},
            {"label": "360p", "name": f"ugc/video/{n}-360.mp4", "content_type": "video/mp4",
             "width": 360, "height": 640, "bytes": 300_000},
        ],
        "duration_s": 12.5,
    }  # fmt: skip


def published(*, product=None, at=None, manifest=None, card_links=True, **fields) -> UGCItem:
    """A publishable, published item mapped to `product` (else a new product with a price),
    with its card links as publishing makes them (unless `card_links` is false)."""
    item = publishable_item(
        status=UGCItem.Status.PUBLISHED, media_manifest=manifest or image_manifest(), **fields
    )
    product_map = item.product_maps.get()
    if product is not None:
        product_map.product = product
        product_map.save()
    else:
        VariantFactory(product=product_map.product, price="24.00", currency="EUR")
    if at is not None:
        UGCItem.objects.filter(pk=item.pk).update(published_at=at)
        item.refresh_from_db()
    return with_card_links(item) if card_links else item


def api_ids(client, **params) -> tuple[list[int], str | None]:
    response = client.get(API, params)
    assert response.status_code == 200, response.content
    body = response.json()
    return [item["id"] for item in body["items"]], body["next_cursor"]


def page_ids(html: str) -> list[int]:
    soup = BeautifulSoup(html, "lxml")
    return [int(s["data-id"]) for s in soup.select(".ugc-feed .feed-item")]


@pytest.fixture(autouse=True)
def clean_feed_counters(settings):
    """The counters live in Redis (and, without Redis, in the process): start empty."""
    buf = metrics.buffer
    keys = [buf.list_key, buf.lock_key, buf.dead_key]

    def clean():
        if buf.enabled():
            buf.client().delete(*keys)
        buf._held.clear()

    clean()
    yield
    clean()


# --- what the feed shows ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_feed_shows_only_publishable_items(client):
    now = timezone.now()
    visible = published()
    expired = published()
    expired.rights.starts_at = now - timedelta(days=30)
    expired.rights.expires_at = now - timedelta(minutes=1)
    expired.rights.save()
    revoked = published()
    revoked.rights.revoked_at = now
    revoked.rights.save()
    no_site = published()
    no_site.rights.allowed_channels = ["social"]
    no_site.rights.save()
    unmapped = published()
    UGCProductMap.objects.filter(item=unmapped).delete()
    not_ready = published(media_status="pending")
    approved_only = publishable_item(media_manifest=image_manifest())  # not published
    archived = published()
    UGCItem.objects.filter(pk=archived.pk).update(status=UGCItem.Status.ARCHIVED)
    inactive_product = published()
    Product.objects.filter(ugc_maps__item=inactive_product).update(active=False)
    hidden = {expired, revoked, no_site, unmapped, not_ready, approved_only, archived,
              inactive_product}  # fmt: skip

    ids, _ = api_ids(client, limit=50)
    assert ids == [visible.pk]
    html = client.get(FEED).content.decode()
    assert page_ids(html) == [visible.pk]
    assert not {i.pk for i in hidden} & set(ids)


@pytest.mark.django_db
def test_the_page_renders_media_cards_and_open_graph_tags(client):
    product = ProductFactory(title="Cloud Knit Hoodie", slug="cloud-knit-hoodie")
    VariantFactory(product=product, price="59.00", currency="USD")
    video = published(product=product, manifest=video_manifest(7), author_handle="maya.makes")
    response = client.get(FEED)
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "lxml")
    item = soup.select_one(f'.feed-item[data-id="{video.pk}"]')
    player = item.select_one("video.feed-media")
    assert player.has_attr("muted") and player.has_attr("playsinline") and player.has_attr("loop")
    assert player["preload"] == "auto"  # the first two items load at once
    assert player["poster"] == "/media/ugc/display/7.jpg"
    sources = [(s["src"], s.get("media")) for s in player.select("source")]
    assert sources == [
        ("/media/ugc/video/7-360.mp4", "(max-width: 480px)"),
        ("/media/ugc/video/7-720.mp4", None),
    ]
    assert item.select_one(".feed-author").text == "@maya.makes"
    assert item.select_one(".feed-card-title").text == "Cloud Knit Hoodie"
    assert item.select_one(".feed-card-price").text == "$59.00"
    button = item.select_one("a.feed-card-button")
    assert button["href"].startswith("/p/")
    # The first poster is preloaded; Open Graph describes the feed with it.
    assert soup.select_one('link[rel="preload"][as="image"]')["href"] == "/media/ugc/display/7.jpg"
    assert (
        soup.select_one('meta[property="og:url"]')["content"]
        == "https://shop.example.com/shop/feed"
    )
    assert soup.select_one('meta[property="og:image"]')["content"] == (
        "https://shop.example.com/media/ugc/display/7.jpg"
    )
    # No inline script: everything runs from static/ugc/feed.js.
    scripts = soup.select("script")
    assert [s.get("src") for s in scripts if s.get("type") != "application/ld+json"] == [
        "/static/ugc/feed.js"
    ]
    assert all(s.get("src") for s in scripts)


@pytest.mark.django_db
def test_captions_and_handles_are_escaped(client):
    item = published(
        caption='<script>window.pwned=1</script><img src=x onerror="alert(1)">',
        author_handle="<b>bad</b>",
    )
    html = client.get(FEED).content.decode()
    assert "<script>window.pwned" not in html
    assert 'onerror="alert' not in html and "<b>bad</b>" not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    soup = BeautifulSoup(html, "lxml")
    assert soup.select_one(f'[data-id="{item.pk}"] .feed-caption').text.startswith("<script>")
    body = client.get(API).json()
    assert body["items"][0]["caption"].startswith("<script>")  # JSON: data, set as text by JS


@pytest.mark.django_db
def test_an_empty_feed_says_so(client):
    html = client.get(FEED).content.decode()
    assert "Nothing to shop here yet" in html
    assert client.get(API).json() == {"items": [], "next_cursor": None, "next": None}


# --- pages and the API ----------------------------------------------------------------


@pytest.mark.django_db
def test_cursor_pages_neither_repeat_nor_skip_when_items_are_published_meanwhile(client):
    base = timezone.now() - timedelta(hours=1)
    # Three share a publication time: the id breaks the tie.
    items = [published(at=base + timedelta(minutes=m)) for m in (1, 2, 2, 2, 3, 4, 5)]
    expected = [i.pk for i in sorted(items, key=lambda i: (i.published_at, i.pk), reverse=True)]

    seen, cursor = [], None
    ids, cursor = api_ids(client, limit=2)
    seen += ids
    while cursor:
        published()  # a new item appears at the top between every two requests
        ids, cursor = api_ids(client, limit=2, cursor=cursor)
        seen += ids
    assert seen == expected

    # The page follows the same order with its "More" link (no JavaScript needed).
    html = client.get(FEED).content.decode()
    soup = BeautifulSoup(html, "lxml")
    more = soup.select_one("a.feed-more")["href"]
    assert more.startswith("?cursor=")
    first_page = page_ids(html)
    second_page = page_ids(client.get(FEED + more).content.decode())
    assert first_page and second_page
    newest = api_ids(client, limit=50)[0]
    assert first_page + second_page == newest[: len(first_page) + len(second_page)]


@pytest.mark.django_db
def test_the_api_gives_the_next_url_and_absolute_media_and_link_urls(client):
    product = ProductFactory()
    VariantFactory(product=product, price="10.00", currency="GBP")
    catalog_services.product_image_add(
        product=product, upload=upload("p.png", image_bytes("PNG", size=(80, 80))), alt_text="Mug"
    )
    published(product=product, manifest=video_manifest(3))
    published(product=product)
    body = client.get(API, {"limit": 1}).json()
    assert body["next"] == f"http://testserver{API}?cursor={body['next_cursor']}&limit=1"
    item = body["items"][0]
    assert item["media"]["display_url"] == "https://shop.example.com/media/ugc/display/1.jpg"
    card = item["products"][0]
    assert card["price"] == "£10.00" and card["amount"] == "10.00" and card["currency"] == "GBP"
    assert card["image_url"].startswith("https://shop.example.com/media/products/")
    assert card["image_alt"] == "Mug"
    assert card["link_url"] == f"https://shop.example.com/p/{card['link_code']}"
    assert card["link_path"] == f"/p/{card['link_code']}"
    video = client.get(API, {"cursor": body["next_cursor"]}).json()["items"][0]["media"]
    assert video["kind"] == "video" and video["duration_s"] == 12.5
    assert [r["label"] for r in video["renditions"]] == ["360p", "720p"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cursor",
    ["garbage", "bm90LWEtY3Vyc29y", "MjAyNi0wMS0wMVQwMDowMDowMHwtMQ", "x" * 101, "%%%"],
)
def test_an_invalid_cursor_is_a_400_in_the_error_shape(client, cursor):
    response = client.get(API, {"cursor": cursor})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] in {"invalid_cursor", "invalid"}
    assert "cursor" in error["fields"]
    assert "cursor" in error["message"].lower()
    page = client.get(FEED, {"cursor": cursor})
    assert page.status_code == 400
    assert "Start from the newest" in page.content.decode()


@pytest.mark.django_db
def test_a_naive_timestamp_in_a_cursor_is_refused():
    import base64

    cursor = base64.urlsafe_b64encode(b"2026-01-01T00:00:00|5").decode()
    with pytest.raises(Exception, match="Invalid cursor"):
        selectors.decode_feed_cursor(cursor)


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["0", "51", "ten"])
def test_a_bad_limit_is_a_400_naming_it(client, limit):
    response = client.get(API, {"limit": limit})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"limit"}


@pytest.mark.django_db
def test_the_schema_documents_the_feed_endpoint(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/ugc/feed"]["get"]
    assert operation["operationId"] == "ugc_feed_list"
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params) == {"cursor", "limit"}
    assert params["limit"]["schema"]["maximum"] == 50
    assert operation["security"] == [{}]  # public
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"items", "next_cursor", "next"} <= set(page["properties"])
    assert "400" in operation["responses"]


@pytest.mark.django_db
def test_the_api_is_public_and_read_only(client):
    published()
    assert client.get(API).status_code == 200
    assert client.post(API, {}).status_code == 405


# --- query budget ---------------------------------------------------------------------


def _make_items(n: int) -> None:
    for _ in range(n):
        item = published()
        product = item.product_maps.get().product
        VariantFactory(product=product, price="30.00", currency="EUR")
        extra = ProductFactory()
        VariantFactory(product=extra)
        UGCProductMapFactory(item=item, product=extra, placement=UGCProductMap.Placement.HOME_FEED)
        with_card_links(item)


def _queries(client, url, params) -> int:
    client.get(url, params)  # warm: per-process caches
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_query_count_is_the_same_for_small_and_large_feeds(client, django_assert_num_queries):
    _make_items(3)
    small = {
        (FEED, "default"): _queries(client, FEED, {}),
        (API, "default"): _queries(client, API, {}),
        (API, "50"): _queries(client, API, {"limit": 50}),
    }
    assert small[(FEED, "default")] == small[(API, "default")] == 5
    _make_items(30)
    for (url, limit), count in small.items():
        params = {} if limit == "default" else {"limit": limit}
        client.get(url, params)  # warm
        with django_assert_num_queries(count):
            response = client.get(url, params)
        assert len(response.json()["items"] if url == API else page_ids(response.content)) > 3


@pytest.mark.django_db
def test_the_feed_only_reads_even_for_an_item_without_its_card_links(
    client, caplog, django_assert_num_queries
):
    _make_items(2)
    orphan = published(card_links=False)  # as if published before links were made then
    links = ShortLink.objects.count()
    assert links == UGCItemLink.objects.count() == 4  # two products per item
    with CaptureQueriesContext(connection) as ctx:
        body = client.get(API, {"limit": 50}).json()
        html = client.get(FEED).content.decode()
    assert [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith("SELECT")] == []
    assert (ShortLink.objects.count(), UGCItemLink.objects.count()) == (links, 4)
    cards = {item["id"]: [p["link_code"] for p in item["products"]] for item in body["items"]}
    assert cards.pop(orphan.pk) == []  # shown, but no card without its link
    assert [len(codes) for codes in cards.values()] == [2, 2]
    assert orphan.pk in page_ids(html)
    missing = [r for r in caplog.records if r.message == "ugc.feed.card_link_missing"]
    assert {r.item_id for r in missing} == {orphan.pk}
    with django_assert_num_queries(5):
        client.get(API, {"limit": 50})


@pytest.mark.django_db
def test_the_backfill_makes_missing_card_links_as_publishing_does_and_only_once(client):
    creator = CreatorFactory(handle="maya")
    done = published()
    orphan = published(card_links=False, creator=creator)
    later = ProductFactory()  # mapped straight in the table, so without its link
    UGCProductMapFactory(item=done, product=later, placement=UGCProductMap.Placement.HOME_FEED)
    archived = published(card_links=False)
    UGCItem.objects.filter(pk=archived.pk).update(status=UGCItem.Status.ARCHIVED)
    assert selectors.items_missing_card_links() == [done.pk, orphan.pk]

    assert services.ugc_card_links_backfill() == 2
    assert selectors.items_missing_card_links() == []
    link = UGCItemLink.objects.select_related("short_link").get(item=orphan).short_link
    assert (link.product_id, link.creator_id) == (orphan.product_maps.get().product_id, creator.pk)
    assert (link.utm_medium, link.utm_content) == ("ugc_feed", f"ugc-{orphan.pk}")
    assert UGCItemLink.objects.filter(item=done, product=later).exists()
    assert not UGCItemLink.objects.filter(item=archived).exists()
    cards = {item["id"]: item["products"] for item in client.get(API).json()["items"]}
    assert [p["link_code"] for p in cards[orphan.pk]] == [link.code]

    links = ShortLink.objects.count()
    assert services.ugc_card_links_backfill() == 0
    assert ShortLink.objects.count() == links


# --- card links -----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_card_link_credits_the_item_and_its_creator(client):
    creator = CreatorFactory(handle="maya", affiliate_code="MAYA10")
    product = ProductFactory(title="Cloud Hoodie", slug="cloud-hoodie")
    VariantFactory(product=product)
    item = published(product=product, creator=creator)

    card = client.get(API).json()["items"][0]["products"][0]
    link = ShortLink.objects.get(code=card["link_code"])
    assert (link.product_id, link.creator_id) == (product.pk, creator.pk)
    assert (link.utm_source, link.utm_medium, link.utm_content) == (
        "shoploop", "ugc_feed", f"ugc-{item.pk}",
    )  # fmt: skip
    assert link.ugc_item_link.item_id == item.pk

    response = client.get(card["link_path"], HTTP_USER_AGENT=MOBILE_SAFARI)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/products/cloud-hoodie/"
    query = parse_qs(location.query)
    assert query["utm_content"] == [f"ugc-{item.pk}"]
    assert query["utm_medium"] == ["ugc_feed"]
    assert query["ref"] == ["MAYA10"]


@pytest.mark.django_db
def test_publishing_and_mapping_a_published_item_make_its_card_links(moderator):
    item = publishable_item()  # approved, mapped to one product
    services.ugc_publish(item_id=item.pk, actor=moderator)
    first = item.product_maps.get().product
    assert list(UGCItemLink.objects.values_list("item_id", "product_id")) == [(item.pk, first.pk)]

    second = ProductFactory()
    services.ugc_map_product(item_id=item.pk, product=second, actor=moderator)
    assert set(UGCItemLink.objects.values_list("product_id", flat=True)) == {first.pk, second.pk}
    with CaptureQueriesContext(connection) as ctx:
        feed_items = selectors.feed_page().items
    assert [q for q in ctx.captured_queries if q["sql"].lstrip().startswith("INSERT")] == []
    assert {p["id"] for p in feed_items[0]["products"]} == {first.pk, second.pk}


@pytest.mark.django_db
def test_the_link_service_makes_one_link_per_item_and_product():
    item = published(card_links=False)
    product = item.product_maps.get().product
    first = feed_services.ugc_item_link_get_or_create(item=item, product=product)
    again = feed_services.ugc_item_link_get_or_create(item=item, product=product)
    assert first.pk == again.pk and first.short_link_id == again.short_link_id
    assert ShortLink.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_make_one_link():
    item = published(card_links=False)
    product = item.product_maps.get().product
    barrier = threading.Barrier(4)
    results, errors = [], []

    def make():
        try:
            barrier.wait(timeout=5)
            results.append(feed_services.ugc_item_link_get_or_create(item=item, product=product).pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    assert UGCItemLink.objects.count() == 1
    assert ShortLink.objects.count() == 1  # the losers' links were rolled back


# --- the product page gallery -----------------------------------------------------------


@pytest.mark.django_db
def test_the_product_page_gallery_shows_only_that_products_publishable_items(
    client, django_assert_num_queries
):
    product = ProductFactory(slug="mug")
    VariantFactory(product=product)
    other = ProductFactory(slug="other")
    VariantFactory(product=other)
    shown = [published(product=product, caption=f"Mine {n}") for n in range(2)]
    video = published(product=product, manifest=video_manifest(2))
    published(product=other, caption="Not mine")
    unpublished = publishable_item(media_manifest=image_manifest())
    unpublished.product_maps.update(product=product)
    revoked = published(product=product)
    revoked.rights.revoked_at = timezone.now()
    revoked.rights.save()
    home_only = published(product=product)
    home_only.product_maps.update(placement=UGCProductMap.Placement.HOME_FEED)

    with django_assert_num_queries(4):  # product, variants, images, gallery
        html = client.get("/products/mug/").content.decode()
    soup = BeautifulSoup(html, "lxml")
    ids = [int(li["data-id"]) for li in soup.select(".ugc-gallery .ugc-gallery-item")]
    assert sorted(ids) == sorted([*(i.pk for i in shown), video.pk])
    assert "Not mine" not in html
    assert soup.select_one(f'[data-id="{video.pk}"] video')["poster"] == "/media/ugc/display/2.jpg"

    VariantFactory(product=ProductFactory(slug="bare"))
    with django_assert_num_queries(3):  # no UGC: no gallery query
        html = client.get("/products/bare/").content.decode()
    assert "ugc-gallery" not in html


# --- counting impressions and clicks ----------------------------------------------------


def beacon(client, body, content_type="text/plain;charset=UTF-8"):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(EVENTS, data=data, content_type=content_type)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "invalid", None),
        ({"impressions": ["1"]}, "invalid", "impressions"),
        ({"impressions": [1.5]}, "invalid", "impressions"),
        ({"clicks": [True]}, "invalid", "clicks"),
        ({"clicks": [0]}, "invalid", "clicks"),
        ({"clicks": [2**63]}, "invalid", "clicks"),
        ({"clicks": 5}, "invalid", "clicks"),
        ({"impressions": [1], "likes": [1]}, "invalid", "likes"),
        ({"impressions": list(range(1, 102))}, "invalid", "non_field_errors"),
        ("x" * 20_000, "body_too_large", None),
    ],
)
def test_bad_beacons_are_refused_naming_the_problem_and_count_nothing(client, body, code, field):
    response = beacon(client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field:
        assert field in error["fields"] and field in error["message"]
    if code == "invalid_json":
        assert "JSON" in error["message"]
    assert metrics.pending() == {}


@pytest.mark.django_db
def test_the_beacon_is_csrf_exempt_post_only_and_counts_in_redis(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = beacon(strict, {"impressions": [5, 5, 6], "clicks": [5]})
    assert response.status_code == 202
    assert client.get(EVENTS).status_code == 405
    day = metrics.today()
    assert metrics.pending() == {
        (5, day, "impressions"): 1,  # one beacon counts an item once per kind
        (6, day, "impressions"): 1,
        (5, day, "clicks"): 1,
    }
    assert UGCMetricDaily.objects.count() == 0  # nothing written per view


@pytest.mark.django_db
def test_counts_held_while_redis_was_down_go_to_redis_when_it_is_back(
    client, monkeypatch, settings
):
    settings.UGC_FEED_METRICS_LOCAL_INTERVAL = 3600  # no write from the process meanwhile
    metrics.buffer.apply_held()  # the interval starts now
    item = published()
    real_push = metrics.buffer.push

    def redis_down(events):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(metrics.buffer, "push", redis_down)
    beacon(client, {"impressions": [item.pk], "clicks": []})
    assert len(metrics.buffer.held()) == 1  # held in the process
    monkeypatch.setattr(metrics.buffer, "push", real_push)
    beacon(client, {"impressions": [item.pk], "clicks": [item.pk]})
    day = metrics.today()
    assert metrics.pending() == {(item.pk, day, "impressions"): 2, (item.pk, day, "clicks"): 1}
    assert metrics.flush() == 3  # the next flush writes both: held and buffered
    assert metrics.buffer.held() == [] and metrics.pending() == {}
    row = UGCMetricDaily.objects.get(item=item)
    assert (row.impressions, row.clicks) == (2, 1)


@pytest.mark.django_db
def test_many_beacons_become_one_upsert_batch_with_the_right_totals(client, monkeypatch):
    a, b = published(), published()
    calls = []
    real_add = feed_services.ugc_metrics_add  # what the buffer's applier calls

    def spy(*, counts):
        calls.append(dict(counts))
        return real_add(counts=counts)

    monkeypatch.setattr(feed_services, "ugc_metrics_add", spy)
    for _ in range(20):
        assert beacon(client, {"impressions": [a.pk, b.pk], "clicks": []}).status_code == 202
    for _ in range(3):
        beacon(client, {"impressions": [a.pk], "clicks": [a.pk]})
    beacon(client, {"impressions": [999_999], "clicks": [999_999]})  # unknown: dropped at flush

    assert metrics.flush() == 20 * 2 + 3 * 2 + 2
    assert len(calls) == 1
    day = metrics.today()
    rows = {m.item_id: (m.day, m.impressions, m.clicks) for m in UGCMetricDaily.objects.all()}
    assert rows == {a.pk: (day, 23, 3), b.pk: (day, 20, 0)}
    assert metrics.pending() == {}
    assert metrics.flush() == 0
    assert len(calls) == 1


@pytest.mark.django_db
def test_counts_arriving_during_a_flush_wait_for_the_next_one(client, monkeypatch):
    item = published()
    for _ in range(3):
        beacon(client, {"impressions": [item.pk], "clicks": []})
    real_add = feed_services.ugc_metrics_add
    arrived = []

    def add_while_beacons_arrive(*, counts):
        if not arrived:  # beacons land while the first batch is being written
            for _ in range(4):
                arrived.append(beacon(client, {"impressions": [item.pk], "clicks": [item.pk]}))
        return real_add(counts=counts)

    monkeypatch.setattr(feed_services, "ugc_metrics_add", add_while_beacons_arrive)
    assert metrics.buffer.drain(batch_size=3, time_budget=0) == 3  # one batch
    assert all(r.status_code == 202 for r in arrived)
    row = UGCMetricDaily.objects.get(item=item)
    assert (row.impressions, row.clicks) == (3, 0)
    assert metrics.pending() == {
        (item.pk, metrics.today(), "impressions"): 4,
        (item.pk, metrics.today(), "clicks"): 4,
    }
    assert metrics.flush() == 8
    row.refresh_from_db()
    assert (row.impressions, row.clicks) == (7, 4)


@pytest.mark.django_db
def test_a_flush_that_dies_after_committing_is_not_counted_twice(client, monkeypatch):
    item = published()
    for _ in range(5):
        beacon(client, {"impressions": [item.pk], "clicks": []})
    r = metrics.buffer.client()

    def lost_connection(**kwargs):
        raise redis.ConnectionError("gone")

    monkeypatch.setattr(r, "trim_events", lost_connection)
    with pytest.raises(redis.ConnectionError):
        metrics.flush()
    assert UGCMetricDaily.objects.get(item=item).impressions == 5
    assert r.llen(metrics.buffer.list_key) == 5  # left behind, untrimmed
    monkeypatch.undo()
    r.delete(metrics.buffer.lock_key)  # the dead flush's lock has expired
    beacon(client, {"impressions": [item.pk], "clicks": []})

    assert metrics.flush() == 1  # the watermark skips the applied five; the new one is added
    assert UGCMetricDaily.objects.get(item=item).impressions == 6
    assert metrics.pending() == {}


@pytest.mark.django_db
def test_a_flush_that_dies_before_committing_is_retried(client, monkeypatch):
    item = published()
    beacon(client, {"impressions": [item.pk], "clicks": [item.pk]})
    beacon(client, {"impressions": [item.pk], "clicks": []})

    def database_down(**kwargs):
        raise OperationalError("database down")

    monkeypatch.setattr(feed_services, "ugc_metrics_add", database_down)
    with pytest.raises(OperationalError):
        metrics.flush()
    monkeypatch.undo()
    metrics.buffer.client().delete(metrics.buffer.lock_key)
    assert UGCMetricDaily.objects.count() == 0
    assert metrics.flush() == 3
    row = UGCMetricDaily.objects.get(item=item)
    assert (row.impressions, row.clicks) == (2, 1)


@pytest.mark.django_db
def test_the_flush_task_is_scheduled_and_runs(client):
    from config.celery import app
    from ugc import tasks

    entry = app.conf.beat_schedule["ugc-metrics-flush"]
    assert entry["task"] == tasks.metrics_flush.name == "ugc.metrics_flush"
    item = published()
    beacon(client, {"impressions": [item.pk], "clicks": []})
    assert tasks.metrics_flush.delay().get() == 1
    assert UGCMetricDaily.objects.get(item=item).impressions == 1


@pytest.mark.django_db
def test_without_redis_counts_wait_in_the_process_and_are_flushed_in_batches(client, settings):
    settings.UGC_FEED_METRICS_URL = ""
    settings.UGC_FEED_METRICS_LOCAL_INTERVAL = 3600
    item = published()
    metrics.buffer.apply_held()  # the interval starts now
    for _ in range(5):
        beacon(client, {"impressions": [item.pk], "clicks": []})
    assert UGCMetricDaily.objects.count() == 0
    assert metrics.pending() == {(item.pk, metrics.today(), "impressions"): 5}
    settings.UGC_FEED_METRICS_LOCAL_INTERVAL = 0
    beacon(client, {"impressions": [item.pk], "clicks": [item.pk]})
    row = UGCMetricDaily.objects.get(item=item)
    assert (row.impressions, row.clicks) == (6, 1)
    assert metrics.pending() == {}


@pytest.mark.django_db
def test_the_feed_query_can_walk_its_partial_index_newest_first():
    _make_items(3)
    first = selectors.feed_items()[:9]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few rows: force the planner's hand
        cursor.execute("SET LOCAL enable_sort = off")
        plan = first.explain()
    assert "ugc_item_feed" in plan, plan
