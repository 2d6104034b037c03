"""The public product page in a real browser: what shoppers and link unfurlers see."""

import pytest
from playwright.sync_api import expect

from catalog import services
from tests.catalog.factories import ProductFactory, VariantFactory, image_bytes, upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BASE = "https://shop.example.com"  # PUBLIC_BASE_URL in config/settings_test.py


def meta(page, key: str, attribute: str = "property") -> str | None:
    return page.locator(f'meta[{attribute}="{key}"]').get_attribute("content")


def json_ld(page) -> dict:
    """The page's JSON-LD, parsed by the browser's own JSON.parse."""
    return page.evaluate(
        "JSON.parse(document.querySelector('script[type=\"application/ld+json\"]').textContent)"
    )


def test_the_product_page_shows_the_product_its_price_photo_and_card_tags(page, live_server):
    product = ProductFactory(title="Cloud Knit Hoodie", slug="cloud-knit-hoodie", brand="Acme")
    VariantFactory(product=product, sku="CKH-M", price="19.99", currency="USD", stock_on_hand=3)
    image = services.product_image_add(
        product=product,
        upload=upload("hoodie.png", image_bytes("PNG", size=(160, 120))),
        alt_text="The hoodie",
    )

    response = page.goto(f"{live_server.url}/products/cloud-knit-hoodie/")

    assert response.status == 200
    expect(page).to_have_title("Cloud Knit Hoodie · Acme")
    expect(page.locator("h1")).to_have_text("Cloud Knit Hoodie")
    expect(page.locator(".price .amount")).to_have_text("$19.99")
    expect(page.locator(".availability")).to_have_text("In stock")
    photo = page.locator(".product-gallery img")
    expect(photo).to_be_visible()
    expect(photo).to_have_attribute("alt", "The hoodie")
    # Really fetched and decoded by the browser, not just an <img> tag pointing nowhere.
    assert photo.evaluate("img => img.complete && img.naturalWidth") == 160
    assert photo.evaluate("img => img.naturalHeight") == 120

    url = f"{BASE}/products/cloud-knit-hoodie/"
    image_url = f"{BASE}{image.image.url}"
    assert meta(page, "og:type") == "product"
    assert meta(page, "og:title") == "Cloud Knit Hoodie"
    assert meta(page, "og:description") == "A fine product."
    assert meta(page, "og:url") == url
    assert meta(page, "og:site_name") == "Shoploop"
    assert meta(page, "og:image") == image_url
    assert meta(page, "og:image:secure_url") == image_url
    assert (meta(page, "og:image:width"), meta(page, "og:image:height")) == ("160", "120")
    assert meta(page, "og:image:alt") == "The hoodie"
    assert meta(page, "product:price:amount") == "19.99"
    assert meta(page, "product:price:currency") == "USD"
    assert meta(page, "product:availability") == "in stock"
    assert meta(page, "twitter:card", "name") == "summary_large_image"
    assert meta(page, "twitter:image", "name") == image_url
    assert page.locator('link[rel="canonical"]').get_attribute("href") == url

    data = json_ld(page)
    assert data["@type"] == "Product"
    assert data["name"] == "Cloud Knit Hoodie"
    assert data["image"] == [image_url]
    assert data["offers"]["price"] == "19.99"
    assert data["offers"]["priceCurrency"] == "USD"
    assert data["offers"]["availability"] == "https://schema.org/InStock"
    assert page.js_errors == []


def test_markup_in_a_title_is_shown_as_text_and_never_runs(page, live_server):
    title = "Hoodie </script><script>window.pwned=1</script> <b>bold</b>"
    product = ProductFactory(
        title=title, description='<img src="x" onerror="window.pwned=2">', brand="</title>"
    )
    VariantFactory(product=product)

    response = page.goto(f"{live_server.url}/products/{product.slug}/")

    assert response.status == 200
    expect(page.locator("h1")).to_have_text(title)
    assert page.evaluate("window.pwned") is None
    # The only script element is the JSON-LD one the template writes.
    assert page.evaluate("[...document.scripts].map(s => s.type)") == ["application/ld+json"]
    assert page.locator("h1 b, .description img").count() == 0
    assert json_ld(page)["name"] == title
    assert json_ld(page)["brand"] == {"@type": "Brand", "name": "</title>"}
    assert meta(page, "og:title") == title
    assert page.title() == f"{title} · </title>"
    assert page.js_errors == []


@pytest.mark.parametrize("case", ["unknown slug", "inactive product"])
def test_a_missing_or_unpublished_product_shows_the_not_found_page(page, live_server, case):
    slug = "no-such-product"
    if case == "inactive product":
        VariantFactory(product=ProductFactory(slug=slug, active=False))

    response = page.goto(f"{live_server.url}/products/{slug}/")

    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    assert meta(page, "robots", "name") == "noindex"
