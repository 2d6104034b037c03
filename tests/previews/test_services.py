"""Storing previews: fetch, extract, card images, refresh, retries, politeness, cache."""

import io
import struct
import zlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone
from PIL import Image

from previews import selectors, services
from previews.fetch import InvalidURL
from previews.models import LinkPreview
from previews.normalize import normalize_url
from previews.tasks import preview_fetch_task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


def jpeg(size=(1600, 1000)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


def product_page(image_url: str, title="Trail Runner 2 &amp; Socks") -> str:
    return f"""<!doctype html><html lang="en"><head>
    <title>Ignored title</title>
    <meta property="og:title" content="{title}">
    <meta property="og:description" content="Light   trail shoe.">
    <meta property="og:image" content="{image_url}">
    <meta property="og:site_name" content="Stride Co">
    <meta property="og:type" content="product">
    <script type="application/ld+json">
    {{"@context": "https://schema.org", "@type": "Product", "name": "Trail Runner 2",
      "brand": {{"@type": "Brand", "name": "Stride"}},
      "offers": {{"@type": "Offer", "price": "119.00", "priceCurrency": "EUR",
                  "availability": "https://schema.org/InStock"}}}}
    </script></head><body><h1>Trail Runner 2</h1></body></html>"""


def make_preview(server, path="/shoe") -> LinkPreview:
    return LinkPreview.objects.create(url=normalize_url(server.url(path)))


def test_a_page_is_fetched_extracted_and_stored_with_card_images(server, allow_local):
    server.reply(
        "/shoe",
        body=product_page(server.url("/shoe.jpg")).encode(),
        headers={"Content-Type": "text/html; charset=utf-8", "ETag": '"v1"'},
    )
    server.reply("/shoe.jpg", body=jpeg(), headers={"Content-Type": "image/jpeg"})
    preview = services.preview_fetch(preview_id=make_preview(server).pk)

    assert preview.status == LinkPreview.Status.OK
    assert preview.title == "Trail Runner 2 & Socks"
    assert preview.description == "Light trail shoe."
    assert preview.site_name == "Stride Co"
    assert (preview.price, preview.currency) == (Decimal("119.0000"), "EUR")
    assert preview.availability == "https://schema.org/InStock"
    assert preview.brand == "Stride"
    assert preview.http_status == 200
    assert preview.etag == '"v1"'
    assert preview.image_url == server.url("/shoe.jpg")
    assert preview.raw["title"] == "Trail Runner 2 & Socks"
    with preview.image.open("rb") as fh:
        assert Image.open(fh).size == (1200, 630)
    with preview.image_small.open("rb") as fh:
        assert Image.open(fh).size == (600, 315)
    assert preview.next_refresh_at > timezone.now() + timedelta(hours=23)
    assert selectors.is_fresh(preview)


def test_a_refresh_that_gets_304_keeps_the_data(server, allow_local):
    server.reply(
        "/shoe",
        body=product_page(server.url("/none.jpg")).encode(),
        headers={"Content-Type": "text/html", "ETag": '"v1"'},
    )
    preview = services.preview_fetch(preview_id=make_preview(server).pk)
    first_fetch = preview.fetched_at
    server.reply("/shoe", status=304, headers={"ETag": '"v1"'})
    LinkPreview.objects.filter(pk=preview.pk).update(next_refresh_at=timezone.now())  # stale
    cache.clear()  # the host's politeness interval
    refreshed = services.preview_fetch(preview_id=preview.pk)
    assert server.seen[-1].headers["if-none-match"] == '"v1"'
    assert refreshed.title == "Trail Runner 2 & Socks"
    assert refreshed.fetched_at > first_fetch
    assert refreshed.status == LinkPreview.Status.OK


def test_a_404_fails_without_retrying(server, allow_local):
    preview = services.preview_fetch(preview_id=make_preview(server, "/gone").pk)
    assert preview.status == LinkPreview.Status.FAILED
    assert preview.http_status == 404


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_are_retried_later(server, allow_local, status):
    server.reply("/flaky", status=status)
    preview = make_preview(server, "/flaky")
    with pytest.raises(services.RetryLater):
        services.preview_fetch(preview_id=preview.pk)
    preview.refresh_from_db()
    assert preview.status == LinkPreview.Status.PENDING


def test_a_blocked_address_is_recorded_and_never_retried(settings):
    preview = LinkPreview.objects.create(url="http://169.254.169.254/latest/meta-data/")
    preview = services.preview_fetch(preview_id=preview.pk)
    assert preview.status == LinkPreview.Status.BLOCKED
    assert preview.error == "This address is not allowed."
    assert preview.next_refresh_at is None


def test_one_fetch_per_url_at_a_time(server, allow_local):
    preview = make_preview(server, "/shoe")
    cache.add(f"previews:fetching:{preview.pk}", "someone", 60)
    with pytest.raises(services.RetryLater, match="Another fetch"):
        services.preview_fetch(preview_id=preview.pk)
    assert server.seen == []


def test_a_host_is_not_fetched_twice_within_its_interval(server, allow_local):
    server.page("/a", product_page(""))
    server.page("/b", product_page(""))
    services.preview_fetch(preview_id=make_preview(server, "/a").pk)
    with pytest.raises(services.RetryLater, match="less than"):
        services.preview_fetch(preview_id=make_preview(server, "/b").pk)
    assert len(server.seen) == 1


def test_a_host_has_a_concurrency_cap(server, allow_local, settings):
    settings.PREVIEW_HOST_CONCURRENCY = 1
    cache.set("previews:host-busy:127.0.0.1", 1, 60)  # one fetch already running
    with pytest.raises(services.RetryLater, match="enough fetches"):
        services.preview_fetch(preview_id=make_preview(server, "/a").pk)


def test_an_origin_image_that_is_a_bomb_leaves_the_card_without_image(server, allow_local):
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    bomb = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", 90000, 90000, 8, 2, 0, 0, 0)
    )
    bomb += chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    server.page("/shoe", product_page(server.url("/bomb.png")))
    server.reply("/bomb.png", body=bomb, headers={"Content-Type": "image/png"})
    preview = services.preview_fetch(preview_id=make_preview(server).pk)
    assert preview.status == LinkPreview.Status.OK
    assert not preview.image
    assert preview.image_url == server.url("/bomb.png")


def test_the_cached_card_is_replaced_on_refresh(
    server, allow_local, django_capture_on_commit_callbacks
):
    server.page("/shoe", product_page("", title="Old name"))
    preview = make_preview(server)
    with django_capture_on_commit_callbacks(execute=True):
        services.preview_fetch(preview_id=preview.pk)
    assert selectors.cached_card_for_url(preview.url)["title"] == "Old name"
    server.page("/shoe", product_page("", title="New name"))
    cache.delete("previews:host-rate:127.0.0.1")
    with django_capture_on_commit_callbacks(execute=True):
        services.preview_fetch(preview_id=preview.pk, force=True)
    assert selectors.cached_card_for_url(preview.url)["title"] == "New name"


def test_requesting_a_preview_queues_one_fetch(django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(preview_fetch_task, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        first, fresh = services.preview_request(url="https://Shop.Example.org/item?utm_source=x")
        again, _ = services.preview_request(url="https://shop.example.org/item#reviews")
    assert first.pk == again.pk
    assert first.url == "https://shop.example.org/item"
    assert fresh is False
    assert sent == [(first.pk, 0)]


def test_stale_previews_are_queued_for_refresh(monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(preview_fetch_task, "delay", lambda *args: sent.append(args))
    past, future = timezone.now() - timedelta(minutes=1), timezone.now() + timedelta(days=1)
    due = LinkPreview.objects.create(url="https://a.example/", status="ok", next_refresh_at=past)
    LinkPreview.objects.create(url="https://b.example/", status="ok", next_refresh_at=future)
    LinkPreview.objects.create(url="https://c.example/", status="blocked", next_refresh_at=past)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.previews_refresh_due() == 1
    assert sent == [(due.pk, 0)]


def test_the_task_gives_up_after_its_last_retry(server, allow_local):
    server.reply("/flaky", status=503)
    preview = make_preview(server, "/flaky")
    preview_fetch_task.apply(args=[preview.pk], retries=5)
    preview.refresh_from_db()
    assert preview.status == LinkPreview.Status.FAILED
    assert preview.error_code == "http_status"
    assert preview.error == "The server answered with HTTP status 503. Gave up after 6 attempts."
    assert len(server.seen) == 1  # it was the last attempt: no retry after it


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://Shop.Example.COM:443/a?b=1#frag", "https://shop.example.com/a?b=1"),
        ("http://shop.example.com:80", "http://shop.example.com/"),
        ("http://shop.example.com:8080/x", "http://shop.example.com:8080/x"),
        (
            "https://shop.example.com/p?utm_source=tt&id=3&fbclid=x&gclid=y&ttclid=z&mc_eid=1",
            "https://shop.example.com/p?id=3",
        ),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://shop.example.com./", "https://shop.example.com/"),
    ],
)
def test_urls_are_normalised(url, normal):
    assert normalize_url(url) == normal


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://x.example/",
        "https://",
        "javascript:alert(1)",
        "http://a b/",
        "http://u:p@x.example/",
    ],
)
def test_malformed_urls_are_refused(url):
    with pytest.raises(InvalidURL):
        normalize_url(url)
