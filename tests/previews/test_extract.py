"""Metadata extraction from fixture pages in tests/previews/pages/ and inline snippets."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from previews.extract import (
    PRECEDENCE,
    ImageInfo,
    extract,
    fetch_oembed,
    load_lenient_json,
    parse_oembed,
)
from previews.fetch import BlockedURL, FetchError, TooLarge

PAGES = Path(__file__).parent / "pages"
IN_STOCK = "https://schema.org/InStock"


def page(name: str, url: str) -> object:
    return extract((PAGES / name).read_text(encoding="utf-8"), url=url)


def head(*tags: str) -> str:
    return "<html><head>" + "".join(tags) + "</head><body></body></html>"


# --- whole pages ---------------------------------------------------------------------------


def test_a_shopify_like_product_page():
    meta = page("shopify_product.html", "https://cloudknit.example/products/cloud-knit-hoodie")

    assert meta.title == "Cloud Knit Hoodie"
    assert meta.description == "Brushed-back fleece, made to last."
    assert meta.site_name == "Cloud Knit Store"
    assert meta.type == "product"
    assert meta.url == "https://cloudknit.example/products/cloud-knit-hoodie"
    assert meta.canonical_url == "https://cloudknit.example/products/cloud-knit-hoodie"
    assert meta.lang == "en"
    # The secure URL wins, and the size and alt are those of the first og:image only.
    assert meta.image == ImageInfo(
        url="https://cloudknit.example/cdn/hoodie.jpg?v=1",
        width=1200,
        height=628,
        alt="A grey hoodie on a hanger",
    )
    # JSON-LD's price beats the (stale) og:price; the first offer has no price.
    assert (meta.price, meta.currency) == (Decimal("1299.00"), "CAD")
    assert meta.availability == IN_STOCK
    assert meta.brand == "Cloud Knit"
    assert meta.icon_url == "https://cloudknit.example/cdn/apple-touch-icon.png"
    assert meta.sources["title"] == "og"
    assert meta.sources["price"] == "jsonld"
    assert meta.sources["brand"] == "jsonld"
    assert meta.sources["icon_url"] == "html"


def test_a_json_ld_graph_with_an_aggregate_offer():
    meta = page("graph.html", "https://maisonverte.example/lampe-opale/")

    assert meta.title == "Lampe Opale"  # JSON-LD beats the SEO-stuffed <title>
    assert meta.sources["title"] == "jsonld"
    assert meta.description == "Verre opalin soufflé bouche."
    assert meta.site_name == "Maison Verte"  # the WebSite node, not the Organization
    assert meta.image == ImageInfo(
        url="https://maisonverte.example/media/lampe-opale.jpg",
        width=800,
        height=600,
        alt="Lampe Opale allumée",
    )
    assert (meta.price, meta.currency) == (Decimal("49.9"), "EUR")  # the "from" price
    assert meta.availability == "https://schema.org/LimitedAvailability"
    assert meta.brand == "Atelier Nord"
    assert meta.type == "product"
    assert meta.lang == "fr-FR"


def test_a_broken_json_ld_block_is_skipped_and_the_good_one_kept():
    meta = page("broken_jsonld.html", "https://trail.example/p/3")
    assert meta.title == "Trail Runner 3"
    assert meta.sources["title"] == "jsonld"
    assert (meta.price, meta.currency) == (Decimal("120"), "USD")
    assert meta.availability == IN_STOCK


def test_a_microdata_only_page():
    meta = page("microdata.html", "https://pottersbench.example/mug")

    assert meta.title == "Speckled Ceramic Mug"  # not the nested review's name
    assert meta.sources["title"] == "microdata"
    assert meta.description == "Wheel-thrown stoneware, 350 ml."
    assert meta.image == ImageInfo(url="https://pottersbench.example/img/mug.jpg")
    assert meta.brand == "Potter's Bench"
    assert (meta.price, meta.currency) == (Decimal("24.50"), "GBP")  # from `content`
    assert meta.availability == "https://schema.org/PreOrder"
    assert meta.sources["price"] == "microdata"


def test_a_twitter_card_only_page():
    meta = page("twitter_only.html", "https://deskshop.example/organizer")

    assert meta.title == "Walnut Desk Organizer"
    assert meta.description == "Keeps cables & pens in line."
    assert meta.image == ImageInfo(
        url="https://deskshop.example/i/organizer.jpg", alt="A walnut tray"
    )
    assert (meta.price, meta.currency) == (Decimal("45.00"), "USD")
    assert {meta.sources[f] for f in ("title", "description", "image", "price")} == {"twitter"}
    assert meta.url == "https://deskshop.example/organizer"  # nothing better: the page URL


def test_plain_html_fallbacks_resolve_against_base_href():
    meta = page("plain.html", "https://www.boutique.example/fr/panier?ref=feed")

    assert meta.title == "Panier en osier & rotin"
    assert meta.description == "Panier tressé à la main."
    assert meta.site_name == "La Vannerie"
    assert meta.lang == "fr"
    # Skips the tracking pixel, the data: placeholder, the SVG logo, the spacer and the
    # javascript: URL; resolves against <base href>, not the page URL.
    assert meta.image == ImageInfo(
        url="https://cdn.boutique.example/assets/photos/panier.jpg",
        width=600,
        height=400,
        alt="Panier en osier",
    )
    assert meta.canonical_url == "https://cdn.boutique.example/fr/produits/panier"
    assert meta.url == meta.canonical_url
    assert meta.icon_url == "https://cdn.boutique.example/assets/icons/192.png"
    assert meta.price is None and meta.currency is None
    assert set(meta.sources.values()) == {"html"}


def test_a_video_page_with_an_oembed_link():
    meta = page("video.html", "https://videos.example/watch/abc123")

    assert meta.oembed_url == (
        "https://videos.example/oembed?url=https%3A%2F%2Fvideos.example%2Fwatch%2Fabc123"
        "&format=json"
    )
    assert meta.video_url == "https://videos.example/embed/abc123"
    assert meta.type == "video.other"
    assert meta.title == "How we knit a hoodie"
    # og:image is a javascript: URL, so the JSON-LD thumbnail is used instead.
    assert meta.image == ImageInfo(url="https://videos.example/thumb/abc123.jpg")
    assert meta.sources["image"] == "jsonld"


def test_an_empty_document():
    meta = extract("", url="https://shop.example/")
    assert meta.url == "https://shop.example/"
    assert meta.title is None and meta.image is None and meta.price is None
    assert meta.sources == {}


# --- parsing (libxml2 through lxml, once per page) ------------------------------------------


def test_what_follows_the_html_end_tag_is_read():
    # libxml2 stops building the tree at </html>; browsers, and the BeautifulSoup builder
    # this replaced, keep going. Old pages put tracking code and JSON-LD there.
    html = (
        "<html><head><title>Old page</title></head><body><p>Hi</p></body></html>\n"
        + JSONLD_PRICE
        + '<img src="/after.jpg" width="300">'
    )
    meta = extract(html, url="https://s.example/p")
    assert (meta.price, meta.currency) == (Decimal("10.00"), "USD")
    assert meta.image.url == "https://s.example/after.jpg"


def test_html_end_tag_text_inside_an_attribute_breaks_no_tag():
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text</html; charset=x">'
        '<meta name="description" content="Still read."></head><body><p>x</p></body>'
        '</html><script type="application/ld+json">{"@type": "Product", "name": "After"}'
        "</script>"
    )
    meta = extract(html, url="https://s.example/p")
    assert meta.description == "Still read."
    assert meta.title == "After"


@pytest.mark.parametrize(
    "declaration",
    ['<?xml version="1.0" encoding="ISO-8859-1"?>', '<meta charset="shift_jis">'],
)
def test_decoded_text_is_not_decoded_again(declaration):
    html = f"{declaration}<html><head><title>Crème brûlée – 東京</title></head></html>"
    assert extract(html, url="https://s.example/").title == "Crème brûlée – 東京"


def test_nul_characters_do_not_cut_the_page():
    html = '<html><head><title>A\x00B</title><meta property="og:image" content="/i.jpg">'
    meta = extract(html, url="https://s.example/")
    assert meta.image.url == "https://s.example/i.jpg"
    assert meta.title == "A\ufffdB"  # as a browser shows it


def test_text_inside_a_template_is_not_page_text():
    html = (
        '<html><body><div itemscope itemtype="https://schema.org/Product">'
        '<template><span itemprop="name">Placeholder</span></template>'
        '<span itemprop="name">Real name</span></div></body></html>'
    )
    assert extract(html, url="https://s.example/").title == "Real name"


# --- precedence ------------------------------------------------------------------------------


def test_precedence_is_a_table_of_known_sources():
    sources = {"og", "twitter", "jsonld", "microdata", "html"}
    assert all(set(order) <= sources for order in PRECEDENCE.values())
    assert PRECEDENCE["title"] == ("og", "twitter", "jsonld", "microdata", "html")
    assert PRECEDENCE["price"][:3] == ("jsonld", "og", "microdata")


JSONLD_PRICE = (
    '<script type="application/ld+json">{"@type": "Product", "name": "P", '
    '"offers": {"price": "10.00", "priceCurrency": "USD"}}</script>'
)
OG_PRICE = (
    '<meta property="product:price:amount" content="11.00">'
    '<meta property="product:price:currency" content="EUR">'
)
MICRODATA_PRICE = (
    '<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">P</span>'
    '<span itemprop="price" content="12.00"></span>'
    '<meta itemprop="priceCurrency" content="GBP"></div>'
)


@pytest.mark.parametrize(
    ("snippets", "expected"),
    [
        ((JSONLD_PRICE, OG_PRICE, MICRODATA_PRICE), (Decimal("10.00"), "USD", "jsonld")),
        ((OG_PRICE, MICRODATA_PRICE), (Decimal("11.00"), "EUR", "og")),
        ((MICRODATA_PRICE,), (Decimal("12.00"), "GBP", "microdata")),
    ],
)
def test_price_precedence(snippets, expected):
    html = "<html><head>" + "".join(snippets[:2]) + "</head><body>" + snippets[-1] + "</body>"
    meta = extract(html, url="https://shop.example/p")
    assert (meta.price, meta.currency, meta.sources["price"]) == expected


def test_a_price_without_currency_borrows_the_page_currency():
    html = (
        '<html><head><meta property="og:price:currency" content="SEK"></head><body>'
        '<div itemscope itemtype="http://schema.org/Product">'
        '<span itemprop="price">1 299,00</span></div></body></html>'
    )
    meta = extract(html, url="https://shop.example/p")
    assert (meta.price, meta.currency) == (Decimal("1299.00"), "SEK")


def test_og_price_tags():
    meta = extract(
        head(
            '<meta property="og:price:amount" content="19.99">',
            '<meta property="og:price:currency" content="usd">',
            '<meta property="product:availability" content="oos">',
            '<meta property="product:brand" content="Acme">',
        ),
        url="https://shop.example/p",
    )
    assert (meta.price, meta.currency) == (Decimal("19.99"), "USD")
    assert meta.availability == "https://schema.org/OutOfStock"
    assert meta.brand == "Acme"


# --- JSON-LD details --------------------------------------------------------------------------


def ld(data) -> str:
    body = data if isinstance(data, str) else json.dumps(data)
    return head(f'<script type="application/ld+json">{body}</script>')


@pytest.mark.parametrize("type_", ["Product", "schema:Product", "http://schema.org/Product"])
def test_json_ld_type_spellings(type_):
    meta = extract(ld({"@type": type_, "name": "Lamp"}), url="https://s.example/")
    assert meta.title == "Lamp"
    assert meta.type == "product"


def test_json_ld_top_level_array_and_several_blocks():
    html = head(
        '<script type="application/ld+json">[{"@type": "WebSite", "name": "Shop"}]</script>',
        '<script type="application/ld+json; charset=utf-8">'
        '{"@type": "Product", "name": "Chair", "offers": [{"@type": "Offer", "price": 80,'
        ' "priceCurrency": "NOK"}]}</script>',
    )
    meta = extract(html, url="https://s.example/")
    assert (meta.title, meta.site_name) == ("Chair", "Shop")
    assert (meta.price, meta.currency) == (Decimal("80"), "NOK")


def test_json_ld_product_group_variants_carry_the_offers():
    meta = extract(
        ld(
            {
                "@type": "ProductGroup",
                "name": "Tee",
                "hasVariant": [
                    {"@type": "Product", "offers": {"price": "25.00", "priceCurrency": "AUD"}}
                ],
            }
        ),
        url="https://s.example/",
    )
    assert (meta.price, meta.currency) == (Decimal("25.00"), "AUD")


def test_json_ld_price_specification_and_printed_prices():
    meta = extract(
        ld(
            {
                "@type": "Product",
                "name": "Kettle",
                "offers": {
                    "@type": "Offer",
                    "priceSpecification": {"price": "1.299,00 €"},
                },
            }
        ),
        url="https://s.example/",
    )
    assert (meta.price, meta.currency) == (Decimal("1299.00"), "EUR")


def test_json_ld_tolerates_comments_trailing_commas_and_wrappers():
    body = """<!--
    {
      // a comment
      "@type": "Product", /* another */
      "name": "Stool // not a comment",
      "url": "https://s.example/stool",
      "offers": {"price": "15", "priceCurrency": "USD",},
    }
    -->"""
    meta = extract(ld(body), url="https://s.example/")
    assert meta.title == "Stool // not a comment"
    assert meta.url == "https://s.example/stool"
    assert meta.price == Decimal("15")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('{"a": [1, 2,],}', {"a": [1, 2]}),
        ('{"a": "x, ]"}', {"a": "x, ]"}),
        ('{"a": "say \\"hi\\" // there"} // done', {"a": 'say "hi" // there'}),
        ('<![CDATA[ {"a": 1} ]]>', {"a": 1}),
        # Wrappers around indented JSON, the way CMS templates print it (the two ends are
        # looked at directly, not with one regex retried at every position).
        ('\n  <!--\n  {\n      "a": 1\n  }\n  //-->\n', {"a": 1}),
        ('//<![CDATA[\n{"a": "-->"}\n//]]>', {"a": "-->"}),
        ('{"a": 1}\n' + " " * 5000 + "\n", {"a": 1}),
        ('{"a": "line\nbreak"}', {"a": "line\nbreak"}),
        ('{"a": ', None),
        ("", None),
        ("not json", None),
    ],
)
def test_load_lenient_json(text, expected):
    assert load_lenient_json(text) == expected


def test_json_ld_text_is_entity_decoded_and_tags_stripped():
    meta = extract(
        ld({"@type": "Product", "name": "Men&#39;s Tee &amp; Cap", "description": "<b>Soft</b>"}),
        url="https://s.example/",
    )
    assert meta.title == "Men's Tee & Cap"
    assert meta.description == "Soft"


# --- text and URLs --------------------------------------------------------------------------


def test_text_is_folded_and_trimmed():
    long_title = "Word " * 100
    meta = extract(
        head(
            f'<meta property="og:title" content="{long_title}">',
            '<meta property="og:description" content="a&amp;amp;b\u200b \t\n c">',
        ),
        url="https://s.example/",
    )
    assert len(meta.title) == 300 and meta.title.endswith("…")
    # Decoded once, by the parser, as a browser shows it: "&amp;amp;" is "&amp;" as text.
    assert meta.description == "a&amp;b c"


@pytest.mark.parametrize(
    "image",
    [
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "ftp://s.example/a.jpg",
        "http://",
        "   ",
    ],
)
def test_only_http_urls_are_kept(image):
    meta = extract(head(f'<meta property="og:image" content="{image}">'), url="https://s.example/")
    assert meta.image is None


def test_protocol_relative_and_relative_urls_are_resolved():
    meta = extract(
        head(
            '<meta property="og:image" content="//cdn.s.example/a b.jpg">',
            '<meta property="og:url" content="/p/1">',
        ),
        url="http://s.example/x/y",
    )
    assert meta.image.url == "http://cdn.s.example/a%20b.jpg"
    assert meta.url == "http://s.example/p/1"


def test_a_non_http_base_href_is_ignored():
    meta = extract(
        head('<base href="javascript:alert(1)//">', '<link rel="canonical" href="/c">'),
        url="https://s.example/p",
    )
    assert meta.canonical_url == "https://s.example/c"


def test_lazy_loaded_images_are_found():
    html = (
        '<html><body><img src="data:image/gif;base64,R0lGOD" data-src="/real.jpg" width="300">'
        "</body></html>"
    )
    assert extract(html, url="https://s.example/").image.url == "https://s.example/real.jpg"


def test_srcset_is_a_last_resort():
    html = '<html><body><img srcset="/a-1x.jpg 1x, /a-2x.jpg 2x"></body></html>'
    assert extract(html, url="https://s.example/").image.url == "https://s.example/a-1x.jpg"


def test_icon_without_apple_touch_prefers_the_largest():
    meta = extract(
        head(
            '<link rel="icon" href="/small.png" sizes="32x32">',
            '<link rel="icon" href="/big.png" sizes="96x96 192x192">',
            '<link rel="icon" href="/any.svg" sizes="any">',
        ),
        url="https://s.example/",
    )
    assert meta.icon_url == "https://s.example/big.png"


# --- oEmbed ---------------------------------------------------------------------------------

OEMBED = {
    "version": "1.0",
    "type": "video",
    "title": "How we knit a hoodie",
    "author_name": "Cloud Knit",
    "provider_name": "Videos",
    "thumbnail_url": "/thumb/abc123.jpg",
    "thumbnail_width": 480,
    "thumbnail_height": "360",
    "html": '<iframe src="https://videos.example/embed/abc123"></iframe>',
    "width": 640,
    "height": 360,
}


def test_parse_oembed():
    embed = parse_oembed(OEMBED, url="https://videos.example/oembed?format=json")
    assert embed.type == "video"
    assert embed.title == "How we knit a hoodie"
    assert embed.author_name == "Cloud Knit"
    assert embed.provider_name == "Videos"
    assert embed.thumbnail_url == "https://videos.example/thumb/abc123.jpg"
    assert (embed.thumbnail_width, embed.thumbnail_height) == (480, 360)
    assert embed.html == OEMBED["html"]
    assert (embed.width, embed.height) == (640, 360)


def test_parse_oembed_drops_unsafe_thumbnails_and_odd_values():
    embed = parse_oembed(
        {"type": 5, "thumbnail_url": "javascript:x", "html": "  ", "width": "wide"},
        url="https://videos.example/oembed",
    )
    assert embed.type is None and embed.thumbnail_url is None
    assert embed.html is None and embed.width is None


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json+oembed; charset=utf-8"]
)
def test_fetch_oembed_from_a_local_server(server, allow_local, content_type):
    server.page("/oembed", json.dumps(OEMBED), content_type=content_type)
    embed = fetch_oembed(server.url("/oembed?url=x&format=json"))
    assert embed.title == "How we knit a hoodie"
    assert embed.thumbnail_url == server.url("/thumb/abc123.jpg")


def test_fetch_oembed_unwraps_jsonp(server, allow_local):
    server.page("/oembed", f"cb({json.dumps(OEMBED)});", content_type="text/javascript")
    assert fetch_oembed(server.url("/oembed")).provider_name == "Videos"


@pytest.mark.parametrize("body", ["<html>no</html>", "[1, 2]", '"text"'])
def test_fetch_oembed_refuses_what_is_not_a_json_object(server, allow_local, body):
    server.page("/oembed", body, content_type="application/json")
    with pytest.raises(FetchError) as exc:
        fetch_oembed(server.url("/oembed"))
    assert exc.value.code == "invalid_oembed"


def test_fetch_oembed_goes_through_the_safe_fetcher(server, allow_local):
    server.page("/page", "<html></html>")
    server.page("/big", b"{" + b" " * (1024 * 1024 + 1) + b"}", content_type="application/json")
    with pytest.raises(BlockedURL):
        fetch_oembed("http://169.254.169.254/oembed")
    with pytest.raises(FetchError) as exc:
        fetch_oembed(server.url("/page"))
    assert exc.value.code == "unsupported_content"
    with pytest.raises(TooLarge):
        fetch_oembed(server.url("/big"))
