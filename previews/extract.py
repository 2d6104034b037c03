"""Link-preview metadata from a page's HTML.

`extract(html, url=final_url)` reads five sources, each into the same set of fields:

- `og`: Open Graph `<meta property="og:...">`, plus `product:*` / `og:price:*` price tags;
- `twitter`: Twitter Card `<meta name="twitter:...">`;
- `jsonld`: `<script type="application/ld+json">` (schema.org Product, Offer,
  AggregateOffer, `@graph`, arrays; a broken block is skipped, the others kept);
- `microdata`: `itemscope` / `itemprop` (schema.org Product and its offers);
- `html`: `<title>` (else the article's `<h1>`), `<meta name="description">` (else the
  article's first substantial paragraph), the first real `<img>`, icons, `rel=canonical`,
  `<html lang>`, the oEmbed discovery link.

`PRECEDENCE` then picks, field by field, the first source that has a value. Every URL is
resolved against `<base href>` and the page's URL, and kept only if it is http or https.
Text is stripped of tags, whitespace-folded and cut to `LIMITS`. Character references are
decoded exactly once: libxml2 decodes the markup (attribute values by the HTML standard's
attribute rules, so `?a=1&region=us` stays as written), and `unescape_attribute` decodes
JSON-LD and oEmbed strings by the same rules.

A card image must be an image: a candidate that is a video (`og:image:type`, a schema.org
VideoObject or `encodingFormat`, or its extension) gives its place to the video's poster
when the page has one, else to the next candidate. On a product page whose share image is
the site's generic one (a file named like `og-default.png`, or the site's logo or icon),
the product's own image from its structured data wins.

Everything here is untrusted page content: render it escaped, and never render
`OEmbed.html` outside a sandboxed iframe.
"""

import functools
import html as html_lib
import html.entities as html_entities
import itertools
import json
import re
import threading
import types
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import SplitResult, urljoin, urlsplit

from lxml import etree

from previews.currency import valid_code
from previews.fetch import FetchError, fetch
from previews.prices import normalize_availability, parse_amount, parse_price

PRECEDENCE: dict[str, tuple[str, ...]] = {
    "title": ("og", "twitter", "jsonld", "microdata", "html"),
    "description": ("og", "twitter", "jsonld", "microdata", "html"),
    "image": ("og", "twitter", "jsonld", "microdata", "html"),
    "site_name": ("og", "jsonld", "html"),
    "type": ("og", "jsonld"),
    "locale": ("og",),
    "url": ("og", "html", "jsonld"),
    "video_url": ("og", "twitter", "jsonld"),
    "price": ("jsonld", "og", "microdata", "twitter"),
    "availability": ("jsonld", "og", "microdata"),
    "brand": ("jsonld", "microdata", "og"),
    "canonical_url": ("html",),
    "lang": ("html",),
    "icon_url": ("html",),
    "oembed_url": ("html",),
}
"""Which source wins for each field, best first.

- Title, description and image: Open Graph and Twitter tags are written for exactly this,
  a card in a feed, so they win. Structured data describes the product for search
  engines and is next. `<title>` is last: it usually carries " | Shop name" and SEO words.
- Price, availability and brand: JSON-LD wins. Shop platforms generate it from the product
  record for Google Shopping, which flags products whose markup disagrees with the page,
  so it is kept current. `product:price` tags are often a theme's afterthought and go
  stale; microdata is usually wrapped around the visible, formatted price; a Twitter
  label/data pair is free text.
- URL: `og:url` is the URL the site wants shared, then `rel=canonical`.
- An image's URL, size and alt always come from one source, and so do a price's amount
  and currency: a JSON-LD amount is never paired with an Open Graph currency, except that
  an amount with no currency at all borrows the currency of the next source that has one.
"""

LIMITS = {
    "title": 300,
    "description": 1000,
    "site_name": 200,
    "type": 100,
    "locale": 35,
    "lang": 35,
    "brand": 200,
    "alt": 500,
    "oembed_text": 300,
}
MAX_URL_LENGTH = 2048
MAX_OEMBED_HTML = 20_000
MAX_JSONLD_SCRIPT = 1024 * 1024
MAX_NODES = 1000  # JSON-LD / microdata nodes read per page
MIN_IMAGE_SIDE = 50  # smaller <img> are icons, spacers or tracking pixels
MAX_IMAGES = 200  # <img> tags looked at for a content image

PRODUCT_TYPES = {"product", "productgroup", "productmodel", "individualproduct", "vehicle"}
CONTENT_TYPES = {
    "article": "article",
    "newsarticle": "article",
    "blogposting": "article",
    "report": "article",
    "videoobject": "video",
    "recipe": "recipe",
    "event": "event",
    "book": "book",
    "movie": "video",
    "webpage": None,
    "itempage": None,
    "creativework": None,
}


@dataclass(frozen=True)
class ImageInfo:
    url: str
    width: int | None = None
    height: int | None = None
    alt: str | None = None


@dataclass(frozen=True)
class Price:
    amount: Decimal
    currency: str | None


@dataclass
class Metadata:
    url: str  # what the page calls itself (og:url, canonical); show the fetched host too
    title: str | None = None
    description: str | None = None
    site_name: str | None = None
    type: str | None = None  # Open Graph vocabulary: "product", "article", "video", ...
    locale: str | None = None
    lang: str | None = None
    canonical_url: str | None = None
    image: ImageInfo | None = None
    video_url: str | None = None
    icon_url: str | None = None
    oembed_url: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    availability: str | None = None  # a schema.org ItemAvailability URL
    brand: str | None = None
    sources: dict[str, str] = field(default_factory=dict)  # field -> source that supplied it


def extract(html: str, *, url: str) -> Metadata:
    """Metadata for a page whose (decoded) HTML is `html`, fetched from final URL `url`."""
    return _merge(_Sources(_Page(html, url)), url)


def _merge(found: "_Sources", url: str) -> Metadata:
    values, sources = {}, {}
    read, page = found.read, found.page
    for name, order in PRECEDENCE.items():
        for source in order:  # found.get(source, name), inlined: this runs for every field
            fields = read.get(source)
            if fields is None:
                fields = read[source] = _READERS[source](page)
            value = fields.get(name)
            if type(value) is _LATER:
                value = fields[name] = value()
            if value is not None and (value or not isinstance(value, str)):  # not None or ""
                values[name], sources[name] = value, source
                break
    image = values.get("image")
    if image is not None and sources["image"] in ("og", "twitter"):
        product_image = _product_image_for_generic_share(
            found, image, values.get("icon_url"), values.get("type")
        )
        if product_image is not None:
            values["image"], sources["image"] = product_image
    price = values.pop("price", None)
    if price is not None:
        currency = price.currency or _borrowed_currency(found)
        values.update(price=price.amount, currency=currency)
    return Metadata(url=values.pop("url", url), **values, sources=sources)


# Words in the file name of a site's generic share picture ("og-default.png",
# "social-share.jpg", "logo.png"), as opposed to a product's own photo.
_GENERIC_IMAGE_WORDS = frozenset(
    {"default", "generic", "fallback", "placeholder", "logo", "share", "sharing", "social",
     "opengraph", "og", "ogimage"}
)  # fmt: skip
_WORDS = re.compile(r"[a-z0-9]+")


def _product_image_for_generic_share(found: "_Sources", image: ImageInfo, icon_url, kind):
    """(image, source) of the product when a product page (schema.org Product, or an
    Open Graph type `kind` of product) has for its Open Graph or Twitter image the site's
    generic share picture, not the product: its file name says so, or it is the site's
    logo, image or icon. The product's own image comes from its structured data. None when
    the share image is fine or the product has no image of its own."""
    if found.get("jsonld", "type") != "product" and "product" not in (kind or "").lower():
        return None  # not a product page (the microdata reader is not run just for this)
    name = image.url.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]
    generic = (
        image.url == icon_url
        or not _GENERIC_IMAGE_WORDS.isdisjoint(_WORDS.findall(name.rsplit(".", 1)[0].lower()))
        or image.url in (found.get("jsonld", "site_images") or ())
    )
    if not generic:
        return None
    if found.get("jsonld", "type") == "product":
        source = "jsonld"
    elif found.get("microdata", "type") == "product":
        source = "microdata"
    else:
        return None
    own = found.get(source, "image")
    return (own, source) if own is not None and own.url != image.url else None


def _borrowed_currency(found: "_Sources") -> str | None:
    for source in PRECEDENCE["price"]:
        price = found.get(source, "price")
        if price is not None and price.currency:
            return price.currency
    return found.get("og", "currency")


# A field whose value is a function (a lambda in the readers) is worked out only if
# `_merge` asks for it: resolving URLs, cleaning text and scanning `<img>` tags are most of
# the work, and most fields are supplied by a better source first. No field value is ever
# a function otherwise.
_LATER = types.FunctionType


class _Sources:
    """The readers' fields, as `_merge` asks for them. A reader runs the first time one of
    its fields is asked for (microdata and Twitter tags are often never needed), and a lazy
    field (see `_LATER`) is computed the first time it is asked for. The result is the same
    as running every reader in full."""

    def __init__(self, page: "_Page"):
        self.page = page
        self.read: dict[str, dict] = {}

    def get(self, source: str, name: str):
        fields = self.read.get(source)
        if fields is None:
            fields = self.read[source] = _READERS[source](self.page)
        value = fields.get(name)
        if type(value) is _LATER:
            value = fields[name] = value()
        return value


# --- the page ----------------------------------------------------------------------------


_local = threading.local()
_HTML_END = re.compile(rb"</html", re.IGNORECASE)
_JSONLD_TYPE = "application/ld+json"  # a <script type> once parameters are cut off
_OEMBED_TYPES = ("application/json+oembed", "text/json+oembed")  # rel="alternate" type=


def _parse(data: bytes) -> etree._Element:
    """The root element of the UTF-8 document `data`, parsed by libxml2's HTML parser, as
    BeautifulSoup's "lxml" builder did, but without building a second tree in Python.

    - The encoding is stated, so a `<meta charset>` or an XML declaration in the (already
      decoded) text cannot make lxml decode it again.
    - libxml2 stops building the tree at `</html>`, while browsers (and BeautifulSoup) keep
      what follows: often tracking scripts, sometimes JSON-LD or images. So when anything
      follows a `</html`, every `</html` becomes `<!html`, which the tokenizer reads as a
      comment. Where it was not an end tag (in a script, a comment or an attribute value)
      that changes one character of text, and no tag around it.
    """
    found = _HTML_END.search(data)
    if found:
        end = data.find(b">", found.start())
        if end >= 0 and data[end + 1 :].strip():
            data = _HTML_END.sub(lambda match: b"<!" + match.group()[2:], data)
    parser = getattr(_local, "parser", None)  # parsers are not shared between threads
    if parser is None:
        parser = _local.parser = etree.HTMLParser(
            encoding="utf-8", no_network=True, collect_ids=False
        )
    try:
        root = etree.fromstring(data, parser)
    except etree.LxmlError:
        root = None
    return root if root is not None else etree.Element("html")  # empty documents


class _Page:
    """The parsed document, its base URL, and what the readers need from it, collected in one
    pass in document order: the first non-empty content of each `<meta>` name, the first
    `og:image` and `og:video` with their structured properties, the canonical, oEmbed and
    icon `<link>` tags, JSON-LD `<script>` and the first `<title>`. `<img>` tags are only
    looked for if the content-image fallback is reached."""

    def __init__(self, html: str, url: str):
        self.data = (html or "").encode("utf-8", "replace")
        root = self.root = _parse(self.data)
        self.base = url
        self.resolved: dict[str, str | None] = {}
        self.og_images: list[dict] = []  # see _structured_list
        self.og_video: dict = {}  # see _structured
        self.jsonld: list[dict] | None = None  # the JSON-LD nodes, once read
        self.posters: dict | None = None  # see poster_of
        self.content_area = None  # see _content_area
        self._lowered: bytes | None = None
        self.canonical_href: str | None = None  # the first of each, in document order
        self.oembed_href: str | None = None
        self.icons: list[tuple[int, int, int, str]] = []  # see _best_icon
        self.title: etree._Element | None = None
        # Locals: this loop visits every <meta>, <link> and <script> of the page.
        first_meta: dict[str, tuple[int, str]] = {}  # key -> first non-empty content
        scripts: list[etree._Element] = []
        base_href = None
        position = 0
        has_twitter = False
        for element in root.iter("meta", "link", "script", "title", "base"):
            tag = element.tag
            if tag == "meta":
                content = element.get("content")
                if content is None:
                    continue
                key = element.get("property") or element.get("name")
                if key is None:
                    continue
                key = key.strip()
                if not key.islower():  # most keys are; lower() would copy them anyway
                    key = key.lower()
                if key not in first_meta and content.strip():
                    first_meta[key] = (position, content)
                if key[:3] == "og:":
                    if key.startswith("og:image"):
                        _structured_list(self.og_images, "og:image", key, content)
                    elif key.startswith("og:video"):
                        _structured(self.og_video, "og:video", key, content)
                elif key[:8] == "twitter:":
                    has_twitter = True
                position += 1
            elif tag == "script":
                kind = element.get("type")
                if kind is not None and kind.split(";")[0].strip().lower() == _JSONLD_TYPE:
                    scripts.append(element)
            elif tag == "link":
                rel = element.get("rel")
                # Only canonical, alternate and icon links are read (stylesheets, preloads
                # and preconnects are most of them): each of these words is in any rel
                # value _Page._link reads.
                low = rel.lower() if rel else ""
                if "canonical" in low or "alternate" in low or "icon" in low:
                    href = element.get("href")
                    if href is not None:
                        self._link(rel, href, element)
            elif tag == "title":
                if self.title is None:
                    self.title = element
            elif base_href is None:  # <base>
                base_href = element.get("href")
        self.first_meta = first_meta
        self.jsonld_scripts = scripts
        self.has_twitter = has_twitter  # any twitter:* tag
        if base_href is not None:
            self.base = self.resolve(base_href) or url

    def _link(self, rel: str, href: str, link: etree._Element) -> None:
        """Note a canonical, oEmbed or icon `<link>` (`_from_html` reads them)."""
        rels = {r.lower() for r in rel.split()}
        if self.canonical_href is None and "canonical" in rels:
            self.canonical_href = href
        if (
            self.oembed_href is None
            and "alternate" in rels
            and str(link.get("type", "")).lower() in _OEMBED_TYPES
        ):
            self.oembed_href = href
        if rels & {"apple-touch-icon", "apple-touch-icon-precomposed"}:
            rank = 2
        elif "icon" in rels:  # also "shortcut icon"
            rank = 1
        else:
            return
        sizes = link.get("sizes")
        self.icons.append((rank, _icon_size(sizes) if sizes else 0, -len(self.icons), href))

    def resolve(self, value, *, decode: bool = False) -> str | None:
        """`resolve_url` against the page's base, once per distinct value. `decode` for
        values the HTML parser has not decoded (JSON-LD): see `unescape_attribute`."""
        if value is None:
            return None
        if not isinstance(value, str):
            return resolve_url(self.base, value, decode=decode)
        if decode and "&" in value:
            value = unescape_attribute(value)
        if value not in self.resolved:
            self.resolved[value] = resolve_url(self.base, value)
        return self.resolved[value]

    def lowered(self) -> bytes:
        """The page's bytes in lower case, to look for a word before searching the tree."""
        if self._lowered is None:
            self._lowered = self.data.lower()
        return self._lowered

    def images(self):
        """The first `MAX_IMAGES` `<img>` tags, in document order."""
        return itertools.islice(self.root.iter("img"), MAX_IMAGES)

    def meta_value(self, *keys: str) -> str | None:
        """The first non-empty content, in document order, among `<meta>` tags named by any
        of `keys`."""
        if len(keys) == 1:
            found = self.first_meta.get(keys[0])
            return found[1] if found else None
        found = [self.first_meta[key] for key in keys if key in self.first_meta]
        return min(found)[1] if found else None


_WHITESPACE = re.compile(r"\s")  # the characters str.isspace() accepts
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")


def _join(base: str, value: str) -> tuple[str, SplitResult]:
    """`urljoin(base, value)` and its parts, skipping urljoin's work for the usual
    absolute http(s) URL, which is split once.

    For one with a host, urljoin returns `value` when the schemes differ, and otherwise
    `value` split into parts and put back together, which gives `value` again unless it
    holds a ";" (path parameters), an empty query or fragment ("?#", a final "?" or "#").
    """
    if (
        base
        and value.startswith(("https://", "http://"))
        and ";" not in value
        and "?#" not in value
        and not value.endswith(("?", "#"))
    ):
        parts = urlsplit(value)
        if parts.netloc:
            return value, parts
    absolute = urljoin(base, value)
    return absolute, urlsplit(absolute)


def resolve_url(base: str, value, *, decode: bool = False) -> str | None:
    """`value` resolved against `base` as an absolute http(s) URL, or None.

    Tabs and newlines are dropped and spaces encoded, as browsers do with `src="a b.jpg"`.
    Character references are decoded only with `decode`, for a value the HTML parser has
    not decoded already (JSON): decoding an attribute twice turns `&amp;region=` into
    `&region=` and then into `®ion=`.
    """
    if isinstance(value, list):
        value = _first(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value:
        return None
    if decode and "&" in value:
        value = unescape_attribute(value)
    if "\t" in value or "\n" in value or "\r" in value:
        value = _TAB_OR_NEWLINE.sub("", value)
    value = value.replace(" ", "%20")
    try:
        absolute, parts = _join(base, value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    # `not parts.hostname`, without its property calls: the host is what follows the last
    # "@" of the netloc, up to a ":" or, for an IPv6 address, inside the "[...]".
    host = parts.netloc.rpartition("@")[2]
    before, bracket, after = host.partition("[")
    if not (after.partition("]")[0] if bracket else before.partition(":")[0]):
        return None
    if len(absolute) > MAX_URL_LENGTH or _WHITESPACE.search(absolute):
        return None
    return absolute


# --- Open Graph and Twitter --------------------------------------------------------------


def _from_open_graph(page: _Page) -> dict:
    first = page.first_meta.get  # as page.meta_value(key), for one key: (position, content)
    title, description, site_name = (
        first("og:title"),
        first("og:description"),
        first("og:site_name"),
    )
    kind, locale, url = first("og:type"), first("og:locale"), first("og:url")
    return {
        "title": _text(title[1], "title") if title else None,
        "description": _text(description[1], "description") if description else None,
        "site_name": _text(site_name[1], "site_name") if site_name else None,
        "type": _text(kind[1], "type") if kind else None,
        "locale": _text(locale[1], "locale") if locale else None,
        "url": page.resolve(url[1]) if url else None,
        "image": _og_image(page),
        "video_url": _og_video(page),
        # Usually supplied by JSON-LD first:
        "price": lambda: _og_price(page),
        "currency": lambda: _og_currency(page),
        "availability": (
            lambda: normalize_availability(
                page.meta_value("product:availability", "og:availability")
            )
        ),
        "brand": lambda: _text(page.meta_value("product:brand", "og:brand"), "brand"),
    }


def _og_currency(page: _Page) -> str | None:
    return valid_code(page.meta_value("product:price:currency", "og:price:currency"))


def _og_price(page: _Page) -> "Price | None":
    amount = page.meta_value("product:price:amount", "og:price:amount")
    return _price(amount, _og_currency(page))


_CLOSED = object()
MAX_OG_IMAGES = 10


def _structured(found: dict, prefix: str, key: str, content: str) -> None:
    """Add one `<meta>` to `found`, the first `og:video` and the `:width`, `:type`... tags
    that go with it, as `_Page` meets them in document order.

    A second `og:video` starts the next video, so its size is not mixed into the first:
    from there on `found` is closed (marked by the key `_CLOSED`).
    """
    if _CLOSED in found:
        return
    if key == prefix or key == prefix + ":url":
        if "url" in found:
            found[_CLOSED] = True
        else:
            found["url"] = content
    elif key.startswith(prefix + ":"):
        found.setdefault(key[len(prefix) + 1 :], content)


def _structured_list(groups: list[dict], prefix: str, key: str, content: str) -> None:
    """Add one `<meta>` to `groups`: each `og:image` starts a group, and the `:width`,
    `:type`, `:alt`... tags after it belong to it (Open Graph's rule for arrays). Tags
    before the first `og:image` belong to the first. At most MAX_OG_IMAGES groups."""
    if groups and _CLOSED in groups[-1]:
        return
    if key == prefix or key == prefix + ":url":
        if groups and "url" not in groups[-1]:
            groups[-1]["url"] = content
        elif len(groups) < MAX_OG_IMAGES:
            groups.append({"url": content})
        else:
            groups.append({_CLOSED: True})  # past the limit nothing more is kept
    elif key.startswith(prefix + ":"):
        if not groups:
            groups.append({})
        groups[-1].setdefault(key[len(prefix) + 1 :], content)


def _og_image(page: _Page) -> ImageInfo | None:
    """The first `og:image` that is an image (a video's place goes to its poster)."""
    for found in page.og_images:
        secure = page.resolve(found.get("secure_url"))
        url = (secure if secure and secure.startswith("https:") else None) or page.resolve(
            found.get("url")
        )
        if not url:
            continue
        if not is_video(url, found.get("type")):
            return _image(url, found.get("width"), found.get("height"), found.get("alt"))
        poster = poster_of(page, url)
        if poster:
            return _image(poster, None, None, found.get("alt"))
    return None


def _og_video(page: _Page) -> str | None:
    found = page.og_video
    if not found:
        return None
    secure = page.resolve(found.get("secure_url"))
    return (secure if secure and secure.startswith("https:") else None) or page.resolve(
        found.get("url")
    )


def _from_twitter(page: _Page) -> dict:
    if not page.has_twitter:
        return {}
    return {  # usually asked for a field Open Graph does not have, such as video_url
        "title": lambda: _text(page.meta_value("twitter:title"), "title"),
        "description": (lambda: _text(page.meta_value("twitter:description"), "description")),
        "image": lambda: _twitter_image(page),
        "video_url": lambda: page.resolve(page.meta_value("twitter:player")),
        "price": lambda: _twitter_price(page),
    }


def _twitter_image(page: _Page) -> ImageInfo | None:
    url = page.resolve(page.meta_value("twitter:image", "twitter:image:src"))
    if url and is_video(url, None):
        url = poster_of(page, url)
    return _image(url, None, None, page.meta_value("twitter:image:alt"))


def _twitter_price(page: _Page) -> Price | None:
    """Product cards put the price in a label/data pair: label1="Price", data1="$19.99"."""
    for n in (1, 2):
        label = page.meta_value(f"twitter:label{n}") or ""
        if "price" in label.lower():
            amount, currency = parse_price(page.meta_value(f"twitter:data{n}"))
            if amount is not None:
                return Price(amount, currency)
    return None


# --- JSON-LD -----------------------------------------------------------------------------


def _from_jsonld(page: _Page) -> dict:
    return _from_schema_nodes(page, _jsonld_nodes(page), encoded=True)


def _from_schema_nodes(page: _Page, nodes: list[dict], *, encoded: bool = False) -> dict:
    """Fields from schema.org nodes, whether they came from JSON-LD (`encoded`: its strings
    may carry character references the HTML parser never decoded) or microdata."""
    product = content = website = organization = video = None  # the first node of each kind
    for node in nodes:
        raw = node.get("@type")
        if not raw:
            continue
        types = _type_names(raw) if type(raw) is str else _types(node)
        if not types:
            continue
        if product is None and types & PRODUCT_TYPES:
            product = node
        if content is None and types & CONTENT_TYPES.keys():
            content = node
        if website is None and "website" in types:
            website = node
        if organization is None and types & {"organization", "store"}:
            organization = node
        if video is None and "videoobject" in types:
            video = node
    primary = product or content
    result: dict = {}
    if primary is not None:
        result.update(
            title=lambda: _text(
                primary.get("name") or primary.get("headline"), "title", decode=encoded
            ),
            description=lambda: _text(primary.get("description"), "description", decode=encoded),
            image=lambda: _schema_image(
                page, primary.get("image") or primary.get("thumbnailUrl"), decode=encoded
            ),
            url=lambda: page.resolve(primary.get("url"), decode=encoded),
        )
    if product is not None:
        price, availability = _offer(product)
        result.update(
            type="product",
            price=price,
            availability=availability,
            brand=lambda: _text(_name_of(product.get("brand")), "brand", decode=encoded),
        )
    elif content is not None:
        result["type"] = next(
            (CONTENT_TYPES[t] for t in _types(content) if CONTENT_TYPES.get(t)), None
        )
    site = website or organization
    if site is not None:
        result["site_name"] = lambda: _text(site.get("name"), "site_name", decode=encoded)
    if video is not None:
        result["video_url"] = lambda: page.resolve(
            video.get("embedUrl") or video.get("contentUrl"), decode=encoded
        )
    # The site's own pictures: a product page whose og:image is one of them shares the
    # site, not the product (see _product_image_for_generic_share).
    result["site_images"] = lambda: _site_images(page, (website, organization), encoded)
    return result


def _site_images(page: _Page, nodes, encoded: bool) -> frozenset[str]:
    urls = set()
    for node in nodes:
        if node is None:
            continue
        for key in ("logo", "image"):
            value = _first(node.get(key))
            if isinstance(value, dict):
                value = value.get("url") or value.get("contentUrl")
            if isinstance(value, str):
                urls.add(page.resolve(value, decode=encoded))
    urls.discard(None)
    return frozenset(urls)


def _jsonld_nodes(page: _Page) -> list[dict]:
    if page.jsonld is not None:
        return page.jsonld
    nodes: list[dict] = []
    for script in page.jsonld_scripts:
        text = script.text or ""
        if len(text) > MAX_JSONLD_SCRIPT:
            continue
        data = load_lenient_json(text)
        if data is not None:
            nodes.extend(_walk(data, MAX_NODES - len(nodes)))
    page.jsonld = nodes
    return nodes


def _walk(data, limit: int) -> list[dict]:
    """Every dict in `data` (`@graph`, arrays and nested nodes included), outermost first."""
    nodes, queue = [], deque([data] if isinstance(data, _CONTAINERS) else [])
    while queue and len(nodes) < limit:
        item = queue.popleft()
        if isinstance(item, dict):
            nodes.append(item)
            item = item.values()
        for value in item:  # the values of a dict, or the items of a list
            if isinstance(value, _CONTAINERS):
                queue.append(value)
    return nodes


_CONTAINERS = (dict, list)


_WRAPPER_START = re.compile(r"\s*(?://\s*)?(?:<!--|<!\[CDATA\[)")
_WRAPPER_ENDS = ("-->", "]]>")


def load_lenient_json(text: str):
    """Parse JSON as pages write it: strict first, then without comments, trailing commas
    and `<!-- -->` / CDATA wrappers. Returns None when it still does not parse."""
    text = _unwrap(text)
    if not text:
        return None
    try:
        return _JSON.decode(text)
    except ValueError:
        pass
    try:  # only now: relaxing walks the text character by character
        return _JSON.decode(_relax_json(text))
    except ValueError:
        return None


# strict=False: raw newlines in strings. (json.loads(text, strict=False) builds a new decoder
# on every call.)
_JSON = json.JSONDecoder(strict=False)


def _unwrap(text: str) -> str:
    """`text` stripped, without a leading `<!--` or `<![CDATA[` and a trailing `-->` or
    `]]>`, each possibly behind `//`. (One regex for both ends was retried at every
    position of the text, and backtracked through every run of indentation.)"""
    start = _WRAPPER_START.match(text)
    if start:
        text = text[start.end() :]
    text = text.rstrip()
    if text.endswith(_WRAPPER_ENDS):
        text = text[:-3]
        before = text.rstrip()
        if before.endswith("//"):
            text = before[:-2]
    return text.strip()


def _relax_json(text: str) -> str:
    """Drop `//` and `/* */` comments and trailing commas, leaving strings untouched."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 2
        elif ch == "," and text[i + 1 :].lstrip()[:1] in ("}", "]"):
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    """The index just after the JSON string that opens at `start`."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        else:
            i += 1
    return len(text)


def _types(node: dict) -> frozenset[str] | set[str]:
    """`@type` as lower-case names: "Product", "schema:Product", "http://schema.org/Product"
    and microdata `itemtype` URLs all become "product"."""
    raw = node.get("@type")
    if isinstance(raw, str):
        return _type_names(raw)
    values = raw if isinstance(raw, list) else str(raw or "").split()
    return {_last_segment(str(v)).lower() for v in values if v}


@functools.lru_cache(maxsize=1024)
def _type_names(raw: str) -> frozenset[str]:
    """`_types` of a string `@type`: pages use a small vocabulary of type names, so the
    result is remembered."""
    return frozenset(_last_segment(v).lower() for v in raw.split())


def _last_segment(value: str) -> str:
    """What follows the last "/", ":" or "#"."""
    return value[max(value.rfind("/"), value.rfind(":"), value.rfind("#")) + 1 :]


def _offer(product: dict) -> tuple[Price | None, str | None]:
    """Price and availability from the first offer with a price.

    Offers may be one Offer, a list, an AggregateOffer (its `lowPrice`, the "from" price,
    or its own offers), live on the variants of a ProductGroup (`hasVariant`), or be
    missing, with the price on the product itself.
    """
    offers = _offers_of(product)
    for variant in _as_list(product.get("hasVariant")):
        if isinstance(variant, dict):
            offers += _offers_of(variant)
    offers.append(product)  # microdata often puts `price` on the product itself
    availability = None
    for offer in offers:
        availability = availability or _offer_availability(offer)
        price = _offer_price(offer)
        if price is not None:
            return price, _offer_availability(offer) or availability
    return None, availability


def _offers_of(node: dict) -> list[dict]:
    offers = []
    for offer in _as_list(node.get("offers")):
        if isinstance(offer, dict):
            offers.append(offer)
            nested = [o for o in _as_list(offer.get("offers")) if isinstance(o, dict)]
            offers.extend(nested)
    return offers


def _offer_price(offer: dict) -> Price | None:
    currency = offer.get("priceCurrency")
    for key in ("price", "lowPrice"):
        price = _price(offer.get(key), currency)
        if price is not None:
            return price
    for spec in _as_list(offer.get("priceSpecification")):
        if isinstance(spec, dict):
            price = _price(spec.get("price"), spec.get("priceCurrency") or currency)
            if price is not None:
                return price
    return None


def _offer_availability(offer: dict) -> str | None:
    return normalize_availability(_first(offer.get("availability")))


def _price(amount_value, currency_value) -> Price | None:
    """A Price from a machine-readable amount and currency; the currency may also be
    written in the amount itself ("$19.99")."""
    if isinstance(amount_value, list):
        amount_value = _first(amount_value)
    amount = parse_amount(amount_value)
    if amount is None:
        return None
    currency = valid_code(_first(currency_value))
    if currency is None and isinstance(amount_value, str):
        currency = parse_price(amount_value)[1]
    return Price(amount, currency)


def _schema_image(page: _Page, value, *, decode: bool = False) -> ImageInfo | None:
    """The first image among a URL, a list, or ImageObjects; a video (by its type, its
    `encodingFormat` or its extension) gives its place to its poster (`thumbnailUrl`, or
    the page's poster of it)."""
    for item in (value if isinstance(value, list) else [value])[:MAX_OG_IMAGES]:
        if isinstance(item, dict):
            url = page.resolve(item.get("url") or item.get("contentUrl"), decode=decode)
            hint = _first(item.get("encodingFormat"))
            if "videoobject" in _types(item) or (url and is_video(url, hint)):
                poster = page.resolve(_first(item.get("thumbnailUrl")), decode=decode)
                if poster is None or is_video(poster, None):
                    poster = poster_of(page, url) if url else None
                if poster:
                    return _image(poster, None, None, None)
                continue
            alt = item.get("caption") or item.get("name")
            image = _image(url, item.get("width"), item.get("height"), alt, decode=decode)
        else:
            url = page.resolve(item, decode=decode)
            if url and is_video(url, None):
                url = poster_of(page, url)
            image = _image(url, None, None, None)
        if image is not None:
            return image
    return None


def _name_of(value) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        return _first(value.get("name"))
    return value if isinstance(value, str) else None


# --- microdata ---------------------------------------------------------------------------


def _from_microdata(page: _Page) -> dict:
    items = []
    # Looking for the word is quicker than the XPath search through the whole tree.
    scopes = _ITEMSCOPES(page.root) if b"itemscope" in page.lowered() else []
    for scope in scopes[:MAX_NODES]:
        if scope.get("itemprop") is None:  # top-level items only; nested ones are inside
            items.extend(_walk(_microdata_item(scope, depth=0), MAX_NODES))
    return _from_schema_nodes(page, items)


def _microdata_item(scope, *, depth: int) -> dict:
    """A microdata item as a JSON-LD-shaped dict, so JSON-LD's readers work on it."""
    item: dict = {"@type": scope.get("itemtype", "")}
    for element in _item_properties(scope):
        if element.get("itemscope") is not None and depth < 5:
            value = _microdata_item(element, depth=depth + 1)
        else:
            value = _microdata_value(element)
        for name in element.get("itemprop").split():
            item.setdefault(name, []).append(value)
    return item


_ITEMSCOPES = etree.XPath("descendant-or-self::*[@itemscope]")
_ITEMPROPS = etree.XPath(".//*[@itemprop]")


def _item_properties(scope):
    """Elements with `itemprop` that belong to `scope`, not to an item nested inside it, in
    document order. (An element with both `itemprop` and `itemscope` belongs to `scope`; what
    is inside it does not.)"""
    for element in _ITEMPROPS(scope):
        parent = element.getparent()
        while parent is not None and parent is not scope and parent.get("itemscope") is None:
            parent = parent.getparent()
        if parent is scope:
            yield element


_URL_ATTRIBUTES = {
    "a": "href",
    "link": "href",
    "area": "href",
    "img": "src",
    "audio": "src",
    "video": "src",
    "source": "src",
    "embed": "src",
    "iframe": "src",
    "track": "src",
    "object": "data",
    "data": "value",
    "meter": "value",
    "time": "datetime",
}


def _microdata_value(element) -> str:
    """A property's value by the microdata rules; a `content` attribute wins everywhere,
    as shops put the machine value there: `<span itemprop="price" content="19.99">`."""
    content = element.get("content")
    if content is not None:
        return content
    attribute = _URL_ATTRIBUTES.get(element.tag)
    if attribute and element.get(attribute) is not None:
        return element.get(attribute)
    return " ".join(_strings(element))


# Text inside these is not page text (BeautifulSoup's get_text leaves it out too, and
# browsers do not show what is inside a <template>).
_NOT_TEXT = frozenset({"script", "style", "template", "rt", "rp"})


def _strings(element):
    """The text strings of `element` as BeautifulSoup's `get_text` gave them, in order:
    none at all inside a `_NOT_TEXT` element; otherwise its text and that of its
    descendants, leaving out comments and what is inside `_NOT_TEXT` elements (their tails
    are text)."""
    if element.tag not in _NOT_TEXT:
        for ancestor in element.iterancestors():
            if ancestor.tag in _NOT_TEXT:
                return
    if element.text:
        yield element.text
    yield from _inner_strings(element)


def _inner_strings(element):
    for child in element:
        if isinstance(child.tag, str) and child.tag not in _NOT_TEXT:
            if child.text:
                yield child.text
            yield from _inner_strings(child)
        if child.tail:
            yield child.tail


# --- plain HTML --------------------------------------------------------------------------


def _from_html(page: _Page) -> dict:
    title = page.title
    canonical = page.resolve(page.canonical_href) if page.canonical_href is not None else None
    root = page.root
    return {
        # The last resort for these three. Pages without meta tags (or with empty ones)
        # still name themselves in the article's <h1> and say what they are about in its
        # first real paragraph, which is where metascraper looks too.
        "title": lambda: (
            _text("".join(_strings(title)) if title is not None else None, "title")
            or _headline(page)
        ),
        "description": lambda: (
            _text(page.meta_value("description"), "description") or _first_paragraph(page)
        ),
        "site_name": lambda: _text(page.meta_value("application-name"), "site_name"),
        "image": lambda: _first_content_image(page),
        "icon_url": _best_icon(page, page.icons) if page.icons else None,
        "canonical_url": canonical,
        "url": canonical,
        "lang": _text(root.get("lang"), "lang"),
        "oembed_url": page.resolve(page.oembed_href) if page.oembed_href is not None else None,
    }


# Where the page's own content is, best first; without one the body is read, leaving out
# the parts around the content (navigation, banners, footers, forms).
_CONTENT = etree.XPath("(//article | //main | //*[@role='main'] | //*[@itemprop='articleBody'])[1]")
_AROUND_CONTENT = frozenset(
    {"nav", "header", "footer", "aside", "form", "noscript", "template", "figcaption",
     "button", "label", "select", "dialog"}
)  # fmt: skip
MIN_PARAGRAPH_CHARS = 80  # a "substantial" paragraph: a sentence or two, not a byline
MIN_PARAGRAPH_WORDS = 12
MAX_PARAGRAPHS = 50  # <p> looked at for a description


def _may_mark_content(page: _Page) -> bool:
    """Whether the page's bytes hold a word `_CONTENT` looks for: looking for the words is
    quicker than the XPath search through the tree."""
    lowered = page.lowered()
    return (
        b"<article" in lowered
        or b"<main" in lowered
        or b"articlebody" in lowered
        or (b"role" in lowered and b"main" in lowered)
    )


def _content_area(page: _Page):
    """The page's `<article>`, `<main>` or the like; None when it marks none."""
    if page.content_area is None:
        found = _CONTENT(page.root) if _may_mark_content(page) else []
        page.content_area = found[0] if found else False
    return page.content_area if page.content_area is not False else None


def _declares_article(page: _Page) -> bool:
    """Whether the page says it is an article (Open Graph or schema.org type)."""
    og_type = page.meta_value("og:type") or ""
    if og_type.strip().lower().startswith("article"):
        return True
    return any(
        name.endswith("article") or name in ("blogposting", "report")
        for node in _jsonld_nodes(page)[:MAX_NODES]
        for name in _types(node)
    )


def _around_content(element, stop) -> bool:
    for ancestor in element.iterancestors():
        if ancestor is stop:
            return False
        if ancestor.tag in _AROUND_CONTENT:
            return True
    return False


def _headline(page: _Page) -> str | None:
    """The text of the content's first `<h1>` (the page's first, without a content area)."""
    area = _content_area(page)
    for root in (page.root,) if area is None else (area, page.root):
        for h1 in itertools.islice(root.iter("h1"), 5):
            text = _text(" ".join(_strings(h1)), "title")
            if text:
                return text
    return None


def _first_paragraph(page: _Page) -> str | None:
    """The article's first substantial paragraph: at least MIN_PARAGRAPH_CHARS characters
    and MIN_PARAGRAPH_WORDS words, outside navigation, headers, footers and forms. Only on
    a page with an article: one that marks its content (`<article>`, `<main>`...) or says
    it is an article; elsewhere (a directory listing, a man page, a status page) the
    first paragraph says nothing about the page as a whole."""
    root = _content_area(page)
    if root is None:
        if not _declares_article(page):
            return None
        root = page.root
    for paragraph in itertools.islice(root.iter("p"), MAX_PARAGRAPHS):
        if _around_content(paragraph, root):
            continue
        text = _text(" ".join(_strings(paragraph)), "description")
        if text and len(text) >= MIN_PARAGRAPH_CHARS and len(text.split()) >= MIN_PARAGRAPH_WORDS:
            return text
    return None


def _best_icon(page: _Page, candidates: list[tuple[int, int, int, str]]) -> str | None:
    """apple-touch-icon before icon (they are bigger and square), then the largest size,
    then the first in the document: `candidates` are (rank, size, -position, href)."""
    for *_, href in sorted(candidates, reverse=True):  # best first; resolve only as needed
        url = page.resolve(href)
        if url:
            return url
    return None


def _icon_size(sizes) -> int:
    if isinstance(sizes, list):
        sizes = " ".join(sizes)
    widths = [int(w) for w, _ in _ICON_SIZE.findall(str(sizes or ""))]
    return max(widths, default=0)


_ICON_SIZE = re.compile(r"(\d+)[xX](\d+)")


def _first_content_image(page: _Page) -> ImageInfo | None:
    """The first `<img>` that is a picture: not a tracking pixel or spacer (a side under
    50 px), not inline data, not SVG (usually a logo or icon). Lazy-loading attributes
    are read because `src` is then a placeholder."""
    for img in page.images():
        width, height = _int(img.get("width")), _int(img.get("height"))
        if (width is not None and width < MIN_IMAGE_SIDE) or (
            height is not None and height < MIN_IMAGE_SIDE
        ):
            continue
        for candidate in _img_sources(img):
            url = page.resolve(candidate)
            path = urlsplit(url).path.lower() if url else ""
            if url and not path.endswith(".svg") and not is_video(url, None):
                return _image(url, width, height, img.get("alt"))
    return None


def _img_sources(img) -> list[str]:
    sources = [img.get(a) for a in ("src", "data-src", "data-lazy-src", "data-original")]
    srcset = img.get("srcset") or img.get("data-srcset")
    if isinstance(srcset, str) and srcset.strip():
        sources.append(srcset.split(",")[0].split()[0])
    return [s for s in sources if isinstance(s, str) and s.strip()]


# --- images that are images --------------------------------------------------------------

# A card image must be an image: these are what a type hint or an extension may say instead.
_MOVING_TYPES = ("video/", "audio/")
_STREAM_TYPES = frozenset(
    {"application/x-mpegurl", "application/vnd.apple.mpegurl", "application/dash+xml",
     "application/x-shockwave-flash"}
)  # fmt: skip
_MOVING_EXTENSIONS = frozenset(
    {"mp4", "m4v", "mov", "webm", "ogv", "ogg", "avi", "mkv", "wmv", "flv", "3gp", "mpg",
     "mpeg", "m3u8", "mpd", "mp3", "m4a", "wav", "aac", "flac", "swf"}
)  # fmt: skip


def is_video(url: str, type_hint) -> bool:
    """True when a candidate image is a video (or audio, or a stream) by its type hint
    (`og:image:type`, `encodingFormat`) or, without an image type, by its extension."""
    if isinstance(type_hint, str) and type_hint.strip():
        kind = type_hint.strip().lower()
        if kind.startswith("image/"):
            return False
        if kind.startswith(_MOVING_TYPES) or kind in _STREAM_TYPES:
            return True
    path = url.partition("?")[0].partition("#")[0]  # as urlsplit's path, for a URL
    dot = path.rfind(".")
    return dot > path.rfind("/") and path[dot + 1 :].lower() in _MOVING_EXTENSIONS


def poster_of(page: _Page, video_url: str | None) -> str | None:
    """The poster of a video on the page: a `<video poster>` playing that URL, or a
    schema.org VideoObject's `thumbnailUrl` for it; failing those, the page's only poster."""
    posters = page.posters
    if posters is None:
        posters = page.posters = _posters(page)
    if video_url and video_url in posters:
        return posters[video_url]
    distinct = set(posters.values())
    return distinct.pop() if len(distinct) == 1 else None


def _posters(page: _Page) -> dict[str | None, str]:
    """Video URL -> poster URL, from `<video>` elements and JSON-LD VideoObjects."""
    posters: dict[str | None, str] = {}
    # Looked for only now: a video among the image candidates is rare.
    for video in itertools.islice(page.root.iter("video"), MAX_IMAGES):
        poster = page.resolve(video.get("poster"))
        if not poster or is_video(poster, None):
            continue
        sources = [video.get("src")] + [s.get("src") for s in video.iter("source")]
        resolved = [page.resolve(src) for src in sources if src]
        for url in resolved or [None]:
            posters.setdefault(url, poster)
    for node in _jsonld_nodes(page):
        if "videoobject" in _types(node):
            poster = page.resolve(_first(node.get("thumbnailUrl")), decode=True)
            if poster and not is_video(poster, None):
                for key in ("contentUrl", "embedUrl"):
                    posters.setdefault(page.resolve(node.get(key), decode=True), poster)
    return posters


_READERS = {
    "og": _from_open_graph,
    "twitter": _from_twitter,
    "jsonld": _from_jsonld,
    "microdata": _from_microdata,
    "html": _from_html,
}


# --- oEmbed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OEmbed:
    type: str | None  # "video", "rich", "photo" or "link"
    title: str | None
    author_name: str | None
    provider_name: str | None
    thumbnail_url: str | None
    thumbnail_width: int | None
    thumbnail_height: int | None
    html: str | None  # the provider's embed markup: untrusted, sandboxed iframe only
    width: int | None
    height: int | None


def fetch_oembed(oembed_url: str) -> OEmbed:
    """Fetch and parse an oEmbed endpoint found by `extract` (`Metadata.oembed_url`).

    Goes through the safe fetcher (JSON kind, 1 MB at most). Raises `FetchError`, with
    code "invalid_oembed" when the answer is not a JSON object.
    """
    result = fetch(oembed_url, kind="json")
    data = load_lenient_json(_unwrap_jsonp(result.text or ""))
    if not isinstance(data, dict):
        raise FetchError("The oEmbed answer is not a JSON object.", code="invalid_oembed")
    return parse_oembed(data, url=result.final_url)


def _unwrap_jsonp(text: str) -> str:
    """`callback({...});` from providers that answer text/javascript."""
    match = re.fullmatch(r"\s*[\w.$]+\s*\((.*)\)\s*;?\s*", text, flags=re.DOTALL)
    return match.group(1) if match else text


def parse_oembed(data: dict, *, url: str) -> OEmbed:
    """An OEmbed from the decoded JSON answer of the endpoint at `url`."""
    thumbnail = resolve_url(url, data.get("thumbnail_url"), decode=True)
    markup = data.get("html")
    kind = data.get("type")
    return OEmbed(
        type=kind.strip().lower()[:20] if isinstance(kind, str) else None,
        title=_text(data.get("title"), "oembed_text", decode=True),
        author_name=_text(data.get("author_name"), "oembed_text", decode=True),
        provider_name=_text(data.get("provider_name"), "oembed_text", decode=True),
        thumbnail_url=thumbnail,
        thumbnail_width=_int(data.get("thumbnail_width")),
        thumbnail_height=_int(data.get("thumbnail_height")),
        html=markup[:MAX_OEMBED_HTML] if isinstance(markup, str) and markup.strip() else None,
        width=_int(data.get("width")),
        height=_int(data.get("height")),
    )


# --- small helpers -----------------------------------------------------------------------


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _first(value):
    """The first non-empty item of a list (JSON-LD and microdata repeat values), or value."""
    if isinstance(value, list):
        return next((v for v in value if v not in (None, "", [], {})), None)
    return value


# HTML5 names that decode without a ";" (&amp, &copy, &sect...), longest first.
_LEGACY_ENTITY = re.compile(
    "&(?:"
    + "|".join(sorted((n for n in html_entities.html5 if not n.endswith(";")), key=len)[::-1])
    + ")"
)
# A character reference as html.unescape finds them: numeric, or a name up to a separator.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


def unescape_attribute(value: str) -> str:
    """Decode the character references in `value` once, by the HTML standard's rules for
    an attribute value: a named reference without its ";" (a legacy one: "&reg", "&copy",
    "&not", "&para") followed by a letter, a digit or "=" stays as written, so the query
    string "?f=webp&region=us&copy=2" survives. (`html.unescape` follows the rules for
    text instead and makes "®ion=us".) For values the HTML parser has not decoded (JSON-LD,
    oEmbed): libxml2 already decodes attribute values by these rules."""
    if "&" not in value:
        return value
    if ";" not in value and "&#" not in value and not _LEGACY_ENTITY.search(value):
        return value  # the usual URL: nothing here can be a reference
    return _CHARREF.sub(_attribute_reference, value)


def _attribute_reference(match: re.Match) -> str:
    name = match.group(1)
    if name[0] == "#":
        return html_lib.unescape(match.group(0))
    table = html_entities.html5
    if name in table:  # a complete name: "amp;", or a legacy one at a separator: "amp"
        return table[name]
    for end in range(len(name) - 1, 1, -1):  # the longest legacy name it starts with
        if name[:end] in table:
            following = name[end]
            if following.isalnum() or following == "=":
                return match.group(0)  # "&region=", "&copy=2": not a reference here
            return table[name[:end]] + name[end:]
    return match.group(0)


_TAG = re.compile(r"<[a-zA-Z/!]")
# Markup some sites leave in text: whole scripts and styles, comments, tags. Removed
# without decoding anything (the text is decoded once already).
_MARKUP = re.compile(
    r"<(script|style)\b.*?</\1\s*>|<!--.*?(?:-->|$)|</?[a-zA-Z][^>]*>|<![^>]*>",
    re.IGNORECASE | re.DOTALL,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\ufeff]")
# What `_text` would change beyond folding whitespace: an entity ("&"), a tag ("<"), a
# control or zero-width character.
_SPECIAL = re.compile(r"[&<\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\ufeff]")


def _text(value, kind: str, *, decode: bool = False) -> str | None:
    """Clean text: tags stripped, whitespace folded, cut to LIMITS[kind]. Character
    references are decoded once: by the HTML parser for anything from the markup, here
    (`decode`) for JSON-LD and oEmbed strings, which no parser has decoded."""
    if isinstance(value, list):
        value = _first(value)
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        else:
            return None
    if _SPECIAL.search(value) is None:  # the usual case: nothing to decode, strip or drop
        text = " ".join(value.split())
    else:
        text = unescape_attribute(value) if decode else value
        if _TAG.search(text):
            text = _MARKUP.sub(" ", text)
        text = " ".join(_CONTROL.sub("", text).split())
    limit = LIMITS[kind]
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def _int(value) -> int | None:
    """A pixel size from "800", "800px", 800 or {"value": 800}; None if it is not one."""
    if value is None:
        return None
    if isinstance(value, list):
        value = _first(value)
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if 0 <= value < 100_000 else None
    if isinstance(value, str) and value.isdecimal() and len(value) <= 5:  # "800"
        return int(value)
    match = _PIXELS.fullmatch(str(value or ""))
    return int(match.group(1)) if match else None


_PIXELS = re.compile(r"\s*(\d{1,5})(?:\.\d+)?\s*(?:px)?\s*")


def _image(url, width, height, alt, *, decode: bool = False) -> ImageInfo | None:
    if not url:
        return None
    alt = _text(alt, "alt", decode=decode)
    return ImageInfo(url=url, width=_int(width), height=_int(height), alt=alt)
