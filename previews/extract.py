"""Link-preview metadata from a page's HTML.

`extract(html, url=final_url)` reads five sources, each into the same set of fields:

- `og`: Open Graph `<meta property="og:...">`, plus `product:*` / `og:price:*` price tags;
- `twitter`: Twitter Card `<meta name="twitter:...">`;
- `jsonld`: `<script type="application/ld+json">` (schema.org Product, Offer,
  AggregateOffer, `@graph`, arrays; a broken block is skipped, the others kept);
- `microdata`: `itemscope` / `itemprop` (schema.org Product and its offers);
- `html`: `<title>`, `<meta name="description">`, the first real `<img>`, icons,
  `rel=canonical`, `<html lang>`, the oEmbed discovery link.

`PRECEDENCE` then picks, field by field, the first source that has a value. Every URL is
resolved against `<base href>` and the page's URL, and kept only if it is http or https.
Text is entity-decoded, stripped of tags, whitespace-folded and cut to `LIMITS`.

Everything here is untrusted page content: render it escaped, and never render
`OEmbed.html` outside a sandboxed iframe.
"""

import html as html_lib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

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
    page = _Page(BeautifulSoup(html or "", "lxml"), url)
    found = {
        "og": _from_open_graph(page),
        "twitter": _from_twitter(page),
        "jsonld": _from_jsonld(page),
        "microdata": _from_microdata(page),
        "html": _from_html(page),
    }
    return _merge(found, url)


def _merge(found: dict[str, dict], url: str) -> Metadata:
    values, sources = {}, {}
    for name, order in PRECEDENCE.items():
        for source in order:
            value = found[source].get(name)
            if value is not None and value != "":
                values[name], sources[name] = value, source
                break
    price = values.pop("price", None)
    if price is not None:
        currency = price.currency or _borrowed_currency(found)
        values.update(price=price.amount, currency=currency)
    return Metadata(url=values.pop("url", url), **values, sources=sources)


def _borrowed_currency(found: dict[str, dict]) -> str | None:
    for source in PRECEDENCE["price"]:
        price = found[source].get("price")
        if price is not None and price.currency:
            return price.currency
    return found["og"].get("currency")


# --- the page ----------------------------------------------------------------------------


class _Page:
    """The parsed document, its base URL, and its `<meta>` tags in document order."""

    def __init__(self, soup: BeautifulSoup, url: str):
        self.soup = soup
        self.base = url
        base = soup.find("base", href=True)
        if base is not None:
            self.base = self.resolve(base["href"]) or url
        self.meta = _meta_pairs(soup)

    def resolve(self, value) -> str | None:
        return resolve_url(self.base, value)

    def meta_value(self, *keys: str) -> str | None:
        """The first non-empty content among `<meta>` tags named by any of `keys`."""
        for key, content in self.meta:
            if key in keys and content.strip():
                return content
        return None


def resolve_url(base: str, value) -> str | None:
    """`value` resolved against `base` as an absolute http(s) URL, or None.

    Tabs and newlines are dropped and spaces encoded, as browsers do with `src="a b.jpg"`.
    """
    value = _first(value)
    if not isinstance(value, str) or not value.strip():
        return None
    value = re.sub(r"[\t\n\r]", "", html_lib.unescape(value.strip())).replace(" ", "%20")
    try:
        absolute = urljoin(base, value)
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if len(absolute) > MAX_URL_LENGTH or any(ch.isspace() for ch in absolute):
        return None
    return absolute


def _meta_pairs(soup: BeautifulSoup) -> list[tuple[str, str]]:
    pairs = []
    for tag in soup.find_all("meta"):
        key = tag.get("property") or tag.get("name")
        content = tag.get("content")
        if isinstance(key, str) and isinstance(content, str):
            pairs.append((key.strip().lower(), content))
    return pairs


# --- Open Graph and Twitter --------------------------------------------------------------


def _from_open_graph(page: _Page) -> dict:
    amount = page.meta_value("product:price:amount", "og:price:amount")
    currency = valid_code(page.meta_value("product:price:currency", "og:price:currency"))
    return {
        "title": _text(page.meta_value("og:title"), "title"),
        "description": _text(page.meta_value("og:description"), "description"),
        "site_name": _text(page.meta_value("og:site_name"), "site_name"),
        "type": _text(page.meta_value("og:type"), "type"),
        "locale": _text(page.meta_value("og:locale"), "locale"),
        "url": page.resolve(page.meta_value("og:url")),
        "image": _og_image(page),
        "video_url": _og_video(page),
        "price": _price(amount, currency),
        "currency": currency,
        "availability": normalize_availability(
            page.meta_value("product:availability", "og:availability")
        ),
        "brand": _text(page.meta_value("product:brand", "og:brand"), "brand"),
    }


def _structured(page: _Page, prefix: str) -> dict[str, str]:
    """The first `og:image` (or `og:video`) and the `:width`, `:alt`... tags that go with it.

    A second `og:image` starts the next image, so its size is not mixed into the first.
    """
    found: dict[str, str] = {}
    for key, content in page.meta:
        if key in (prefix, f"{prefix}:url"):
            if "url" in found:
                break
            found["url"] = content
        elif key.startswith(f"{prefix}:"):
            found.setdefault(key[len(prefix) + 1 :], content)
    return found


def _og_image(page: _Page) -> ImageInfo | None:
    found = _structured(page, "og:image")
    secure = page.resolve(found.get("secure_url"))
    url = (secure if secure and secure.startswith("https:") else None) or page.resolve(
        found.get("url")
    )
    return _image(url, found.get("width"), found.get("height"), found.get("alt"))


def _og_video(page: _Page) -> str | None:
    found = _structured(page, "og:video")
    secure = page.resolve(found.get("secure_url"))
    return (secure if secure and secure.startswith("https:") else None) or page.resolve(
        found.get("url")
    )


def _from_twitter(page: _Page) -> dict:
    image_url = page.resolve(page.meta_value("twitter:image", "twitter:image:src"))
    return {
        "title": _text(page.meta_value("twitter:title"), "title"),
        "description": _text(page.meta_value("twitter:description"), "description"),
        "image": _image(image_url, None, None, page.meta_value("twitter:image:alt")),
        "video_url": page.resolve(page.meta_value("twitter:player")),
        "price": _twitter_price(page),
    }


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
    nodes = _jsonld_nodes(page.soup)
    return _from_schema_nodes(page, nodes)


def _from_schema_nodes(page: _Page, nodes: list[dict]) -> dict:
    """Fields from schema.org nodes, whether they came from JSON-LD or microdata."""
    product = _first_node(nodes, lambda types: bool(types & PRODUCT_TYPES))
    content = _first_node(nodes, lambda types: bool(types & CONTENT_TYPES.keys()))
    primary = product or content
    result: dict = {}
    if primary is not None:
        result.update(
            title=_text(primary.get("name") or primary.get("headline"), "title"),
            description=_text(primary.get("description"), "description"),
            image=_schema_image(page, primary.get("image") or primary.get("thumbnailUrl")),
            url=page.resolve(primary.get("url")),
        )
    if product is not None:
        price, availability = _offer(product)
        result.update(
            type="product",
            price=price,
            availability=availability,
            brand=_text(_name_of(product.get("brand")), "brand"),
        )
    elif content is not None:
        result["type"] = next(
            (CONTENT_TYPES[t] for t in _types(content) if CONTENT_TYPES.get(t)), None
        )
    website = _first_node(nodes, lambda types: "website" in types)
    organization = _first_node(nodes, lambda types: bool(types & {"organization", "store"}))
    site = website or organization
    if site is not None:
        result["site_name"] = _text(site.get("name"), "site_name")
    video = _first_node(nodes, lambda types: "videoobject" in types)
    if video is not None:
        result["video_url"] = page.resolve(video.get("embedUrl") or video.get("contentUrl"))
    return result


def _jsonld_nodes(soup: BeautifulSoup) -> list[dict]:
    nodes: list[dict] = []
    for script in soup.find_all("script", type=_is_jsonld):
        text = script.string or script.get_text()
        if len(text) > MAX_JSONLD_SCRIPT:
            continue
        data = load_lenient_json(text)
        if data is not None:
            nodes.extend(_walk(data, MAX_NODES - len(nodes)))
    return nodes


def _is_jsonld(value) -> bool:
    return isinstance(value, str) and value.split(";")[0].strip().lower() == "application/ld+json"


def _walk(data, limit: int) -> list[dict]:
    """Every dict in `data` (`@graph`, arrays and nested nodes included), outermost first."""
    nodes, queue = [], [data]
    while queue and len(nodes) < limit:
        item = queue.pop(0)
        if isinstance(item, dict):
            nodes.append(item)
            queue.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            queue.extend(item)
    return nodes


_WRAPPERS = re.compile(r"^\s*(?://\s*)?(?:<!--|<!\[CDATA\[)|(?://\s*)?(?:-->|\]\]>)\s*$")


def load_lenient_json(text: str):
    """Parse JSON as pages write it: strict first, then without comments, trailing commas
    and `<!-- -->` / CDATA wrappers. Returns None when it still does not parse."""
    text = _WRAPPERS.sub("", text).strip()
    if not text:
        return None
    for candidate in (text, _relax_json(text)):
        try:
            return json.loads(candidate, strict=False)  # strict=False: raw newlines in strings
        except ValueError:
            continue
    return None


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


def _types(node: dict) -> set[str]:
    """`@type` as lower-case names: "Product", "schema:Product", "http://schema.org/Product"
    and microdata `itemtype` URLs all become "product"."""
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else str(raw or "").split()
    return {re.split(r"[/:#]", str(v))[-1].lower() for v in values if v}


def _first_node(nodes: list[dict], test) -> dict | None:
    return next((node for node in nodes if test(_types(node))), None)


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
    amount_value = _first(amount_value)
    amount = parse_amount(amount_value)
    if amount is None:
        return None
    currency = valid_code(_first(currency_value))
    if currency is None and isinstance(amount_value, str):
        currency = parse_price(amount_value)[1]
    return Price(amount, currency)


def _schema_image(page: _Page, value) -> ImageInfo | None:
    """An image given as a URL, a list, or an ImageObject."""
    value = _first(value)
    if isinstance(value, dict):
        url = page.resolve(value.get("url") or value.get("contentUrl"))
        alt = value.get("caption") or value.get("name")
        return _image(url, value.get("width"), value.get("height"), alt)
    return _image(page.resolve(value), None, None, None)


def _name_of(value) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        return _first(value.get("name"))
    return value if isinstance(value, str) else None


# --- microdata ---------------------------------------------------------------------------


def _from_microdata(page: _Page) -> dict:
    items = []
    for scope in page.soup.find_all(attrs={"itemscope": True}, limit=MAX_NODES):
        if not scope.has_attr("itemprop"):  # top-level items only; nested ones are inside
            items.extend(_walk(_microdata_item(scope, depth=0), MAX_NODES))
    return _from_schema_nodes(page, items)


def _microdata_item(scope, *, depth: int) -> dict:
    """A microdata item as a JSON-LD-shaped dict, so JSON-LD's readers work on it."""
    item: dict = {"@type": scope.get("itemtype", "")}
    for element in _item_properties(scope):
        if element.has_attr("itemscope") and depth < 5:
            value = _microdata_item(element, depth=depth + 1)
        else:
            value = _microdata_value(element)
        for name in str(element["itemprop"]).split():
            item.setdefault(name, []).append(value)
    return item


def _item_properties(scope):
    """Elements with `itemprop` that belong to `scope`, not to an item nested inside it."""
    stack = list(reversed(scope.find_all(True, recursive=False)))
    while stack:
        element = stack.pop()
        if element.has_attr("itemprop"):
            yield element
        if not element.has_attr("itemscope"):
            stack.extend(reversed(element.find_all(True, recursive=False)))


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
    if element.has_attr("content"):
        return element["content"]
    attribute = _URL_ATTRIBUTES.get(element.name)
    if attribute and element.has_attr(attribute):
        return element[attribute]
    return element.get_text(" ")


# --- plain HTML --------------------------------------------------------------------------


def _from_html(page: _Page) -> dict:
    soup = page.soup
    title = soup.find("title")
    canonical = page.resolve(_link_href(soup, lambda rels, link: "canonical" in rels))
    root = soup.find("html")
    return {
        "title": _text(title.get_text() if title else None, "title"),
        "description": _text(page.meta_value("description"), "description"),
        "site_name": _text(page.meta_value("application-name"), "site_name"),
        "image": _first_content_image(page),
        "icon_url": _best_icon(page),
        "canonical_url": canonical,
        "url": canonical,
        "lang": _text(root.get("lang") if root else None, "lang"),
        "oembed_url": page.resolve(_link_href(soup, _is_oembed_link)),
    }


def _rels(link) -> set[str]:
    rel = link.get("rel") or []
    return {r.lower() for r in (rel.split() if isinstance(rel, str) else rel)}


def _link_href(soup: BeautifulSoup, test) -> str | None:
    for link in soup.find_all("link", href=True):
        if test(_rels(link), link):
            return link["href"]
    return None


def _is_oembed_link(rels: set[str], link) -> bool:
    kind = str(link.get("type", "")).lower()
    return "alternate" in rels and kind in ("application/json+oembed", "text/json+oembed")


def _best_icon(page: _Page) -> str | None:
    """apple-touch-icon before icon (they are bigger and square), then the largest size,
    then the first in the document."""
    candidates = []
    for index, link in enumerate(page.soup.find_all("link", href=True)):
        rels = _rels(link)
        if rels & {"apple-touch-icon", "apple-touch-icon-precomposed"}:
            rank = 2
        elif "icon" in rels:  # also "shortcut icon"
            rank = 1
        else:
            continue
        url = page.resolve(link["href"])
        if url:
            candidates.append((rank, _icon_size(link.get("sizes")), -index, url))
    return max(candidates)[3] if candidates else None


def _icon_size(sizes) -> int:
    if isinstance(sizes, list):
        sizes = " ".join(sizes)
    widths = [int(w) for w, _ in re.findall(r"(\d+)[xX](\d+)", str(sizes or ""))]
    return max(widths, default=0)


def _first_content_image(page: _Page) -> ImageInfo | None:
    """The first `<img>` that is a picture: not a tracking pixel or spacer (a side under
    50 px), not inline data, not SVG (usually a logo or icon). Lazy-loading attributes
    are read because `src` is then a placeholder."""
    for img in page.soup.find_all("img", limit=200):
        width, height = _int(img.get("width")), _int(img.get("height"))
        if (width is not None and width < MIN_IMAGE_SIDE) or (
            height is not None and height < MIN_IMAGE_SIDE
        ):
            continue
        for candidate in _img_sources(img):
            url = page.resolve(candidate)
            if url and not urlsplit(url).path.lower().endswith(".svg"):
                return _image(url, width, height, img.get("alt"))
    return None


def _img_sources(img) -> list[str]:
    sources = [img.get(a) for a in ("src", "data-src", "data-lazy-src", "data-original")]
    srcset = img.get("srcset") or img.get("data-srcset")
    if isinstance(srcset, str) and srcset.strip():
        sources.append(srcset.split(",")[0].split()[0])
    return [s for s in sources if isinstance(s, str) and s.strip()]


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
    thumbnail = resolve_url(url, data.get("thumbnail_url"))
    markup = data.get("html")
    kind = data.get("type")
    return OEmbed(
        type=kind.strip().lower()[:20] if isinstance(kind, str) else None,
        title=_text(data.get("title"), "oembed_text"),
        author_name=_text(data.get("author_name"), "oembed_text"),
        provider_name=_text(data.get("provider_name"), "oembed_text"),
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


_TAG = re.compile(r"<[a-zA-Z/!]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\ufeff]")


def _text(value, kind: str) -> str | None:
    """Clean text: entities decoded (JSON-LD is not entity-decoded by the parser, and some
    meta tags are double-encoded), tags stripped, whitespace folded, cut to LIMITS[kind]."""
    value = _first(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = html_lib.unescape(value)
    if _TAG.search(text):
        text = BeautifulSoup(text, "html.parser").get_text(" ")
    text = " ".join(_CONTROL.sub("", text).split())
    limit = LIMITS[kind]
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def _int(value) -> int | None:
    """A pixel size from "800", "800px", 800 or {"value": 800}; None if it is not one."""
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if 0 <= value < 100_000 else None
    match = re.fullmatch(r"\s*(\d{1,5})(?:\.\d+)?\s*(?:px)?\s*", str(value or ""))
    return int(match.group(1)) if match else None


def _image(url, width, height, alt) -> ImageInfo | None:
    if not url:
        return None
    return ImageInfo(url=url, width=_int(width), height=_int(height), alt=_text(alt, "alt"))
