"""Pages the extractor used to read wrong (issue 10): entities decoded twice, a video as the
card image, nothing found on pages without meta tags, a product shown by the site's generic
share image. Whole pages of each class are in bench/previews_corpus/ (test_corpus.py)."""

import html
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from previews.extract import extract, is_video, parse_oembed, unescape_attribute


def head(*tags: str, body: str = "") -> str:
    return "<html><head>" + "".join(tags) + "</head><body>" + body + "</body></html>"


def ld(data) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


# --- entities, decoded once ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        # Escaped ampersands: decoded once, and what follows is not decoded again.
        ("?f=webp&amp;region=us", "?f=webp&region=us"),
        ("?a=1&amp;copy=2&amp;para=3&amp;not=4&amp;reg=5", "?a=1&copy=2&para=3&not=4&reg=5"),
        # Raw ampersands before a legacy name and a letter, digit or "=": left alone.
        ("?f=webp&region=us", "?f=webp&region=us"),
        ("?a=1&copy=2&para=3&not=4", "?a=1&copy=2&para=3&not=4"),
        ("?x&reg2=1", "?x&reg2=1"),
        # Legacy names elsewhere, full names and numeric references: decoded.
        ("AT&amp;T &copy 2024", "AT&T © 2024"),
        ("&reg;&not;&para;", "®¬¶"),
        ("Men&#39;s &#x2013; tee", "Men's – tee"),
        ("&amp;amp;", "&amp;"),  # once
        ("no references", "no references"),
        ("&unknown; &", "&unknown; &"),
    ],
)
def test_attribute_values_are_decoded_once_by_the_html_rules(raw, decoded):
    assert unescape_attribute(raw) == decoded


def test_an_og_image_with_escaped_query_parameters_is_kept_whole():
    meta = extract(
        head(
            '<meta property="og:image" content="https://cdn.s.example/a.jpg?f=webp&amp;'
            'region=us&amp;para=1&amp;copy=2&amp;not=3">'
        ),
        url="https://s.example/",
    )
    assert meta.image.url == "https://cdn.s.example/a.jpg?f=webp&region=us&para=1&copy=2&not=3"


def test_raw_ampersands_in_markup_and_json_ld_stay_as_written():
    image = "https://cdn.s.example/a.jpg?f=webp&region=us&copy=2"
    meta = extract(
        head(ld({"@type": "Product", "name": "Lamp", "image": image})), url="https://s.example/"
    )
    assert meta.image.url == image
    meta = extract(head(f'<meta name="twitter:image" content="{image}">'), url="https://s.example/")
    assert meta.image.url == image


def test_text_from_the_markup_is_not_decoded_a_second_time():
    meta = extract(
        head(
            "<title>Fish &amp;amp; Chips</title>",
            '<meta name="description" content="Salt &amp;amp; vinegar &lt;b&gt;x&lt;/b&gt;">',
        ),
        url="https://s.example/",
    )
    assert meta.title == "Fish &amp; Chips"  # what a browser shows
    assert meta.description == "Salt &amp; vinegar x"  # tags stripped, nothing decoded


def test_json_ld_and_oembed_strings_are_decoded_once():
    meta = extract(
        head(ld({"@type": "Product", "name": "Fish &amp;amp; Chips &reg;&region=eu"})),
        url="https://s.example/",
    )
    assert meta.title == "Fish &amp; Chips ®&region=eu"
    embed = parse_oembed(
        {"title": "Tom &amp; Jerry", "thumbnail_url": "/t.jpg?a=1&amp;region=us"},
        url="https://v.example/oembed",
    )
    assert embed.title == "Tom & Jerry"
    assert embed.thumbnail_url == "https://v.example/t.jpg?a=1&region=us"


@given(st.text(alphabet="&;#=ampregcoyx0123 ", max_size=40))
def test_decoding_an_escaped_value_gives_it_back(value):
    # What a page escapes properly comes back exactly, whatever it looks like.
    assert unescape_attribute(html.escape(value, quote=True)) == value


# --- a card image is an image ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "hint", "video"),
    [
        ("https://s.example/clip.mp4", None, True),
        ("https://s.example/clip.MOV?v=2", None, True),
        ("https://s.example/live.m3u8", None, True),
        ("https://s.example/loop.webm#t=1", None, True),
        ("https://s.example/render", "video/mp4", True),
        ("https://s.example/render", "application/x-mpegURL", True),
        ("https://s.example/clip.mp4", "image/jpeg", False),  # the type hint wins
        ("https://s.example/photo.jpg", None, False),
        ("https://s.example/mp4/photo.jpg", None, False),
        ("https://s.example/image?format=mp4", None, False),
        ("https://s.example/photo", "", False),
    ],
)
def test_what_counts_as_a_video(url, hint, video):
    assert is_video(url, hint) is video


def test_a_video_og_image_gives_its_place_to_its_poster():
    meta = extract(
        head(
            '<meta property="og:image" content="https://s.example/clip.mp4">',
            '<meta property="og:image:type" content="video/mp4">',
            body='<video poster="/clip-poster.jpg"><source src="/clip.mp4"></video>'
            '<video poster="/other.jpg" src="/other.mp4"></video>',
        ),
        url="https://s.example/p",
    )
    assert meta.image.url == "https://s.example/clip-poster.jpg"
    assert meta.sources["image"] == "og"


def test_a_video_without_a_poster_gives_its_place_to_the_next_image():
    meta = extract(
        head(
            '<meta property="og:image" content="https://s.example/clip.mp4">',
            '<meta property="og:image:width" content="720">',
            '<meta property="og:image" content="https://s.example/still.jpg">',
            '<meta property="og:image:width" content="1200">',
        ),
        url="https://s.example/p",
    )
    assert (meta.image.url, meta.image.width) == ("https://s.example/still.jpg", 1200)


def test_a_video_everywhere_falls_through_to_the_next_source():
    meta = extract(
        head(
            '<meta property="og:image" content="/a.mp4">',
            '<meta name="twitter:image" content="/b.webm">',
            ld({"@type": "Article", "headline": "A", "image": ["/c.mov", "/d.jpg"]}),
        ),
        url="https://s.example/",
    )
    assert (meta.image.url, meta.sources["image"]) == ("https://s.example/d.jpg", "jsonld")


def test_a_schema_video_object_as_image_gives_its_thumbnail():
    video = {"@type": "VideoObject", "contentUrl": "/v.mp4", "thumbnailUrl": "/v-thumb.jpg"}
    meta = extract(
        head(ld({"@type": "Product", "name": "Kettle", "image": [video, "/k.jpg"]})),
        url="https://s.example/",
    )
    assert meta.image.url == "https://s.example/v-thumb.jpg"


def test_a_content_image_that_is_a_video_is_skipped():
    meta = extract(
        head(body='<img src="/loop.mp4" width="400"><img src="/photo.jpg" width="400">'),
        url="https://s.example/",
    )
    assert meta.image.url == "https://s.example/photo.jpg"


def test_more_og_images_than_are_read():
    tags = [f'<meta property="og:image" content="/v{n}.mp4">' for n in range(12)]
    tags.append('<meta property="og:image" content="/late.jpg">')
    assert extract(head(*tags), url="https://s.example/").image is None


# --- pages without meta tags -----------------------------------------------------------------


ARTICLE = """<article><h1>Why the <em>beans</em> failed</h1><p>By Priya</p>
<p>Short.</p><p>Broad beans are supposed to be the easy crop: sow in November, forget about
them, pick in June. This year half of them rotted.</p><p>Second paragraph that is long
enough to be a description but comes after the first real one.</p></article>"""


def test_an_empty_title_and_description_fall_back_to_the_article():
    meta = extract(
        head("<title> </title>", '<meta name="description" content="">', body=ARTICLE),
        url="https://s.example/",
    )
    assert meta.title == "Why the beans failed"
    assert meta.description.startswith("Broad beans are supposed to be the easy crop")
    assert (meta.sources["title"], meta.sources["description"]) == ("html", "html")


def test_the_schema_headline_comes_before_the_h1():
    body = (
        '<div itemscope itemtype="https://schema.org/BlogPosting">'
        '<h2 itemprop="headline">The headline</h2><h1>Site name</h1>'
        '<div itemprop="articleBody"><p>A first paragraph long enough to say what the post '
        "is about, with more than twelve words in it.</p></div></div>"
    )
    meta = extract(head(body=body), url="https://s.example/")
    assert meta.title == "The headline"
    assert meta.description.startswith("A first paragraph long enough")


def test_paragraphs_around_the_content_are_not_descriptions():
    body = (
        "<main><nav><p>Home, archive, about, contact, subscribe and a long list of other "
        "links that is not what the page is about at all.</p></nav>"
        "<p>The real first paragraph of the page, which describes what it is about in a "
        "couple of sentences.</p></main>"
    )
    meta = extract(head(body=body), url="https://s.example/")
    assert meta.description.startswith("The real first paragraph")


def test_a_page_that_is_not_an_article_gets_no_paragraph_as_description():
    body = (
        "<h1>Index of /pub</h1><p>Files in this directory are mirrored nightly from the "
        "build servers and kept for ninety days before they are removed.</p>"
    )
    meta = extract(head("<title>Index of /pub</title>", body=body), url="https://s.example/")
    assert meta.title == "Index of /pub"
    assert meta.description is None


def test_a_page_that_says_it_is_an_article_gets_its_paragraph():
    body = (
        "<p>A paragraph of the article body with more than twelve words and eighty "
        "characters, outside any article element.</p>"
    )
    meta = extract(
        head('<meta property="og:type" content="article">', body=body), url="https://s.example/"
    )
    assert meta.description.startswith("A paragraph of the article body")


def test_meta_tags_still_win_over_the_fallbacks():
    meta = extract(
        head(
            "<title>The title</title>",
            '<meta name="description" content="The summary.">',
            body=ARTICLE,
        ),
        url="https://s.example/",
    )
    assert (meta.title, meta.description) == ("The title", "The summary.")


# --- a product's own image over a generic share image -----------------------------------------

PRODUCT = {"@type": "Product", "name": "Kettle", "image": "https://s.example/kettle.jpg"}


@pytest.mark.parametrize(
    "share",
    [
        "https://s.example/static/og-default.png",
        "https://s.example/brand/social_share_1200x630.jpg?v=2",
        "https://s.example/img/logo.png",
        "https://s.example/img/placeholder-image.webp",
    ],
)
def test_a_generic_share_image_gives_way_to_the_product(share):
    meta = extract(
        head(f'<meta property="og:image" content="{share}">', ld(PRODUCT)),
        url="https://s.example/kettle",
    )
    assert (meta.image.url, meta.sources["image"]) == ("https://s.example/kettle.jpg", "jsonld")


def test_the_site_logo_as_share_image_gives_way_to_a_microdata_product():
    meta = extract(
        head(
            '<meta property="og:type" content="product">',
            '<meta property="og:image" content="https://s.example/c/wordmark.png">',
            ld({"@type": "Organization", "logo": "https://s.example/c/wordmark.png"}),
            body='<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">'
            'Beanie</span><img itemprop="image" src="/beanie.jpg"></div>',
        ),
        url="https://s.example/beanie",
    )
    assert (meta.image.url, meta.sources["image"]) == ("https://s.example/beanie.jpg", "microdata")


def test_a_product_photo_as_share_image_is_kept():
    meta = extract(
        head('<meta property="og:image" content="https://s.example/kettle-side.jpg">', ld(PRODUCT)),
        url="https://s.example/kettle",
    )
    assert meta.image.url == "https://s.example/kettle-side.jpg"


def test_a_generic_share_image_stays_on_pages_that_are_not_products():
    meta = extract(
        head(
            '<meta property="og:image" content="https://s.example/og-default.png">',
            ld({"@type": "Article", "headline": "News", "image": "https://s.example/n.jpg"}),
        ),
        url="https://s.example/news",
    )
    assert meta.image.url == "https://s.example/og-default.png"
