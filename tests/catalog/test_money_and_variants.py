"""Money as people read it (the shop root, the console) and `?variant=` on product pages."""

from decimal import Decimal

import pytest
from bs4 import BeautifulSoup

from tests.catalog.factories import ProductFactory, VariantFactory
from tests.sales.factories import SalesChannelFactory

pytestmark = pytest.mark.django_db


# --- ?variant=<sku> on product pages -------------------------------------------------------


@pytest.fixture
def hoodie():
    product = ProductFactory(title="Cloud Knit Hoodie", slug="cloud-knit-hoodie")
    variants = {
        size: VariantFactory(product=product, sku=f"NOR-1-{size}", price=price,
                             attributes={"size": size}, position=n, stock_on_hand=stock)
        for n, (size, price, stock) in enumerate(
            [("S", "59.00", 4), ("M", "64.00", 4), ("L", "69.00", 0)]
        )
    }  # fmt: skip
    VariantFactory(product=product, sku="NOR-1-XL", price="99.00", active=False)
    SalesChannelFactory(provider="stripe", checkout=True)  # the page has a Buy form
    return product, variants


def page(client, query=""):
    response = client.get(f"/products/cloud-knit-hoodie/{query}")
    assert response.status_code == 200
    return BeautifulSoup(response.content, "lxml")


def selected_options(soup):
    return [o["data-sku"] for o in soup.select("form.buy-form option") if o.has_attr("selected")]


def test_the_variant_in_the_query_is_preselected_with_its_price(client, hoodie):
    soup = page(client, "?variant=NOR-1-M")
    assert selected_options(soup) == ["NOR-1-M"]
    assert soup.select_one(".price .amount").get_text() == "$64.00"
    assert soup.select_one(".price")["data-sku"] == "NOR-1-M"
    assert soup.select_one(".selected-option").get_text() == "M"
    assert [tr["data-sku"] for tr in soup.select(".variants tr.selected")] == ["NOR-1-M"]


def test_without_a_variant_the_page_shows_the_cheapest_offer_and_selects_nothing(client, hoodie):
    soup = page(client)
    assert selected_options(soup) == []
    assert soup.select_one(".price .amount").get_text() == "$59.00"
    assert not soup.select(".variants tr.selected")


@pytest.mark.parametrize(
    "query",
    ["?variant=NOPE-404", "?variant=NOR-1-XL", "?variant=", "?variant=nor-1-m",
     "?variant=" + "X" * 300, "?variant=%3Cscript%3E"],
)  # fmt: skip
def test_an_unknown_or_inactive_sku_is_ignored(client, hoodie, query):
    soup = page(client, query)
    assert selected_options(soup) == []
    assert soup.select_one(".price .amount").get_text() == "$59.00"
    assert "<script>" not in str(soup.select_one("main"))


def test_a_sold_out_variant_shows_its_price_but_cannot_be_chosen(client, hoodie):
    soup = page(client, "?variant=NOR-1-L")
    assert soup.select_one(".price .amount").get_text() == "$69.00"
    assert soup.select_one(".availability").get_text(strip=True) == "Sold out"
    option = soup.select_one('form.buy-form option[data-sku="NOR-1-L"]')
    assert option.has_attr("disabled") and not option.has_attr("selected")


def test_a_short_link_to_a_variant_lands_on_it_preselected(client, hoodie, settings):
    from links import services as link_services

    settings.PUBLIC_BASE_URL = "http://testserver"
    _, variants = hoodie
    link = link_services.link_create(product_id=variants["M"].product_id,
                                     variant_id=variants["M"].pk, code="hoodie-m")  # fmt: skip
    response = client.get(f"/p/{link.code}", HTTP_USER_AGENT="Mozilla/5.0 (iPhone)")
    assert response.status_code == 302
    soup = BeautifulSoup(client.get(response["Location"]).content, "lxml")
    assert selected_options(soup) == ["NOR-1-M"]


# --- prices on the shop root ---------------------------------------------------------------


def test_mixed_currencies_on_the_shop_root_are_labelled_unambiguously(client):
    VariantFactory(product=ProductFactory(title="A hoodie"), price=Decimal("59.0000"))
    VariantFactory(product=ProductFactory(title="B mat"), price="48.5", currency="EUR")
    VariantFactory(product=ProductFactory(title="C bottle"), price="42", currency="CAD")
    VariantFactory(product=ProductFactory(title="D tea"), price="1999", currency="JPY")
    soup = BeautifulSoup(client.get("/").content, "lxml")
    assert [span.get_text() for span in soup.select(".product-grid .price")] == [
        "US$59.00", "€48.50", "CA$42.00", "JP¥1,999"
    ]  # fmt: skip


def test_one_currency_on_the_shop_root_keeps_its_plain_symbol(client):
    VariantFactory(product=ProductFactory(title="A hoodie"), price="59")
    VariantFactory(product=ProductFactory(title="B tote"), price="45.5")
    soup = BeautifulSoup(client.get("/").content, "lxml")
    assert [span.get_text() for span in soup.select(".product-grid .price")] == [
        "$59.00", "$45.50"
    ]  # fmt: skip


# --- the console ---------------------------------------------------------------------------


def test_console_prices_read_in_their_currency_not_with_four_decimals(owner_client):
    product = ProductFactory(title="Glow Serum")
    VariantFactory(product=product, sku="GLOW-30", price=Decimal("24.99"), currency="USD",
                   compare_at_price=Decimal("30"))  # fmt: skip
    VariantFactory(product=product, sku="GLOW-JP", price=Decimal("1999"), currency="JPY")
    VariantFactory(product=product, sku="GLOW-KW", price=Decimal("12.5"), currency="KWD")

    soup = BeautifulSoup(owner_client.get("/admin/catalog/variant/").content, "lxml")
    prices = {
        tr.select_one(".field-sku").get_text(strip=True): tr.select_one(
            ".field-price_display"
        ).get_text()
        for tr in soup.select("#result_list tbody tr")
    }
    assert prices == {"GLOW-30": "US$24.99", "GLOW-JP": "JP¥1,999", "GLOW-KW": "12.500 KWD"}

    # The product page's variant rows: the inputs hold 24.99, 1999 and 12.500.
    soup = BeautifulSoup(
        owner_client.get(f"/admin/catalog/product/{product.pk}/change/").content, "lxml"
    )
    values = [
        (soup.select_one(f"[name=variants-{n}-sku]")["value"],
         soup.select_one(f"[name=variants-{n}-price]")["value"],
         soup.select_one(f"[name=variants-{n}-compare_at_price]").get("value"))
        for n in range(3)
    ]  # fmt: skip
    assert values == [
        ("GLOW-30", "24.99", "30.00"), ("GLOW-JP", "1999", None), ("GLOW-KW", "12.500", None)
    ]  # fmt: skip


def test_saving_a_product_page_unchanged_keeps_the_prices(owner_client):
    variant = VariantFactory(price=Decimal("24.99"), currency="USD")
    url = f"/admin/catalog/product/{variant.product_id}/change/"
    soup = BeautifulSoup(owner_client.get(url).content, "lxml")
    form = soup.select_one("#product_form")
    data = {}
    for field in form.select("input[name], select[name], textarea[name]"):
        kind = field.get("type", "")
        if kind in ("checkbox",) and not field.has_attr("checked"):
            continue
        if kind in ("file", "submit"):
            continue
        if field.name == "select":
            chosen = field.select_one("option[selected]")
            data[field["name"]] = chosen["value"] if chosen else ""
        elif field.name == "textarea":
            data[field["name"]] = field.get_text()
        else:
            data[field["name"]] = field.get("value", "on" if kind == "checkbox" else "")
    response = owner_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    variant.refresh_from_db()
    assert (variant.price, variant.currency) == (Decimal("24.99"), "USD")


def test_the_currency_filters_list_only_currencies_in_use(owner_client):
    VariantFactory(currency="USD")
    VariantFactory(currency="EUR")
    both = ProductFactory(title="In both")
    VariantFactory(product=both, currency="USD")
    VariantFactory(product=both, currency="EUR")
    for url in ("/admin/catalog/product/", "/admin/catalog/variant/"):
        soup = BeautifulSoup(owner_client.get(url).content, "lxml")
        links = soup.select('#changelist-filter a[href*="currency="]')
        assert sorted(a.get_text(strip=True) for a in links) == ["EUR", "USD"], url
    soup = BeautifulSoup(owner_client.get("/admin/catalog/product/?currency=EUR").content, "lxml")
    titles = [a.get_text() for a in soup.select("#result_list tbody th a, .field-title a")]
    assert titles.count("In both") == 1  # listed once, though two variants match


def test_the_variant_autocomplete_beside_a_product_lists_only_its_variants(owner_client):
    hoodie, mug = ProductFactory(title="Hoodie"), ProductFactory(title="Mug")
    VariantFactory(product=hoodie, sku="HOOD-S")
    VariantFactory(product=hoodie, sku="HOOD-M")
    VariantFactory(product=mug, sku="MUG-1")

    def choices(**params):
        query = {"app_label": "links", "model_name": "shortlink", "field_name": "variant",
                 "term": "", **params}  # fmt: skip
        response = owner_client.get("/admin/autocomplete/", query)
        assert response.status_code == 200
        return sorted(row["text"].split(" ")[0] for row in response.json()["results"])

    assert choices(product=hoodie.pk) == ["HOOD-M", "HOOD-S"]
    assert choices(product=mug.pk) == ["MUG-1"]
    assert choices() == ["HOOD-M", "HOOD-S", "MUG-1"]  # no product chosen yet: all
    assert choices(product="x") == ["HOOD-M", "HOOD-S", "MUG-1"]
    # The same for a UGC item's product mappings.
    assert choices(app_label="ugc", model_name="ugcproductmap", product=mug.pk) == ["MUG-1"]
