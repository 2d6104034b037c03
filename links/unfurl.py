"""The card a crawler sees for a short link: the destination's own card."""

from catalog.selectors import products_with_details
from catalog.seo import product_card, product_json_ld


def card_for(snapshot: dict, product_id: int | None, request) -> dict:
    """Template context: `card` (as catalog.seo.product_card builds it) and `json_ld`."""
    if product_id:
        product = products_with_details().filter(pk=product_id, active=True).first()
        if product is not None:
            card = product_card(product, request)
            return {"card": card, "json_ld": product_json_ld(product, card)}
    return {"card": _external_card(snapshot), "json_ld": None}


def _external_card(snapshot: dict) -> dict:
    from links.models import ShortLink

    link = ShortLink.objects.filter(pk=snapshot["id"]).only("title", "url").first()
    title = (link.title if link else "") or snapshot["destination"] or "Shoploop"
    return {
        "title": title,
        "description": "",
        "url": snapshot["destination"],
        "site_name": "Shoploop",
        "brand": "",
        "image": None,
        "offer": None,
    }
