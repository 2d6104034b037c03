"""The product page carries the tags that unfurl it as a product card."""

import json
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup

from catalog import services
from tests.catalog.factories import ProductFactory, VariantFactory, image_bytes, upload

pytestmark = pytest.mark.django_db

BASE = "https://shop.example.com"  # PUBLIC_BASE_URL in the test settings


def meta(soup, key):
    tag = soup.find("meta", attrs={"property": key}) or soup.find("meta", attrs={"name": key})
    assert tag is not None, f"missing <meta> {key}"
    return tag["content"]


def json_ld(soup):
    scripts = soup.find_all("script", attrs={"type": "application/ld+json"})
    assert len(scripts) == 1
    return json.loads(scripts[0].string)


@pytest.fixture
def product(django_capture_on_commit_callbacks):
    product = ProductFactory(
        title="Cloud Knit Hoodie", slug="cloud-knit-hoodie", brand="Northloop",
        description="Brushed-back   cotton\nhoodie.",
    )  # fmt: skip
    VariantFactory(product=product, sku="NOR-1-S", gtin="4006381333931", price=Decimal("59.00"),
                   currency="USD", stock_on_hand=0, position=0)  # fmt: skip
    VariantFactory(product=product, sku="NOR-1-M", gtin="036000291452", price=Decimal("49.00"),
                   currency="USD", stock_on_hand=5, position=1)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        services.product_image_add(
            product=product, upload=upload("hoodie.jpg", image_bytes("JPEG", size=(1200, 630))),
            alt_text="Grey hoodie",
        )  # fmt: skip
    return product


def test_product_page_has_every_card_tag(client, product):
    response = client.get("/products/cloud-knit-hoodie/")
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "lxml")
    url = f"{BASE}/products/cloud-knit-hoodie/"
    image = product.images.get()

    assert soup.find("link", rel="canonical")["href"] == url
    assert meta(soup, "og:type") == "product"
    assert meta(soup, "og:title") == "Cloud Knit Hoodie"
    assert meta(soup, "og:description") == "Brushed-back cotton hoodie."
    assert meta(soup, "og:url") == url
    assert meta(soup, "og:image") == f"{BASE}{image.image.url}"
    assert meta(soup, "og:image").startswith("https://")
    assert meta(soup, "og:image:width") == "1200"
    assert meta(soup, "og:image:height") == "630"
    assert meta(soup, "og:image:alt") == "Grey hoodie"
    # The cheapest variant in stock is the offer.
    assert meta(soup, "product:price:amount") == "49.00"
    assert meta(soup, "product:price:currency") == "USD"
    assert meta(soup, "twitter:card") == "summary_large_image"
    assert meta(soup, "twitter:image") == meta(soup, "og:image")

    data = json_ld(soup)
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "Product"
    assert data["name"] == "Cloud Knit Hoodie"
    assert data["description"] == "Brushed-back cotton hoodie."
    assert data["image"] == [meta(soup, "og:image")]
    assert data["sku"] == "NOR-1-M"
    assert data["gtin"] == "036000291452"
    assert data["brand"] == {"@type": "Brand", "name": "Northloop"}
    offer = data["offers"]
    assert offer["@type"] == "Offer"
    assert offer["price"] == "49.00"
    assert offer["priceCurrency"] == "USD"
    assert offer["availability"] == "https://schema.org/InStock"
    assert offer["url"] == url


def test_zero_decimal_currency_is_shown_without_decimals(client):
    product = ProductFactory(slug="tea")
    VariantFactory(product=product, price=Decimal("1999"), currency="JPY")
    soup = BeautifulSoup(client.get("/products/tea/").content, "lxml")
    assert meta(soup, "product:price:amount") == "1999"
    assert meta(soup, "product:price:currency") == "JPY"
    assert json_ld(soup)["offers"]["price"] == "1999"
    assert soup.select_one(".price .amount").get_text() == "¥1,999"


def test_sold_out_product_is_out_of_stock(client):
    product = ProductFactory(slug="gone")
    VariantFactory(product=product, stock_on_hand=0)
    soup = BeautifulSoup(client.get("/products/gone/").content, "lxml")
    assert json_ld(soup)["offers"]["availability"] == "https://schema.org/OutOfStock"


HOSTILE = '</script><script>alert("x")</script><!-- "quoted" & <b>bold</b>'


def test_hostile_text_is_escaped_in_the_page_and_in_json_ld(client):
    product = ProductFactory(slug="hostile", title=HOSTILE, brand=HOSTILE, description=HOSTILE)
    VariantFactory(product=product)
    html = client.get("/products/hostile/").content.decode()

    assert "<script>alert" not in html
    assert "<b>bold</b>" not in html
    soup = BeautifulSoup(html, "lxml")
    # Exactly one script element: the JSON-LD, which still parses back to the raw text.
    scripts = soup.find_all("script")
    assert [s.get("type") for s in scripts] == ["application/ld+json"]
    data = json.loads(scripts[0].string)
    assert data["name"] == HOSTILE
    assert data["brand"]["name"] == HOSTILE
    assert meta(soup, "og:title") == HOSTILE
    assert soup.find("h1").get_text() == HOSTILE


@pytest.mark.parametrize("slug", ["no-such-product", "inactive"])
def test_unknown_or_inactive_product_is_a_404_page(client, slug):
    ProductFactory(slug="inactive", active=False)
    response = client.get(f"/products/{slug}/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"og:title" not in response.content


def test_page_query_count_does_not_grow_with_variants(client, django_assert_max_num_queries):
    product = ProductFactory(slug="many")
    for _ in range(20):
        VariantFactory(product=product)
    with django_assert_max_num_queries(3):
        assert client.get("/products/many/").status_code == 200


def test_shop_index_lists_active_products(client):
    VariantFactory(product=ProductFactory(title="Visible"))
    ProductFactory(title="Hidden", active=False)
    html = client.get("/").content.decode()
    assert "Visible" in html
    assert "Hidden" not in html
