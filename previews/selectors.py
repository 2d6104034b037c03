"""Reads of previews, with the JSON of hot URLs cached in Redis."""

import hashlib

from django.core.cache import cache
from django.utils import timezone

from previews.models import LinkPreview

CACHE_TTL = 3600


def is_fresh(preview: LinkPreview) -> bool:
    return (
        preview.status == LinkPreview.Status.OK
        and preview.next_refresh_at is not None
        and preview.next_refresh_at > timezone.now()
    )


def _key(normal_url: str) -> str:
    return "previews:url:" + hashlib.sha256(normal_url.encode()).hexdigest()


def forget(normal_url: str) -> None:
    """Drop the cached card of a URL (after every change to its preview)."""
    cache.delete(_key(normal_url))


def card_data(preview: LinkPreview) -> dict:
    """The fields a card shows, as plain values; templates and the component escape them."""
    return {
        "url": preview.canonical_url or preview.final_url or preview.url,
        "title": preview.title,
        "description": preview.description[:300],
        "image": preview.image.url if preview.image else "",
        "image_small": preview.image_small.url if preview.image_small else "",
        "site_name": preview.site_name or preview.host,
        "price": str(preview.price.normalize()) if preview.price is not None else "",
        "currency": preview.currency,
        "availability": preview.availability,
        "favicon": preview.favicon_url,
    }


def cached_card_for_url(normal_url: str) -> dict | None:
    """The card of a stored, fetched preview, from the cache when hot; None if there is none."""
    key = _key(normal_url)
    data = cache.get(key)
    if data is None:
        preview = LinkPreview.objects.filter(url=normal_url, status=LinkPreview.Status.OK).first()
        data = card_data(preview) if preview else {}
        cache.set(key, data, timeout=CACHE_TTL if preview else 60)
    return data or None
