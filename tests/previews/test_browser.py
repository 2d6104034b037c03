"""The preview card and the <shoploop-preview> web component in a real browser."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from previews.models import LinkPreview
from tests.catalog.factories import ProductFactory, VariantFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = '<img src=x onerror="window.pwned=1">Linen <b>Shirt</b><script>window.pwned=2</script>'


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()


@pytest.fixture
def serve_blog(server, live_server):
    """A creator's blog on another origin (its own local server) embedding Shoploop."""

    def serve(body: str) -> str:
        html = f"""<!doctype html><html><body>
          <script src="{live_server.url}/static/previews/shoploop-preview.js"></script>
          {body}</body></html>"""
        server.page("/post", html)
        return server.url("/post")

    return serve


def test_the_component_renders_scraped_text_as_text(page, serve_blog):
    LinkPreview.objects.create(
        url="https://shop.example.org/shirt", status="ok", title=HOSTILE, description=HOSTILE,
        site_name="Example Shop", price=Decimal("49.90"), currency="EUR",
        next_refresh_at=timezone.now() + timezone.timedelta(days=1),
    )  # fmt: skip
    page.goto(serve_blog('<shoploop-preview url="https://shop.example.org/shirt">'))
    card = page.locator("shoploop-preview")
    expect(card.locator(".title")).to_have_text(HOSTILE)
    expect(card.locator(".price")).to_have_text("€49.90")  # in the currency's minor units
    expect(card.locator(".site")).to_have_text("Example Shop")
    assert card.locator("img[src=x]").count() == 0
    assert page.evaluate("window.pwned") is None
    assert page.js_errors == []


def test_the_component_renders_a_product_page_card(page, live_server, serve_blog, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    product = ProductFactory(title="Cloud Hoodie", slug="cloud-hoodie")
    VariantFactory(product=product, price=Decimal("59.00"), currency="USD")
    url = f"{live_server.url}/products/cloud-hoodie/"
    page.goto(serve_blog(f'<shoploop-preview url="{url}"></shoploop-preview>'))
    card = page.locator("shoploop-preview")
    expect(card.locator(".title")).to_have_text("Cloud Hoodie")
    expect(card.locator(".price")).to_have_text("$59.00")
    assert card.locator("a").get_attribute("href") == url


def test_the_component_says_when_there_is_no_preview(page, serve_blog):
    page.goto(serve_blog('<shoploop-preview url="https://nothing.example/">'))
    expect(page.locator("shoploop-preview .missing")).to_have_text("No preview of this link yet.")


def test_the_card_can_be_embedded_in_an_iframe(page, live_server, serve_blog):
    LinkPreview.objects.create(
        url="https://shop.example.org/shirt", status="ok", title=HOSTILE, site_name="Shop",
        next_refresh_at=timezone.now() + timezone.timedelta(days=1),
    )  # fmt: skip
    src = f"{live_server.url}/previews/card?url=https://shop.example.org/shirt"
    page.goto(serve_blog(f'<iframe src="{src}" width="540" height="420">'))
    frame = page.frame_locator("iframe")
    expect(frame.locator(".sl-card-title")).to_have_text(HOSTILE)
    assert page.evaluate("window.pwned") is None


def test_the_component_says_why_a_preview_failed(page, serve_blog):
    LinkPreview.objects.create(
        url="https://shop.example.org/gone", status="failed",
        error="The server answered with HTTP status 404.",
    )  # fmt: skip
    page.goto(serve_blog('<shoploop-preview url="https://shop.example.org/gone">'))
    expect(page.locator("shoploop-preview .missing")).to_have_text(
        "No preview: The server answered with HTTP status 404."
    )
    assert page.js_errors == []
