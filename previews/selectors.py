"""Reads of previews, with the card state of hot URLs cached in Redis."""

import hashlib

from django.core.cache import cache
from django.utils import timezone

from core.money import format_money, is_currency
from previews.models import LinkPreview

CACHE_TTL = 3600
MISSING_TTL = 60
BLOCKED_REASON = "This address is not allowed."


def is_fresh(preview: LinkPreview) -> bool:
    return (
        preview.status == LinkPreview.Status.OK
        and preview.next_refresh_at is not None
        and preview.next_refresh_at > timezone.now()
    )


def _key(normal_url: str) -> str:
    return "previews:card:" + hashlib.sha256(normal_url.encode()).hexdigest()


def forget(normal_url: str) -> None:
    """Drop the cached card of a URL (after every change to its preview)."""
    cache.delete(_key(normal_url))


def has_card(preview: LinkPreview) -> bool:
    """Whether the preview can be shown as a card: it was fetched, or the merchant wrote
    its title (a page that refuses bots can still get a card). Never a blocked one."""
    if preview.status == LinkPreview.Status.OK:
        return True
    return preview.status != LinkPreview.Status.BLOCKED and bool(preview.title_override)


def missing_reason(preview: LinkPreview | None) -> str:
    """What to show where the card would be when there is none, for people."""
    if preview is None:
        return "No preview of this link yet."
    if preview.status == LinkPreview.Status.BLOCKED:
        return f"No preview: {BLOCKED_REASON}"  # no detail that helps scanning a network
    if preview.status == LinkPreview.Status.FAILED:
        return f"No preview: {preview.error or 'the page could not be fetched.'}"
    return "The preview is being made."


def _price_display(preview: LinkPreview) -> str:
    """`€89.00`: the scraped price in its currency's minor units, as cards show prices."""
    if preview.price is None or not is_currency(preview.currency or ""):
        return ""
    return format_money(preview.price, preview.currency)


def card_data(preview: LinkPreview) -> dict:
    """The fields a card shows, as plain values; templates and the component escape them.
    The merchant's title, description and image come before the scraped ones."""
    image, image_small = preview.card_image, preview.card_image_small
    return {
        "url": preview.canonical_url or preview.final_url or preview.url,
        "title": preview.card_title,
        "description": preview.card_description[:300],
        "image": image.url if image else "",
        "image_small": image_small.url if image_small else "",
        "site_name": preview.site_name or preview.host,
        "price": str(preview.price.normalize()) if preview.price is not None else "",
        "currency": preview.currency,
        "price_display": _price_display(preview),
        "availability": preview.availability,
        "favicon": preview.favicon_url,
    }


def card_state(preview: LinkPreview | None) -> dict:
    """`{"card": {...}}` when the preview shows as a card, else `{"status": ...,
    "reason": ...}` (status "none" when there is no preview at all)."""
    if preview is not None and has_card(preview):
        return {"card": card_data(preview)}
    return {"status": preview.status if preview else "none", "reason": missing_reason(preview)}


def cached_card_state_for_url(normal_url: str) -> dict:
    """`card_state` of the preview of a normalised URL, from the cache when hot."""
    key = _key(normal_url)
    state = cache.get(key)
    if state is None:
        preview = LinkPreview.objects.filter(url=normal_url).first()
        state = card_state(preview)
        cache.set(key, state, timeout=CACHE_TTL if "card" in state else MISSING_TTL)
    return state


def cached_card_for_url(normal_url: str) -> dict | None:
    """The card of a stored preview, from the cache when hot; None if it has none."""
    return cached_card_state_for_url(normal_url).get("card")


def preview_for_url(url: str) -> LinkPreview | None:
    """The stored preview of a URL (normalised the way previews are stored), or None."""
    from previews.fetch import InvalidURL
    from previews.normalize import normalize_url

    try:
        return LinkPreview.objects.filter(url=normalize_url(url)).first()
    except InvalidURL:
        return None
