"""The tags that make a product URL unfurl as a product card.

One function builds them, for the product page here and later for short-link unfurls:
Open Graph, Twitter Card and schema.org Product/Offer JSON-LD, all with absolute URLs.
"""

from django.conf import settings
from django.utils.text import Truncator

from catalog.models import Product
from catalog.selectors import product_offer
from core.absolute_urls import absolute_url
from core.money import format_money

SCHEMA_IN_STOCK = "https://schema.org/InStock"
SCHEMA_OUT_OF_STOCK = "https://schema.org/OutOfStock"


def product_card(product: Product, request=None, *, unambiguous_money: bool = False) -> dict:
    """Everything a product card shows, as plain values (escaped later by templates).

    `unambiguous_money` labels prices for a page that shows several currencies (`US$59.00`
    beside `CA$79.00`, not `$59.00`)."""
    offer = product_offer(product)
    images = list(product.images.all())
    main_image = images[0] if images else None
    description = Truncator(" ".join(product.description.split())).chars(300)
    card = {
        "title": product.title,
        "description": description or product.title,
        "path": product.get_absolute_url(),
        "url": absolute_url(product.get_absolute_url(), request),
        "site_name": getattr(settings, "SITE_NAME", "Shoploop"),
        "type": "product",
        "brand": product.brand,
        "image": None,
        "offer": None,
    }
    if main_image:
        card["image"] = {
            "url": absolute_url(main_image.image.url, request),
            "width": main_image.width,
            "height": main_image.height,
            "alt": main_image.alt_text or product.title,
            "type": main_image.content_type,
        }
    if offer:
        card["offer"] = {
            "sku": offer.sku,
            "gtin": offer.gtin,
            "amount": str(offer.price_decimal),
            "currency": offer.currency,
            "display": format_money(
                offer.price_decimal, offer.currency, unambiguous=unambiguous_money
            ),
            "compare_at": (
                format_money(offer.compare_at_price, offer.currency, unambiguous=unambiguous_money)
                if offer.compare_at_price
                else ""
            ),
            "in_stock": any(v.in_stock for v in product.variants.all()),
        }
    return card


def product_json_ld(product: Product, card: dict) -> dict:
    """schema.org Product with its Offer(s), for a <script type="application/ld+json">."""
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": card["title"],
        "description": card["description"],
        "url": card["url"],
    }
    if card["image"]:
        data["image"] = [card["image"]["url"]]
    if product.brand:
        data["brand"] = {"@type": "Brand", "name": product.brand}
    offer = card["offer"]
    if offer:
        data["sku"] = offer["sku"]
        if offer["gtin"]:
            data["gtin"] = offer["gtin"]
        data["offers"] = {
            "@type": "Offer",
            "url": card["url"],
            "sku": offer["sku"],
            "price": offer["amount"],
            "priceCurrency": offer["currency"],
            "availability": SCHEMA_IN_STOCK if offer["in_stock"] else SCHEMA_OUT_OF_STOCK,
            "itemCondition": "https://schema.org/NewCondition",
        }
    return data
