"""Ingestion: the one way items are created, from any source (`ugc_ingest`).

The file's type is sniffed from its bytes, never its name; images are checked under the pixel
limit and decoded in full at reduced scale, videos probed by ffprobe (`ugc.ffmpeg`). Then
flags: the same bytes or a near perceptual hash (dHash) of an earlier item, and the merchant's
blocklist (words in the caption, handles), which flags or auto-rejects. A refused file stores
nothing; the media job is queued once the ingestion commits.
"""

import hashlib
import logging
import re
import tempfile
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL
from PIL import Image

from core import images
from core.errors import ApplicationError, full_clean
from core.jobs import enqueue_on_commit
from ugc import ffmpeg
from ugc.models import BlocklistEntry, RejectionReason, UGCItem
from ugc.services.media import MAX_ASPECT, MIN_ASPECT, media_task
from ugc.services.moderation import _apply, _event
from ugc.services.rights import ugc_rights_grant

logger = logging.getLogger(__name__)

BLOCKED_TERM_REASON = "Blocked term"
NEAR_DUPLICATE_DISTANCE = 6  # bits of 64 in the dHash
PREVIEW_BOX = (256, 256)  # decoded at ingestion: enough for the check and the dHash


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
    container = ffmpeg.sniff_video(header)
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
    header = media_file.read(ffmpeg.SNIFF_BYTES)
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
            info = ffmpeg.probe_video(tmp.name)
            ffmpeg.check_video(info)
        except ffmpeg.MediaError as exc:
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
            full_clean(item, exclude=["original"], validate_constraints=False)
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
            enqueue_on_commit(media_task(), item.pk)
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
