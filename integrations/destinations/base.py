"""What every destination shares: the catalog's view of a product, items, results, batches.

A destination module maps a product to exactly the fields that destination takes (`build`),
checks them with the destination's own rules (`validate`, the errors a merchant would
otherwise read on the platform), and sends batches of items (`send`), answering one `Result`
per item: accepted, or failed with the platform's message and whether trying again can help.
`build` returns None when the product must not be listed (inactive, deleted, nothing on sale):
the engine then removes it (or marks it out of stock) where it was listed.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.html import strip_tags

from catalog.models import Product
from core.absolute_urls import absolute_url
from core.money import quantize
from integrations.models import Listing
from integrations.stock import available_quantity


def message(text: str, *, field: str = "", level: str = "error", source: str = "shoploop"):
    return {"level": level, "field": field, "message": text, "source": source}


@dataclass
class Item:
    listing: Listing
    version: int
    action: str  # "upsert" or "remove"
    payload: dict
    fingerprint: str
    units: int = 1  # items at the destination (variants, offers)


@dataclass
class Result:
    ok: bool
    retryable: bool = True
    messages: list = field(default_factory=list)
    external_id: str | None = None
    external_data: dict | None = None

    @classmethod
    def failure(cls, text: str, *, retryable: bool, field: str = ""):
        return cls(
            ok=False, retryable=retryable, messages=[message(text, field=field, source="platform")]
        )


@dataclass
class VariantView:
    sku: str
    gtin: str
    mpn: str
    price: Decimal  # the regular price
    sale_price: Decimal | None  # the current price when it is below the regular one
    currency: str
    quantity: int
    attributes: dict
    image_id: int | None = None


@dataclass
class ProductView:
    """A product as destinations see it (one query set for many products)."""

    ref: str
    title: str
    description_html: str
    description_text: str
    brand: str
    link: str
    images: list  # (image id or None, absolute URL, stored name)
    variants: list[VariantView]

    @property
    def listable(self) -> bool:
        return bool(self.variants)


def product_view(product: Product | None, *, ref: str, source_images: list) -> ProductView | None:
    """None when the product must not be listed: deleted, inactive or no active variant."""
    if product is None or not product.active:
        return None
    variants = [v for v in product.variants.all() if v.active]
    if not variants:
        return None
    images = [
        (image.pk, absolute_url(image.image.url), image.image.name)
        for image in product.images.all()
    ]
    if not images:
        images = [(None, url, "") for url in source_images]
    views = []
    for variant in variants:
        current = quantize(variant.price, variant.currency)
        regular, sale = current, None
        if variant.compare_at_price is not None and variant.compare_at_price > variant.price:
            regular, sale = quantize(variant.compare_at_price, variant.currency), current
        attributes = {str(k).lower(): str(v) for k, v in (variant.attributes or {}).items()}
        views.append(
            VariantView(
                sku=variant.sku,
                gtin=variant.gtin,
                mpn=attributes.pop("mpn", ""),
                price=regular,
                sale_price=sale,
                currency=variant.currency,
                quantity=available_quantity(variant),
                attributes=attributes,
            )
        )
    return ProductView(
        ref=ref,
        title=product.title,
        description_html=product.description,
        description_text=" ".join(strip_tags(product.description).split()),
        brand=product.brand,
        link=absolute_url(product.get_absolute_url()),
        images=images,
        variants=views,
    )


def colour(attributes: dict) -> str:
    return attributes.get("color") or attributes.get("colour") or ""


class Destination:
    platform = ""
    batch_size = 100  # units (variants, offers) in one request

    def __init__(self, connection, access):
        self.connection = connection
        self.access = access
        self.settings = dict(connection.settings)

    def prepare(self) -> None:
        """Learn settings the destination needs from the platform (once)."""

    def build(self, view: ProductView | None, listing: Listing) -> dict | None:
        raise NotImplementedError

    def units(self, payload: dict) -> int:
        return max(1, len(payload.get("items", [])))

    def validate(self, payload: dict, listing: Listing) -> list[dict]:
        return []

    def send(self, items: list[Item]) -> dict[int, Result]:
        raise NotImplementedError

    def batches(self, items: list[Item]):
        batch, size = [], 0
        for item in items:
            if batch and size + item.units > self.batch_size:
                yield batch
                batch, size = [], 0
            batch.append(item)
            size += item.units
        if batch:
            yield batch


def check_length(errors, value: str, *, field: str, label: str, maximum: int, minimum: int = 1):
    if len(value or "") < minimum:
        errors.append(
            message(
                f"{label} is required."
                if minimum == 1
                else f"{label} needs at least {minimum} characters.",
                field=field,
            )
        )
    elif len(value) > maximum:
        errors.append(
            message(f"{label} is {len(value)} characters; the limit is {maximum}.", field=field)
        )
