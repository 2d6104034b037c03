"""Every write to link previews: requesting one, fetching it, refreshing it."""

import logging
import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from core import images
from core.jobs import enqueue_on_commit
from previews import selectors
from previews.extract import Metadata, extract, fetch_oembed
from previews.fetch import (
    BlockedURL,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    fetch,
)
from previews.models import LinkPreview
from previews.normalize import normalize_url

logger = logging.getLogger(__name__)

CARD_SIZES = [(1200, 630), (600, 315)]
BLOCKED_MESSAGE = "This address is not allowed."
# Codes of failures that may pass: worth another try later.
TRANSIENT_CODES = {"timeout", "dns_failed", "connection_failed", "tls_error", "proxy_error"}


class RetryLater(Exception):
    """The fetch failed in a way that may pass (timeout, 5xx) or the host is busy."""

    def __init__(self, message: str, *, countdown: float | None = None):
        super().__init__(message)
        self.countdown = countdown


def preview_request(*, url: str) -> tuple[LinkPreview, bool]:
    """The preview of `url` and whether it is fresh; a missing or stale one is queued.

    Raises InvalidURL for a malformed URL.
    """
    normal = normalize_url(url)
    preview, _ = LinkPreview.objects.get_or_create(url=normal)
    fresh = selectors.is_fresh(preview)
    if not fresh and preview.status != LinkPreview.Status.BLOCKED:
        preview_queue_fetch(preview=preview)
    return preview, fresh


def preview_queue_fetch(*, preview: LinkPreview, force: bool = False) -> bool:
    """Queue one fetch of `preview`; a fetch already queued in the last minute is enough."""
    from previews.tasks import preview_fetch_task

    if not cache.add(f"previews:queued:{preview.pk}", 1, timeout=60) and not force:
        return False
    enqueue_on_commit(preview_fetch_task, preview.pk, int(force))
    return True


def _host_slot(host: str):
    """Politeness: at most PREVIEW_HOST_CONCURRENCY fetches to a host at once, and a new
    one no sooner than PREVIEW_HOST_INTERVAL seconds after the last. Raises RetryLater."""
    interval = settings.PREVIEW_HOST_INTERVAL
    if not cache.add(f"previews:host-rate:{host}", 1, timeout=interval):
        raise RetryLater(f"{host} was fetched less than {interval}s ago", countdown=interval)
    key = f"previews:host-busy:{host}"
    cache.add(key, 0, timeout=settings.PREVIEW_FETCH_LOCK_TTL)
    if cache.incr(key) > settings.PREVIEW_HOST_CONCURRENCY:
        cache.decr(key)
        raise RetryLater(f"{host} has enough fetches running", countdown=interval)
    return key


def preview_fetch(*, preview_id: int, force: bool = False) -> LinkPreview | None:
    """Fetch, extract and store one preview. One fetch per URL at a time.

    Raises RetryLater when trying again later may succeed; records every other failure on
    the preview (failed or blocked).
    """
    preview = LinkPreview.objects.filter(pk=preview_id).first()
    if preview is None:
        return None
    if not force and selectors.is_fresh(preview):
        return preview
    lock_key, token = f"previews:fetching:{preview_id}", secrets.token_hex(8)
    if not cache.add(lock_key, token, timeout=settings.PREVIEW_FETCH_LOCK_TTL):
        raise RetryLater("another fetch of this URL is running", countdown=5)
    try:
        slot = _host_slot(preview.host)
        try:
            return _fetch_and_store(preview, conditional=not force)
        finally:
            cache.decr(slot)
    finally:
        if cache.get(lock_key) == token:
            cache.delete(lock_key)
        cache.delete(f"previews:queued:{preview_id}")


def _fetch_and_store(preview: LinkPreview, *, conditional: bool) -> LinkPreview:
    use_validators = conditional and preview.status == LinkPreview.Status.OK
    try:
        result = fetch(
            preview.url,
            kind="page",
            etag=(preview.etag or None) if use_validators else None,
            last_modified=(preview.last_modified or None) if use_validators else None,
        )
    except BlockedURL as exc:
        logger.info("preview.fetch.blocked", extra={"preview_id": preview.pk, "code": exc.code})
        return _record_failure(preview, LinkPreview.Status.BLOCKED, BLOCKED_MESSAGE, exc.code)
    except HTTPStatusError as exc:
        if exc.status_code >= 500 or exc.status_code == 429:
            raise RetryLater(f"HTTP {exc.status_code}") from exc
        return _record_failure(
            preview, LinkPreview.Status.FAILED, exc.message, exc.code, http_status=exc.status_code
        )
    except FetchTimeout as exc:
        raise RetryLater(exc.message) from exc
    except FetchError as exc:
        if exc.code in TRANSIENT_CODES:
            raise RetryLater(exc.message) from exc
        return _record_failure(preview, LinkPreview.Status.FAILED, exc.message, exc.code)

    if result.not_modified:
        return _record_unchanged(preview)
    metadata = extract(result.text or "", url=result.final_url)
    return _store(preview, result, metadata)


def _record_failure(preview, status, message, code, *, http_status=None) -> LinkPreview:
    with transaction.atomic():
        preview.status = status
        preview.error = message[:500]
        preview.error_code = (code or "")[:40]
        preview.http_status = http_status
        preview.fetched_at = timezone.now()
        preview.next_refresh_at = (
            None
            if status == LinkPreview.Status.BLOCKED
            else timezone.now() + timedelta(seconds=settings.PREVIEW_RETRY_FAILED_AFTER)
        )
        preview.save()
        transaction.on_commit(lambda: selectors.forget(preview.url))
    return preview


def preview_mark_failed(*, preview_id: int, message: str) -> None:
    """After the last retry of a failure that might have passed."""
    preview = LinkPreview.objects.filter(pk=preview_id).first()
    if preview is not None:
        _record_failure(preview, LinkPreview.Status.FAILED, message, "gave_up")


def _record_unchanged(preview: LinkPreview) -> LinkPreview:
    with transaction.atomic():
        preview.fetched_at = timezone.now()
        preview.next_refresh_at = timezone.now() + timedelta(seconds=settings.PREVIEW_REFRESH_AFTER)
        preview.save(update_fields=["fetched_at", "next_refresh_at", "updated_at"])
        transaction.on_commit(lambda: selectors.forget(preview.url))
    return preview


def _oembed(metadata: Metadata):
    if not metadata.oembed_url:
        return None
    try:
        return fetch_oembed(metadata.oembed_url)
    except FetchError as exc:
        logger.info("preview.oembed.failed", extra={"code": exc.code})
        return None


def _card_images(image_url: str | None) -> list[images.ProcessedImage]:
    """The card images, from the origin's image fetched through the same safe fetcher."""
    if not image_url:
        return []
    try:
        result = fetch(image_url, kind="image")
        return images.cover_images(result.content, CARD_SIZES)
    except (FetchError, ValidationError) as exc:
        logger.info("preview.image.failed", extra={"reason": getattr(exc, "code", "")})
        return []


def _store(preview: LinkPreview, result, metadata: Metadata) -> LinkPreview:
    oembed = _oembed(metadata)
    image_url = (metadata.image.url if metadata.image else None) or (
        oembed.thumbnail_url if oembed else None
    )
    cards = _card_images(image_url)
    with transaction.atomic():
        preview.final_url = result.final_url[:2048]
        preview.canonical_url = (metadata.canonical_url or "")[:2048]
        preview.title = (metadata.title or (oembed.title if oembed else None) or "")[:300]
        preview.description = metadata.description or ""
        preview.image_url = (image_url or "")[:2048]
        preview.site_name = (
            metadata.site_name or (oembed.provider_name if oembed else None) or ""
        )[:200]
        preview.type = (metadata.type or (oembed.type if oembed else None) or "")[:60]
        preview.price = _money(metadata.price)
        preview.currency = (metadata.currency or "")[:3] if preview.price is not None else ""
        preview.availability = (metadata.availability or "")[:60]
        preview.brand = (metadata.brand or "")[:200]
        preview.sku = (getattr(metadata, "sku", None) or "")[:100]
        preview.gtin = (getattr(metadata, "gtin", None) or "")[:14]
        preview.favicon_url = (metadata.icon_url or "")[:2048]
        preview.oembed_html = (oembed.html or "") if oembed else ""
        preview.oembed_provider = ((oembed.provider_name or "") if oembed else "")[:200]
        preview.locale = (metadata.locale or metadata.lang or "")[:20]
        preview.status = LinkPreview.Status.OK
        preview.error = preview.error_code = ""
        preview.http_status = result.status_code
        preview.fetched_at = timezone.now()
        preview.next_refresh_at = timezone.now() + timedelta(seconds=settings.PREVIEW_REFRESH_AFTER)
        preview.etag = (result.headers.get("etag") or "")[:300]
        preview.last_modified = (result.headers.get("last-modified") or "")[:100]
        preview.raw = _raw(metadata, oembed)
        _replace_card_images(preview, cards)
        preview.save()
        transaction.on_commit(lambda: selectors.forget(preview.url))
    return preview


def _money(value) -> Decimal | None:
    if value is None:
        return None
    try:
        value = Decimal(value)
    except ArithmeticError:
        return None
    if not value.is_finite() or value < 0 or value >= Decimal(10) ** 10:
        return None
    return value.quantize(Decimal("0.0001"))


def _replace_card_images(preview: LinkPreview, cards: list[images.ProcessedImage]) -> None:
    for field in ("image", "image_small"):
        getattr(preview, field).delete(save=False)
    if len(cards) == len(CARD_SIZES):
        large, small = cards
        preview.image.save(f"card-{preview.pk}.{large.extension}", ContentFile(large.content),
                           save=False)  # fmt: skip
        preview.image_small.save(f"card-{preview.pk}-small.{small.extension}",
                                 ContentFile(small.content), save=False)  # fmt: skip


def _raw(metadata: Metadata, oembed) -> dict:
    data = {
        name: (str(value) if isinstance(value, Decimal) else value)
        for name, value in vars(metadata).items()
        if name not in ("image",)
    }
    if metadata.image:
        data["image"] = vars(metadata.image)
    if oembed:
        data["oembed"] = vars(oembed)
    return data


def previews_refresh_due(*, limit: int = 500) -> int:
    """Queue the previews whose refresh time has come (ok ones and failed ones)."""
    due = LinkPreview.objects.filter(
        status__in=[LinkPreview.Status.OK, LinkPreview.Status.FAILED],
        next_refresh_at__lte=timezone.now(),
    ).order_by("next_refresh_at")[:limit]
    queued = 0
    for preview in due:
        queued += preview_queue_fetch(preview=preview)
    return queued
