"""The card a crawler sees for a short link: the destination's own card."""

from catalog.selectors import products_with_details
from catalog.seo import product_card, product_json_ld
from core.absolute_urls import absolute_url
from previews.fetch import InvalidURL
from previews.normalize import normalize_url
from previews.selectors import cached_card_for_url


def card_for(snapshot: dict, product_id: int | None, request) -> dict:
    """Template context: `card` (as catalog.seo.product_card builds it) and `json_ld`."""
    if product_id:
        product = products_with_details().filter(pk=product_id, active=True).first()
        if product is not None:
            card = product_card(product, request)
            return {"card": card, "json_ld": product_json_ld(product, card)}
    return {"card": _external_card(snapshot), "json_ld": None}


def _external_card(snapshot: dict) -> dict:
    """From the destination's stored link preview when there is one, else the link's title."""
    from links.models import ShortLink

    link = ShortLink.objects.filter(pk=snapshot["id"]).only("title", "url").first()
    card = {
        "title": (link.title if link else "") or snapshot["destination"] or "Shoploop",
        "description": "",
        "url": snapshot["destination"],
        "site_name": "Shoploop",
        "type": "website",
        "brand": "",
        "image": None,
        "offer": None,
    }
    try:
        preview = cached_card_for_url(normalize_url(snapshot["destination"] or ""))
    except InvalidURL:
        preview = None
    if preview:
        card.update(
            title=(link.title if link else "") or preview["title"] or card["title"],
            description=preview["description"],
            site_name=preview["site_name"] or card["site_name"],
        )
        if preview["image"]:
            card["image"] = {"url": absolute_url(preview["image"]), "width": 1200,
                             "height": 630, "alt": preview["title"]}  # fmt: skip
        if preview["price"]:
            card["type"] = "product"
            card["offer"] = {"amount": preview["price"], "currency": preview["currency"],
                             "in_stock": None}  # fmt: skip
    return card
