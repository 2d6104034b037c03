"""Every write to UGC: ingestion, moderation, rights, product mappings, media and metrics.

Moderation moves only through `ALLOWED`. Each transition locks the item row, checks the
move, and writes a ModerationEvent in the same transaction. Writes that touch an item's
rights or mappings lock the item row first too, so they serialise with publishing.
"""

import contextlib
import hashlib
import io
import logging
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import PurePath

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.crypto import salted_hmac
from PIL import Image

from core import images
from core.errors import ApplicationError
from core.jobs import enqueue_on_commit
from links.selectors import allowed_domains
from ugc import feed_services, media
from ugc.models import (
    BlocklistEntry,
    ModerationEvent,
    RejectionReason,
    UGCItem,
    UGCProductMap,
    UGCRights,
)
from ugc.selectors import rights_valid_q

logger = logging.getLogger(__name__)

Status = UGCItem.Status

# The moderation state machine: (current status, action) -> new status. Nothing else moves.
ALLOWED: dict[tuple[str, str], str] = {
    (Status.QUEUED, "claim"): Status.REVIEWING,
    (Status.QUEUED, "auto_reject"): Status.REJECTED,  # the blocklist, at ingestion
    (Status.REVIEWING, "release"): Status.QUEUED,  # a stale claim
    (Status.REVIEWING, "approve"): Status.APPROVED,
    (Status.REVIEWING, "reject"): Status.REJECTED,
    (Status.REVIEWING, "requeue"): Status.QUEUED,
    (Status.REJECTED, "requeue"): Status.QUEUED,
    (Status.APPROVED, "publish"): Status.PUBLISHED,
    (Status.PUBLISHED, "archive"): Status.ARCHIVED,
}

BLOCKED_TERM_REASON = "Blocked term"
NEAR_DUPLICATE_DISTANCE = 6  # bits of 64 in the dHash
MIN_ASPECT, MAX_ASPECT = 0.5, 2.0  # 1:2 portrait to 2:1 landscape
# The display copy is 1080 wide at most (a phone screen); the tallest allowed shape fits too.
DISPLAY_BOX = (1080, int(1080 / MIN_ASPECT))
PREVIEW_BOX = (256, 256)  # decoded at ingestion: enough for the check and the dHash


def media_folder(item_id: int) -> str:
    """Where an item's public copies live: `ugc/<id>-<token>`, the token a keyed hash of the
    id, so that the same folder is rewritten by a second run of the job but nobody can walk
    the ids to find copies of items that were never published."""
    token = salted_hmac("ugc.media_folder", str(item_id)).hexdigest()[:20]
    return f"ugc/{item_id}-{token}"


def _manifest_files(manifest: dict) -> list[str]:
    names = [(manifest.get(key) or {}).get("name") for key in ("display", "thumbnail")]
    names += [rendition.get("name") for rendition in manifest.get("renditions") or []]
    return [name for name in names if name]


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("ugc.media_delete_failed", extra={"file": name})


def _withdraw_media(item: UGCItem) -> None:
    """An archived item's public copies are deleted once the archive commits (its rights may
    have been revoked); the private original stays for the record."""
    files = _manifest_files(item.media_manifest or {})
    item.media_manifest = {"status": "withdrawn", "at": timezone.now().isoformat()}
    if files:
        transaction.on_commit(lambda: _delete_files(files))


def claim_timeout() -> timedelta:
    return timedelta(seconds=settings.UGC_CLAIM_TIMEOUT)


# ---------------------------------------------------------------------------------------
# Moderation
# ---------------------------------------------------------------------------------------


def _lock(item_id: int) -> UGCItem:
    try:
        return UGCItem.objects.select_for_update().get(pk=item_id)
    except UGCItem.DoesNotExist:
        raise ApplicationError(f"UGC item #{item_id} does not exist.", code="not_found") from None


def _target(item: UGCItem, action: str) -> str:
    """The status `action` leads to from the item's status, or ApplicationError."""
    to_status = ALLOWED.get((item.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action.replace('_', ' ')} item #{item.pk}: it is {item.status}.",
            code="invalid_transition",
        )
    return to_status


def _event(item: UGCItem, *, action: str, actor, from_status: str, reason: str = "", at=None):
    return ModerationEvent.objects.create(
        item=item,
        actor=actor,
        at=at or timezone.now(),
        from_status=from_status,
        to_status=item.status,
        action=action,
        reason=reason,
    )


def _apply(item: UGCItem, action: str, *, actor, reason: str = "", at=None) -> UGCItem:
    """Move a locked item along `action`, save it and audit the move."""
    from_status = item.status
    item.status = _target(item, action)
    if item.status == Status.ARCHIVED:
        _withdraw_media(item)
    item.save()
    _event(item, action=action, actor=actor, from_status=from_status, reason=reason, at=at)
    logger.info(
        "ugc.transition",
        extra={"item_id": item.pk, "action": action, "from": from_status, "to": item.status},
    )
    return item


def _clear_claim(item: UGCItem) -> None:
    item.claimed_by = None
    item.claimed_at = None


def _claim_is_stale(item: UGCItem, now: datetime) -> bool:
    return (
        item.claimed_by_id is None
        or item.claimed_at is None
        or (item.claimed_at < now - claim_timeout())
    )


def _release(item: UGCItem, *, now: datetime) -> None:
    held = int((now - item.claimed_at).total_seconds()) if item.claimed_at else 0
    _clear_claim(item)
    _apply(
        item,
        "release",
        actor=None,
        at=now,
        reason=f"Claim released after {held} s (timeout {int(claim_timeout().total_seconds())} s).",
    )


def _require_claimer(item: UGCItem, moderator) -> None:
    if item.claimed_by_id != moderator.pk:
        raise ApplicationError(
            f"Item #{item.pk} is claimed by another moderator; claim it before deciding.",
            code="not_claimer",
        )


def ugc_claim(*, item_id: int, moderator) -> UGCItem:
    """Claim a queued item for review. Of two moderators claiming at once, one wins.

    A claim older than UGC_CLAIM_TIMEOUT seconds is released and can be taken over.
    Claiming an item one already holds changes nothing.
    """
    with transaction.atomic():
        item = _lock(item_id)
        now = timezone.now()
        if item.status == Status.REVIEWING:
            if item.claimed_by_id == moderator.pk:
                return item
            if not _claim_is_stale(item, now):
                raise ApplicationError(
                    f"Item #{item.pk} is already being reviewed by another moderator.",
                    code="already_claimed",
                )
            _release(item, now=now)
        _target(item, "claim")
        item.claimed_by = moderator
        item.claimed_at = now
        return _apply(item, "claim", actor=moderator, at=now)


def ugc_release_stale_claims(*, limit: int = 500) -> int:
    """Put items whose claim outlived the timeout back in the queue. Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        stale = list(
            UGCItem.objects.filter(status=Status.REVIEWING, claimed_at__lt=now - claim_timeout())
            .order_by("pk")
            .select_for_update(skip_locked=True)[:limit]
        )
        for item in stale:
            _release(item, now=now)
    if stale:
        logger.info("ugc.claims_released", extra={"count": len(stale)})
    return len(stale)


def ugc_approve(*, item_id: int, moderator, note: str = "") -> UGCItem:
    with transaction.atomic():
        item = _lock(item_id)
        _target(item, "approve")
        _require_claimer(item, moderator)
        _clear_claim(item)
        return _apply(item, "approve", actor=moderator, reason=note)


def _active_reason(reason) -> RejectionReason:
    if reason is None or reason == "":
        raise ApplicationError(
            "Choose a rejection reason.",
            code="reason_required",
            fields={"reason": ["Choose a rejection reason from the list."]},
        )
    pk = reason.pk if isinstance(reason, RejectionReason) else reason
    found = RejectionReason.objects.filter(pk=pk, active=True).first()
    if found is None:
        raise ApplicationError(
            "This rejection reason does not exist or is no longer in use.",
            code="invalid_reason",
            fields={"reason": ["Choose an active rejection reason."]},
        )
    return found


def ugc_reject(*, item_id: int, moderator, reason, note: str = "") -> UGCItem:
    """Reject a claimed item with a reason from the merchant's list and optional free text."""
    with transaction.atomic():
        item = _lock(item_id)
        _target(item, "reject")
        _require_claimer(item, moderator)
        reason = _active_reason(reason)
        note = (note or "").strip()
        _clear_claim(item)
        item.rejection_reason = reason
        item.rejection_note = note
        why = f"{reason.label}: {note}" if note else reason.label
        return _apply(item, "reject", actor=moderator, reason=why)


def ugc_requeue(*, item_id: int, actor, reason: str = "") -> UGCItem:
    """Send a rejected item, or one under review, back to the queue."""
    with transaction.atomic():
        item = _lock(item_id)
        _target(item, "requeue")
        _clear_claim(item)
        item.rejection_reason = None
        item.rejection_note = ""
        return _apply(item, "requeue", actor=actor, reason=reason)


def rights_problem(rights: UGCRights | None, *, now: datetime, channel: str = "site"):
    """Why `rights` do not allow showing an item on `channel` now: (code, message) or None."""
    if rights is None:
        return "no_rights", "No rights have been granted for this item."
    if rights.revoked_at:
        return "rights_revoked", f"The rights were revoked on {rights.revoked_at:%Y-%m-%d %H:%M}."
    if rights.expires_at and rights.expires_at <= now:
        return "rights_expired", f"The rights expired on {rights.expires_at:%Y-%m-%d %H:%M}."
    if rights.starts_at and rights.starts_at > now:
        return "rights_not_started", f"The rights start on {rights.starts_at:%Y-%m-%d %H:%M}."
    if channel not in (rights.allowed_channels or []):
        return "channel_not_allowed", f"The rights do not allow the {channel} channel."
    return None


def publish_blockers(item: UGCItem, *, now: datetime | None = None) -> list[tuple[str, str]]:
    """Every unmet publishing requirement as (code, message); empty when it may publish."""
    now = now or timezone.now()
    blockers = []
    problem = rights_problem(UGCRights.objects.filter(item_id=item.pk).first(), now=now)
    if problem:
        blockers.append(problem)
    if not UGCProductMap.objects.filter(item_id=item.pk, product__active=True).exists():
        blockers.append(("no_product_mapping", "Map the item to at least one active product."))
    if (item.media_manifest or {}).get("status") != "ready":
        blockers.append(("media_not_ready", "The item's media has not been processed yet."))
    return blockers


def ugc_publish(*, item_id: int, actor) -> UGCItem:
    """Publish an approved item: it needs valid site rights, a product mapping and media."""
    with transaction.atomic():
        item = _lock(item_id)
        _target(item, "publish")
        now = timezone.now()
        blockers = publish_blockers(item, now=now)
        if blockers:
            code, message = blockers[0]
            raise ApplicationError(
                f"Item #{item.pk} cannot be published: {message}",
                code=code,
                fields={"publish": [m for _, m in blockers]},
            )
        item.published_at = now
        _apply(item, "publish", actor=actor, at=now)
        _make_card_links(item)
        return item


def _make_card_links(item: UGCItem) -> None:
    """The feed card's short link for each product a published item is mapped to."""
    allowed = allowed_domains()
    products = {m.product_id: m.product for m in item.product_maps.select_related("product")}
    for product in products.values():
        feed_services.ugc_item_link_get_or_create(item=item, product=product, allowed=allowed)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Say why.", code="reason_required", fields={"reason": ["Give a reason."]}
        )
    return reason


def ugc_archive(*, item_id: int, actor, reason: str) -> UGCItem:
    reason = _require_reason(reason)
    with transaction.atomic():
        item = _lock(item_id)
        return _apply(item, "archive", actor=actor, reason=reason)


def ugc_archive_expired_rights() -> int:
    """The daily job: archive published items whose rights no longer allow the site."""
    now = timezone.now()
    valid = UGCRights.objects.filter(rights_valid_q(now=now)).values("item_id")
    with transaction.atomic():
        items = list(
            UGCItem.objects.filter(status=Status.PUBLISHED)
            .exclude(pk__in=valid)
            .order_by("pk")
            .select_for_update()
        )
        for item in items:
            rights = UGCRights.objects.filter(item_id=item.pk).first()
            code, message = rights_problem(rights, now=now) or ("rights_invalid", "")
            _apply(item, "archive", actor=None, at=now, reason=f"{code}: {message}")
    if items:
        logger.info("ugc.archived_for_rights", extra={"count": len(items)})
    return len(items)


# ---------------------------------------------------------------------------------------
# Rights and product mappings
# ---------------------------------------------------------------------------------------


def ugc_rights_grant(
    *,
    item_id: int,
    consent_method: str,
    allowed_channels: list[str],
    granted_by=None,
    licence_type: str = "",
    starts_at: datetime | None = None,
    expires_at: datetime | None = None,
    proof_file=None,
    proof_url: str = "",
    proof_text: str = "",
) -> UGCRights:
    """Record (or replace) the rights for an item. A new grant clears an earlier revocation."""
    with transaction.atomic():
        item = _lock(item_id)
        rights = UGCRights.objects.filter(item=item).first() or UGCRights(item=item)
        rights.consent_method = consent_method
        rights.allowed_channels = list(allowed_channels or [])
        rights.licence_type = licence_type
        rights.starts_at = starts_at
        rights.expires_at = expires_at
        rights.proof_url = proof_url
        rights.proof_text = proof_text
        if proof_file is not None:
            rights.proof_file = proof_file
        rights.revoked_at = None
        rights.revoke_reason = ""
        rights.granted_at = timezone.now()
        rights.granted_by = granted_by
        rights.full_clean()
        rights.save()
        until = f" until {expires_at:%Y-%m-%d %H:%M}" if expires_at else ""
        _event(
            item,
            action="rights_grant",
            actor=granted_by,
            from_status=item.status,
            reason=f"{rights.get_consent_method_display()} for "
            f"{', '.join(rights.allowed_channels) or 'no channels'}{until}.",
        )
        problem = rights_problem(rights, now=rights.granted_at)
        if item.status == Status.PUBLISHED and problem:
            # New terms that no longer cover the site take the item down at once.
            _apply(item, "archive", actor=granted_by, reason=f"{problem[0]}: {problem[1]}")
    return rights


def ugc_rights_revoke(*, item_id: int, actor, reason: str) -> UGCRights:
    """Revoke an item's rights; a published item is archived at once, with the reason."""
    reason = _require_reason(reason)
    with transaction.atomic():
        item = _lock(item_id)
        rights = UGCRights.objects.select_for_update().filter(item=item).first()
        if rights is None:
            raise ApplicationError(f"Item #{item.pk} has no rights to revoke.", code="no_rights")
        if rights.revoked_at:
            return rights
        now = timezone.now()
        rights.revoked_at = now
        rights.revoke_reason = reason
        rights.save(update_fields=["revoked_at", "revoke_reason"])
        _event(
            item,
            action="rights_revoke",
            actor=actor,
            from_status=item.status,
            reason=reason,
            at=now,
        )
        if item.status == Status.PUBLISHED:
            _apply(item, "archive", actor=actor, at=now, reason=f"rights_revoked: {reason}")
    return rights


def ugc_map_product(
    *,
    item_id: int,
    product=None,
    variant=None,
    placement: str = UGCProductMap.Placement.PRODUCT_PAGE,
    confidence: Decimal | int | str = 1,
    pinned: bool = False,
    position: int = 0,
    actor=None,
) -> UGCProductMap:
    """Map an item to a product (or one of its variants) in a placement; updates a mapping."""
    if product is None and variant is not None:
        product = variant.product
    if product is None:
        raise ApplicationError(
            "Choose a product.", code="invalid", fields={"product": ["Choose a product."]}
        )
    if variant is not None and variant.product_id != product.pk:
        raise ApplicationError(
            "This variant belongs to another product.",
            code="variant_mismatch",
            fields={"variant": ["This variant belongs to another product."]},
        )
    with transaction.atomic():
        item = _lock(item_id)
        mapping = UGCProductMap.objects.filter(
            item=item, product=product, placement=placement
        ).first() or UGCProductMap(item=item, product=product, placement=placement)
        mapping.variant = variant
        mapping.confidence = Decimal(str(confidence))
        mapping.pinned = pinned
        mapping.position = position
        mapping.full_clean()
        mapping.save()
        if item.status == Status.PUBLISHED:
            feed_services.ugc_item_link_get_or_create(item=item, product=product)
        _event(
            item,
            action="map_product",
            actor=actor,
            from_status=item.status,
            reason=f"{product} ({mapping.get_placement_display()})",
        )
    return mapping


def ugc_unmap_product(*, mapping_id: int, actor=None) -> None:
    """Remove a mapping. A published item keeps at least one: archive it first."""
    with transaction.atomic():
        mapping = UGCProductMap.objects.select_related("product").filter(pk=mapping_id).first()
        if mapping is None:
            return
        item = _lock(mapping.item_id)
        others = UGCProductMap.objects.filter(item=item, product__active=True).exclude(
            pk=mapping.pk
        )
        if item.status == Status.PUBLISHED and not others.exists():
            raise ApplicationError(
                f"Item #{item.pk} is published and this is its only mapping to an active "
                "product; archive the item before removing it.",
                code="mapping_required",
            )
        mapping.delete()
        _event(
            item,
            action="unmap_product",
            actor=actor,
            from_status=item.status,
            reason=f"{mapping.product} ({mapping.get_placement_display()})",
        )


# ---------------------------------------------------------------------------------------
# The merchant's lists: rejection reasons and the blocklist
# ---------------------------------------------------------------------------------------


def rejection_reason_save(*, reason: RejectionReason) -> RejectionReason:
    """Add or change a rejection reason. Reasons are turned off, never deleted."""
    reason.label = (reason.label or "").strip()
    reason.full_clean()
    reason.save()
    return reason


def blocklist_entry_save(*, entry: BlocklistEntry) -> BlocklistEntry:
    """Add or change a blocklist entry; it applies to content ingested from now on."""
    entry.full_clean()  # trims the term and a handle's "@"; refuses an empty or repeated one
    entry.save()
    logger.info("ugc.blocklist_saved", extra={"entry_id": entry.pk, "kind": entry.kind})
    return entry


# ---------------------------------------------------------------------------------------
# Ingestion: type sniffing, hashes, duplicates, the blocklist
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sniffed:
    media_type: str
    extension: str
    content_type: str


_VIDEO_TYPES = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
}


def sniff(header: bytes) -> Sniffed | None:
    """The media type from the file's first bytes (never its name)."""
    image = UGCItem.MediaType.IMAGE
    if header.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(image, "png", "image/png")
    if header.startswith(b"\xff\xd8\xff"):
        return Sniffed(image, "jpg", "image/jpeg")
    if header[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed(image, "gif", "image/gif")
    if header[:4] == b"RIFF" and header[8:12] == b"WEBP":
        return Sniffed(image, "webp", "image/webp")
    container = media.sniff_video(header)
    if container:
        return Sniffed(UGCItem.MediaType.VIDEO, container, _VIDEO_TYPES[container])
    return None


def perceptual_hash(image: Image.Image) -> str:
    """dHash: 9×8 grayscale, one bit per horizontal neighbour pair, as 16 hex digits."""
    small = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    pixels = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (left > right)
    return f"{bits:016x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass
class InspectedMedia:
    sniffed: Sniffed
    sha256: str
    perceptual_hash: str
    content: File
    width: int = 0
    height: int = 0


def _media_error(message: str, code: str) -> ApplicationError:
    return ApplicationError(message, code=code, fields={"media_file": [message]})


def inspect_media(media_file) -> InspectedMedia:
    """Check a file and hash it: a decodable image within limits, or a known video container."""
    media_file.seek(0)
    header = media_file.read(media.SNIFF_BYTES)
    media_file.seek(0)
    if not header:
        raise _media_error("The file is empty.", "media_empty")
    sniffed = sniff(header)
    if sniffed is None:
        raise _media_error(
            "The file is neither a supported image (JPEG, PNG, WebP, GIF) "
            "nor a supported video (MP4, MOV, WebM, MKV).",
            "media_unsupported",
        )
    if sniffed.media_type == UGCItem.MediaType.VIDEO:
        return _inspect_video(media_file, sniffed)
    return _inspect_image(media_file, sniffed)


def _inspect_image(media_file, sniffed: Sniffed) -> InspectedMedia:
    media_file.seek(0)
    data = media_file.read(settings.IMAGE_MAX_UPLOAD_BYTES + 1)
    if len(data) > settings.IMAGE_MAX_UPLOAD_BYTES:
        raise _media_error(
            f"The image is larger than {settings.IMAGE_MAX_UPLOAD_BYTES:,} bytes.",
            "media_too_large",
        )
    try:  # the pixel limit, then a full decode (at reduced scale for JPEGs)
        preview, width, height = images.decoded_preview(data, PREVIEW_BOX)
    except ValidationError as exc:
        raise _media_error(exc.messages[0], exc.code or "media_invalid") from exc
    min_side = settings.UGC_IMAGE_MIN_SIDE
    if min(width, height) < min_side:
        raise _media_error(
            f"The image is {width}×{height} pixels; each side must be at least {min_side}.",
            "media_too_small",
        )
    if not MIN_ASPECT <= width / height <= MAX_ASPECT:
        raise _media_error(
            f"The image's aspect ratio {width / height:.2f} is outside "
            f"{MIN_ASPECT}–{MAX_ASPECT} (1:2 portrait to 2:1 landscape).",
            "media_aspect_ratio",
        )
    return InspectedMedia(
        sniffed=sniffed,
        sha256=hashlib.sha256(data).hexdigest(),
        perceptual_hash=perceptual_hash(preview),
        content=ContentFile(data),
        width=width,
        height=height,
    )


def _inspect_video(media_file, sniffed: Sniffed) -> InspectedMedia:
    """Hash the video under the size cap, then probe it: length, size and shape are checked
    here, at ingestion, so a bad video is refused before it is stored."""
    limit = settings.UGC_VIDEO_MAX_BYTES
    digest = hashlib.sha256()
    size = 0
    media_file.seek(0)
    with tempfile.NamedTemporaryFile(suffix=f".{sniffed.extension}") as tmp:
        while chunk := media_file.read(1024 * 1024):
            size += len(chunk)
            if size > limit:
                raise _media_error(f"The video is larger than {limit:,} bytes.", "media_too_large")
            digest.update(chunk)
            tmp.write(chunk)
        tmp.flush()
        try:
            info = media.probe_video(tmp.name)
            media.check_video(info)
        except media.MediaError as exc:
            raise _media_error(exc.message, f"media_{exc.code}") from exc
    media_file.seek(0)
    return InspectedMedia(
        sniffed=sniffed,
        sha256=digest.hexdigest(),
        perceptual_hash="",
        content=media_file,
        width=info.width,
        height=info.height,
    )


def duplicate_flags(*, sha256: str, phash: str, exclude_pk=None) -> list[dict]:
    """Flags for an exact copy (same bytes) or a near copy (dHash within 6 bits)."""
    others = UGCItem.objects.exclude(pk=exclude_pk) if exclude_pk else UGCItem.objects.all()
    same = others.filter(file_sha256=sha256).order_by("pk").values_list("pk", flat=True).first()
    if same:
        return [{"code": "duplicate", "detail": f"same file as item {same}"}]
    if not phash:
        return []
    candidates = others.exclude(perceptual_hash="")
    if connection.vendor == "postgresql":
        closest = _closest_hash_in_sql(candidates, phash)
    else:
        closest = _closest_hash_in_python(candidates, phash)
    if closest and closest[1] > NEAR_DUPLICATE_DISTANCE:
        closest = None
    if closest:
        return [
            {
                "code": "near_duplicate",
                "detail": f"looks like item {closest[0]} (distance {closest[1]})",
            }
        ]
    return []


# PostgreSQL counts the differing bits itself (bit_count, PostgreSQL 14+): one pass in C over
# the hashes instead of sending them all to Python.
_HASH_DISTANCE_SQL = "bit_count(('x' || perceptual_hash)::bit(64) # ('x' || %s)::bit(64))"


def _closest_hash_in_sql(candidates, phash: str) -> tuple[int, int] | None:
    row = (
        candidates.annotate(distance=RawSQL(_HASH_DISTANCE_SQL, [phash]))  # noqa: S611
        .order_by("distance", "pk")
        .values_list("pk", "distance")
        .first()
    )
    return (row[0], int(row[1])) if row else None


def _closest_hash_in_python(candidates, phash: str) -> tuple[int, int] | None:
    """The same search for the embedded SQLite default."""
    closest = None
    for pk, other in (
        candidates.values_list("pk", "perceptual_hash").order_by("pk").iterator(chunk_size=2000)
    ):
        distance = hamming(phash, other)
        if closest is None or distance < closest[1]:
            closest = (pk, distance)
    return closest


def normalize_text(value: str) -> str:
    """NFKC (full-width letters, ligatures, composed accents) and case folding."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value or "").casefold())


def _normalize_handle(value: str) -> str:
    return normalize_text(value).strip().lstrip("@")


@dataclass(frozen=True)
class BlocklistHit:
    entry_id: int
    action: str
    detail: str


def blocklist_hits(*, caption: str = "", author_handle: str = "") -> list[BlocklistHit]:
    """Active blocklist entries the caption (whole words) or the handle (exactly) match."""
    text = normalize_text(caption)
    handle = _normalize_handle(author_handle)
    hits = []
    for entry in BlocklistEntry.objects.filter(active=True).order_by("pk"):
        if entry.kind == BlocklistEntry.Kind.HANDLE:
            term = _normalize_handle(entry.term)
            if term and term == handle:
                hits.append(BlocklistHit(entry.pk, entry.action, f"blocked handle @{entry.term}"))
        else:
            term = normalize_text(entry.term).strip()
            if term and re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text):
                hits.append(BlocklistHit(entry.pk, entry.action, f"blocked word “{entry.term}”"))
    return hits


def _blocked_term_reason() -> RejectionReason:
    """The system's reason for auto-rejections, made on first use (two ingestions may race)."""
    found = RejectionReason.objects.filter(label__iexact=BLOCKED_TERM_REASON).first()
    if found:
        return found
    try:
        with transaction.atomic():
            return RejectionReason.objects.create(label=BLOCKED_TERM_REASON)
    except IntegrityError:
        return RejectionReason.objects.get(label__iexact=BLOCKED_TERM_REASON)


def _media_task():
    # The task module imports this one; look it up late to avoid a cycle.
    from ugc.tasks import process_media

    return process_media


def ugc_ingest(
    *,
    source: str,
    media_file,
    caption: str = "",
    author_handle: str = "",
    creator=None,
    external_id: str = "",
    rights: dict | None = None,
    actor=None,
) -> UGCItem:
    """Take in one piece of content from any source; the one way items are created.

    Idempotent by (source, external_id): the existing item is returned. The file's type is
    sniffed from its content; images are decoded under the pixel limit. Duplicates and
    blocklisted words or handles are flagged (or rejected, per the blocklist entry), the
    original is stored, and the media job is queued once the transaction commits.
    `rights` holds the keyword arguments of `ugc_rights_grant` (without `item_id`).
    """
    if source not in UGCItem.Source.values:
        raise ApplicationError(
            f"Unknown source {source!r}.",
            code="invalid",
            fields={"source": [f"Choose one of {', '.join(UGCItem.Source.values)}."]},
        )
    external_id = (external_id or "").strip()
    if external_id:
        existing = UGCItem.objects.filter(source=source, external_id=external_id).first()
        if existing is not None:
            return existing
    media = inspect_media(media_file)
    hits = blocklist_hits(caption=caption, author_handle=author_handle)
    item = UGCItem(
        source=source,
        external_id=external_id,
        author_handle=(author_handle or "").strip().lstrip("@"),
        creator=creator,
        caption=caption or "",
        media_type=media.sniffed.media_type,
        content_type=media.sniffed.content_type,
        file_sha256=media.sha256,
        perceptual_hash=media.perceptual_hash,
    )
    item.flags = duplicate_flags(sha256=media.sha256, phash=media.perceptual_hash) + [
        {"code": "blocklist", "detail": hit.detail, "action": hit.action} for hit in hits
    ]
    name = images.stored_name(getattr(media_file, "name", "") or "", media.sniffed.extension)
    stored = False
    try:
        with transaction.atomic():
            item.full_clean(exclude=["original"], validate_constraints=False)
            item.original.save(name, media.content, save=False)
            stored = True
            item.save()
            _event(item, action="ingest", actor=actor, from_status="", reason=f"from {source}")
            if rights:
                ugc_rights_grant(item_id=item.pk, **rights)
            rejecting = [hit for hit in hits if hit.action == BlocklistEntry.Action.REJECT]
            if rejecting:
                item.rejection_reason = _blocked_term_reason()
                item.rejection_note = "; ".join(hit.detail for hit in rejecting)
                _apply(item, "auto_reject", actor=None, reason=item.rejection_note)
            enqueue_on_commit(_media_task(), item.pk)
    except IntegrityError:
        if stored:
            item.original.delete(save=False)
        existing = None
        if external_id:  # a concurrent ingestion of the same post won
            existing = UGCItem.objects.filter(source=source, external_id=external_id).first()
        if existing is None:
            raise
        return existing
    except Exception:
        if stored:
            item.original.delete(save=False)
        raise
    logger.info(
        "ugc.ingested",
        extra={"item_id": item.pk, "source": source, "flags": item.flag_codes},
    )
    return item


# ---------------------------------------------------------------------------------------
# Media processing (run by the `ugc.process_media` task)
# ---------------------------------------------------------------------------------------


class MediaProcessingError(Exception):
    """Processing failed for a reason that may pass (storage, ffmpeg); the task retries."""


@contextlib.contextmanager
def _local_path(field_file):
    """A filesystem path for a stored file (a temporary copy for remote storage)."""
    try:
        yield field_file.path
        return
    except NotImplementedError:
        pass
    suffix = PurePath(field_file.name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp, field_file.open("rb") as src:
        while chunk := src.read(1024 * 1024):
            tmp.write(chunk)
        tmp.flush()
        yield tmp.name


def _store(name: str, content: bytes) -> str:
    """Store at exactly `name`, replacing an earlier copy (the job may run twice)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(content))


def _image_manifest(item: UGCItem) -> dict:
    with item.original.open("rb") as fh:
        data = fh.read()
    display, thumb = images.renditions(data, [DISPLAY_BOX, images.THUMBNAIL_BOX])
    base = media_folder(item.pk)
    return {
        "status": "ready",
        "kind": "image",
        "width": display.width,
        "height": display.height,
        "aspect": round(display.width / display.height, 4),
        "display": {
            "name": _store(f"{base}/display.{display.extension}", display.content),
            "content_type": display.content_type,
            "width": display.width,
            "height": display.height,
        },
        "thumbnail": {
            "name": _store(f"{base}/thumb.{thumb.extension}", thumb.content),
            "width": thumb.width,
            "height": thumb.height,
        },
    }


def _video_manifest(item: UGCItem) -> dict:
    """Poster, thumbnail and H.264 renditions made by ffmpeg (`ugc.media`), then stored."""
    base = media_folder(item.pk)
    with _local_path(item.original) as path, tempfile.TemporaryDirectory() as out_dir:
        made = media.process_video(path, out_dir=out_dir)
        with open(PurePath(out_dir, made["poster"]), "rb") as fh:
            poster = fh.read()
        renditions = []
        for rendition in made["renditions"]:
            with open(PurePath(out_dir, rendition["file"]), "rb") as fh:
                name = _store(f"{base}/{rendition['file']}", fh.read())
            renditions.append(
                {
                    "label": rendition["name"],
                    "name": name,
                    "content_type": "video/mp4",
                    "width": rendition["width"],
                    "height": rendition["height"],
                    "bytes": rendition["bytes"],
                }
            )
    with Image.open(io.BytesIO(poster)) as opened:
        poster_width, poster_height = opened.size
    thumb, thumb_extension = images.make_thumbnail(poster)
    with Image.open(io.BytesIO(thumb)) as opened:
        thumb_width, thumb_height = opened.size
    return {
        "status": "ready",
        "kind": "video",
        "width": made["width"],
        "height": made["height"],
        "aspect": made["aspect"],
        "duration_s": made["duration_s"],
        "display": {  # the poster frame
            "name": _store(f"{base}/{made['poster']}", poster),
            "content_type": "image/jpeg",
            "width": poster_width,
            "height": poster_height,
        },
        "thumbnail": {
            "name": _store(f"{base}/thumb.{thumb_extension}", thumb),
            "width": thumb_width,
            "height": thumb_height,
        },
        "renditions": renditions,
    }


def _media_settled(item: UGCItem) -> bool:
    """The media job has nothing to do: the media is made, or was withdrawn on archiving."""
    return (item.media_manifest or {}).get("status") in ("ready", "withdrawn")


def _media_failed(item_id: int, detail: str) -> None:
    detail = detail[:500]
    with transaction.atomic():
        item = UGCItem.objects.select_for_update().filter(pk=item_id).first()
        if item is None or _media_settled(item):
            return  # another run made the media meanwhile, or the item was archived
        item.flags = [f for f in item.flags if f.get("code") != "media_error"]
        item.flags.append({"code": "media_error", "detail": detail})
        item.media_manifest = {"status": "failed", "error": detail}
        item.save(update_fields=["flags", "media_manifest", "updated_at"])
    logger.warning("ugc.media_failed", extra={"item_id": item_id, "error": detail})


def ugc_media_retry(*, item_id: int, actor) -> UGCItem:
    """Run the media job again for an item whose media failed or never got made."""
    with transaction.atomic():
        item = _lock(item_id)
        state = (item.media_manifest or {}).get("status")
        if _media_settled(item):
            raise ApplicationError(
                f"Item #{item.pk}'s media is {state}; there is nothing to process again.",
                code="media_settled",
            )
        item.media_manifest = {"status": "pending"}
        item.save(update_fields=["media_manifest", "updated_at"])
        _event(item, action="media_retry", actor=actor, from_status=item.status,
               reason=f"media was {state}")  # fmt: skip
        enqueue_on_commit(_media_task(), item.pk)
    return item


def ugc_media_process(*, item_id: int) -> UGCItem | None:
    """Make an item's media manifest. Safe to run twice; a deleted item is skipped.

    A file that cannot be processed flags the item and leaves the manifest "failed"; other
    errors do the same and raise MediaProcessingError so that the task retries.
    """
    item = UGCItem.objects.filter(pk=item_id).first()
    if item is None:
        logger.info("ugc.media_skipped", extra={"item_id": item_id, "why": "deleted"})
        return None
    if _media_settled(item):
        return item
    try:
        if item.media_type == UGCItem.MediaType.IMAGE:
            manifest = _image_manifest(item)
        else:
            manifest = _video_manifest(item)
    except ValidationError as exc:  # the file itself is bad: another try cannot help
        _media_failed(item_id, exc.messages[0])
        return None
    except media.MediaError as exc:  # refused or undecodable video: the same
        _media_failed(item_id, exc.message)
        return None
    except SoftTimeLimitExceeded:  # too slow to make in the job's time: retrying cannot help
        _media_failed(item_id, "Processing took longer than the job's time limit.")
        return None
    except Exception as exc:
        _media_failed(item_id, f"{type(exc).__name__}: {exc}")
        raise MediaProcessingError(str(exc)) from exc
    with transaction.atomic():
        item = UGCItem.objects.select_for_update().filter(pk=item_id).first()
        if item is None or item.status == Status.ARCHIVED:
            _delete_files(_manifest_files(manifest))  # withdrawn while the job ran
            return item
        item.media_manifest = manifest
        item.flags = [f for f in item.flags if f.get("code") != "media_error"]
        item.save(update_fields=["media_manifest", "flags", "updated_at"])
    logger.info("ugc.media_processed", extra={"item_id": item_id, "status": manifest["status"]})
    return item
