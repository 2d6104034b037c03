"""Every write to link previews: requesting one, fetching it, refreshing it, giving up on
it, and the merchant's own title, description and image for its card."""

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
from core.errors import ApplicationError, error_message
from core.jobs import RetryLater, enqueue_on_commit
from previews import selectors
from previews.extract import Metadata, extract, fetch_oembed
from previews.fetch import (
    BlockedURL,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    check_url,
    fetch,
)
from previews.models import LinkPreview
from previews.normalize import normalize_url

logger = logging.getLogger(__name__)

__all__ = ["RetryLater"]  # re-exported: what preview_fetch raises when a retry may succeed

CARD_SIZES = [(1200, 630), (600, 315)]
BLOCKED_MESSAGE = selectors.BLOCKED_REASON
# Codes of failures that may pass: worth another try later.
TRANSIENT_CODES = {"timeout", "dns_failed", "connection_failed", "tls_error", "proxy_error"}
OVERRIDE_LIMITS = {"title": 300, "description": 1000}
# What a fetch writes. The merchant's overrides are not among them: a fetch saves only
# these, so an override made while a fetch runs is never written over by it.
SCRAPED_FIELDS = [
    "final_url", "canonical_url", "title", "description", "image_url", "image", "image_small",
    "site_name", "type", "price", "currency", "availability", "brand", "sku", "gtin",
    "favicon_url", "oembed_html", "oembed_provider", "locale", "status", "error", "error_code",
    "http_status", "fetched_at", "next_refresh_at", "etag", "last_modified", "raw",
    "updated_at",
]  # fmt: skip
FAILURE_FIELDS = [
    "status", "error", "error_code", "http_status", "fetched_at", "next_refresh_at",
    "updated_at",
]  # fmt: skip


def refusal_message(exc: FetchError) -> str:
    """What to tell a person whose URL was refused: the reason, except for a target that is
    not public, which gets no detail that would help scanning a network."""
    if isinstance(exc, BlockedURL) and exc.code == "blocked_address":
        return BLOCKED_MESSAGE
    return exc.message


def preview_request(*, url: str, strict: bool = False) -> tuple[LinkPreview, bool]:
    """The preview of `url` and whether it is fresh; a missing or stale one is fetched
    (queued on workers; in-process it has been fetched when this returns).

    Raises InvalidURL, storing nothing, for a malformed URL or a port outside 1-65535. A
    target the fetcher refuses (a local name such as "localhost.", a non-public address in
    any spelling, a port outside `PREVIEW_FETCH_ALLOWED_PORTS`) is stored as blocked with
    no fetch. With `strict` (the API and the console) it raises BlockedURL instead and
    stores nothing, after resolving the host the way the fetcher will.
    """
    normal = normalize_url(url)
    blocked = None
    try:
        check_url(normal, resolve=strict)
    except BlockedURL as exc:
        if strict:
            raise
        blocked = exc
    preview, _ = LinkPreview.objects.get_or_create(url=normal)
    if blocked is not None:
        if preview.status != LinkPreview.Status.BLOCKED:
            _record_failure(preview, LinkPreview.Status.BLOCKED, BLOCKED_MESSAGE, blocked.code)
        return preview, False
    fresh = selectors.is_fresh(preview)
    if not fresh and preview.status != LinkPreview.Status.BLOCKED:
        preview_queue_fetch(preview_id=preview.pk)
        preview.refresh_from_db()  # in-process, the fetch has run by now
        fresh = selectors.is_fresh(preview)
    return preview, fresh


def preview_queue_fetch(*, preview_id: int, force: bool = False) -> bool:
    """Queue one fetch of a preview; a fetch already queued in the last minute is enough,
    unless `force` (the console's "Fetch again now")."""
    from previews.tasks import preview_fetch_task

    if not cache.add(f"previews:queued:{preview_id}", 1, timeout=60) and not force:
        return False
    enqueue_on_commit(preview_fetch_task, preview_id, int(force))
    return True


def _host_slot(host: str):
    """Politeness: at most PREVIEW_HOST_CONCURRENCY fetches to a host at once, and a new
    one no sooner than PREVIEW_HOST_INTERVAL seconds after the last. Raises RetryLater."""
    interval = settings.PREVIEW_HOST_INTERVAL
    if not cache.add(f"previews:host-rate:{host}", 1, timeout=interval):
        raise RetryLater(
            f"{host} was fetched less than {interval}s ago.", countdown=interval, code="host_busy"
        )
    key = f"previews:host-busy:{host}"
    cache.add(key, 0, timeout=settings.PREVIEW_FETCH_LOCK_TTL)
    if cache.incr(key) > settings.PREVIEW_HOST_CONCURRENCY:
        cache.decr(key)
        raise RetryLater(
            f"{host} has enough fetches running.", countdown=interval, code="host_busy"
        )
    return key


def preview_fetch(*, preview_id: int, force: bool = False) -> LinkPreview | None:
    """Fetch, extract and store one preview. One fetch per URL at a time.

    Raises RetryLater when trying again later may succeed; records every other failure on
    the preview (failed or blocked). The merchant's overrides are never touched.
    """
    preview = LinkPreview.objects.filter(pk=preview_id).first()
    if preview is None:
        return None
    if not force and selectors.is_fresh(preview):
        return preview
    lock_key, token = f"previews:fetching:{preview_id}", secrets.token_hex(8)
    if not cache.add(lock_key, token, timeout=settings.PREVIEW_FETCH_LOCK_TTL):
        raise RetryLater("Another fetch of this URL is running.", countdown=5, code="busy")
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
            raise RetryLater(exc.message, code=exc.code) from exc
        return _record_failure(
            preview, LinkPreview.Status.FAILED, exc.message, exc.code, http_status=exc.status_code
        )
    except FetchTimeout as exc:
        raise RetryLater(exc.message, code=exc.code) from exc
    except FetchError as exc:
        if exc.code in TRANSIENT_CODES:
            raise RetryLater(exc.message, code=exc.code) from exc
        return _record_failure(preview, LinkPreview.Status.FAILED, exc.message, exc.code)

    if result.not_modified:
        return _record_unchanged(preview)
    metadata = extract(result.text or "", url=result.final_url)
    return _store(preview, result, metadata)


def _record_failure(preview, status, message, code, *, http_status=None) -> LinkPreview:
    with transaction.atomic(durable=True):
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
        preview.save(update_fields=FAILURE_FIELDS)
        transaction.on_commit(lambda: selectors.forget(preview.url))
    return preview


def preview_mark_failed(
    *, preview_id: int, message: str, code: str = "gave_up"
) -> LinkPreview | None:
    """Record that the fetch gave up after its last retry (a timeout, a 5xx, a host that
    does not answer), with the reason.

    A preview never fetched becomes Failed. One that was fetched before keeps its data and
    its card (a site that is down for an hour should not lose its card) and records the
    error. Either way it is tried again after `PREVIEW_RETRY_FAILED_AFTER`. A blocked
    preview stays blocked.
    """
    with transaction.atomic(durable=True):
        preview = LinkPreview.objects.select_for_update().filter(pk=preview_id).first()
        if preview is None or preview.status == LinkPreview.Status.BLOCKED:
            return preview
        if preview.status != LinkPreview.Status.OK:
            preview.status = LinkPreview.Status.FAILED
            preview.http_status = None
        preview.error = message[:500]
        preview.error_code = (code or "gave_up")[:40]
        preview.fetched_at = timezone.now()
        preview.next_refresh_at = timezone.now() + timedelta(
            seconds=settings.PREVIEW_RETRY_FAILED_AFTER
        )
        preview.save(update_fields=FAILURE_FIELDS)
        transaction.on_commit(lambda: selectors.forget(preview.url))
    logger.info("preview.fetch.gave_up", extra={"preview_id": preview_id, "code": code})
    return preview


def preview_fetch_gave_up(preview_id: int, force: int = 0, *, error, attempts: int) -> None:
    """The `previews.fetch` job's give-up hook (see core/jobs.py)."""
    if isinstance(error, RetryLater) and error.code == "busy":
        return  # another fetch of this URL holds the lock and records its own outcome
    preview_mark_failed(
        preview_id=preview_id,
        message=f"{error_message(error)} Gave up after {attempts} attempts.",
        code=getattr(error, "code", "") or "gave_up",
    )


def _record_unchanged(preview: LinkPreview) -> LinkPreview:
    with transaction.atomic(durable=True):
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
    with transaction.atomic(durable=True):
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
        preview.save(update_fields=SCRAPED_FIELDS)
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
    ).order_by("next_refresh_at")
    ids = list(due.values_list("pk", flat=True)[:limit])
    return sum(preview_queue_fetch(preview_id=preview_id) for preview_id in ids)


# --- the merchant's card -------------------------------------------------------------------


def _clean_override_text(value, field: str, errors: dict) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[field] = ["Enter text."]
        return None
    text = " ".join(value.split()) if field == "title" else value.strip()
    if any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        errors[field] = ["The text contains control characters."]
    limit = OVERRIDE_LIMITS[field]
    if len(text) > limit:
        errors[field] = [f"At most {limit} characters (this has {len(text)})."]
    return text


def _override_cards(upload, errors: dict) -> list[images.ProcessedImage]:
    """The card images made from the merchant's upload: checked under the upload limits,
    re-encoded and cropped like scraped images, so a card never shows a file as sent."""
    try:
        processed = images.process_upload(upload)
        return images.cover_images(processed.content, CARD_SIZES)
    except ValidationError as exc:
        errors["image"] = exc.messages
        return []


def preview_override_check(
    *, title: str | None = None, description: str | None = None, image=None
) -> None:
    """Raise ApplicationError naming each field that `preview_override` would refuse."""
    errors: dict = {}
    _clean_override_text(title, "title", errors)
    _clean_override_text(description, "description", errors)
    if image is not None:
        _override_cards(image, errors)
    if errors:
        raise ApplicationError(_errors_text(errors), code="invalid", fields=errors)


def _errors_text(errors: dict) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())


def preview_override(
    *,
    preview_id: int,
    actor,
    title: str | None = None,
    description: str | None = None,
    image=None,
    clear_image: bool = False,
) -> LinkPreview:
    """Set what a preview's card shows instead of what was scraped.

    `title` and `description` replace the scraped ones ("" goes back to the scraped value;
    None leaves the field as it is); `image` (an uploaded file) is checked, re-encoded and
    cropped to the card sizes; `clear_image` goes back to the scraped image. Refreshes
    never change these. Raises ApplicationError naming the field, and changes nothing, for
    text that is too long or a file that is not a usable image.
    """
    errors: dict = {}
    title = _clean_override_text(title, "title", errors)
    description = _clean_override_text(description, "description", errors)
    cards = _override_cards(image, errors) if image is not None else []
    if errors:
        raise ApplicationError(_errors_text(errors), code="invalid", fields=errors)
    # Not durable: the console saves it inside the admin's own transaction.
    with transaction.atomic():
        preview = LinkPreview.objects.select_for_update().filter(pk=preview_id).first()
        if preview is None:
            raise ApplicationError("There is no such preview.", code="not_found")
        fields = ["overridden_by", "overridden_at", "updated_at"]
        if title is not None:
            preview.title_override = title
            fields.append("title_override")
        if description is not None:
            preview.description_override = description
            fields.append("description_override")
        if cards or clear_image:
            old = [preview.image_override.name, preview.image_override_small.name]
            preview.image_override = preview.image_override_small = ""
            if cards:
                large, small = cards
                token = secrets.token_hex(4)  # a new name: caches never show the old image
                preview.image_override.save(
                    f"card-{preview.pk}-own-{token}.{large.extension}",
                    ContentFile(large.content),
                    save=False,
                )
                preview.image_override_small.save(
                    f"card-{preview.pk}-own-{token}-small.{small.extension}",
                    ContentFile(small.content),
                    save=False,
                )
            fields += ["image_override", "image_override_small"]
            transaction.on_commit(lambda: _delete_files(old))
        preview.overridden_by = actor if getattr(actor, "pk", None) else None
        preview.overridden_at = timezone.now()
        preview.save(update_fields=fields)
        transaction.on_commit(lambda: selectors.forget(preview.url))
    logger.info("preview.overridden", extra={"preview_id": preview_id, "fields": fields[3:]})
    return preview


def _delete_files(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        if name:
            default_storage.delete(name)
