"""Items pulled from social platforms: into the one pipeline, and out when the post is deleted.

`ugc_social_ingest` is what a pull calls for each post that passed its source's filters. The
media is fetched through the safe fetcher (the "image" kind, or the "video" kind with its own
size and time limits), then `ugc_ingest` checks, hashes, flags and queues it like any other
item. De-duplicated twice: by the post's id (the same post pulled again changes nothing and is
not even fetched) and by the bytes (the same file already pulled for this source is not stored
again). `ugc_social_mark_deleted` flags an item whose post the platform deleted, takes it out
of the feed (a published item is archived) and keeps it from being published again.

A TikTok video comes in as its cover image (the Display API gives no video file): the item
is an image, its permalink the video's share URL and `embed_url` TikTok's player for it.
"""

import hashlib
import logging
from datetime import datetime
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from previews.fetch import fetch
from ugc.models import SocialPost, UGCItem
from ugc.services.ingest import inspect_media, ugc_ingest
from ugc.services.moderation import _apply, _event, _lock

logger = logging.getLogger(__name__)

SOCIAL_SOURCES = (UGCItem.Source.INSTAGRAM, UGCItem.Source.TIKTOK)
DELETED_FLAG = "deleted_on_platform"


def _fetch_media(media_url: str, media_type: str) -> ContentFile:
    """The post's file through the safe fetcher; a video by the video kind's own limits."""
    if media_type == UGCItem.MediaType.VIDEO:
        result = fetch(media_url, kind="video", max_bytes=settings.UGC_VIDEO_MAX_BYTES)
    else:
        result = fetch(media_url, kind="image", max_bytes=settings.IMAGE_MAX_UPLOAD_BYTES)
    name = PurePosixPath(urlsplit(result.final_url).path).name or "media"
    return ContentFile(result.content, name=name[:100])


def ugc_social_ingest(
    *,
    source: str,
    external_id: str,
    media_url: str,
    media_type: str,
    caption: str = "",
    author_handle: str = "",
    permalink: str = "",
    posted_at: datetime | None = None,
    pulled_via: str = "",
    min_side: int = 0,
    embed_url: str = "",
) -> tuple[UGCItem, bool]:
    """Take in one pulled post; returns (item, created). Idempotent by post id and by bytes.

    `min_side` is the source's own minimum resolution (ApplicationError `below_min_side`)."""
    if source not in SOCIAL_SOURCES:
        raise ApplicationError(f"{source!r} is not a social source.", code="invalid")
    external_id = (external_id or "").strip()
    if not external_id:
        raise ApplicationError("A pulled post needs its platform id.", code="invalid")
    existing = UGCItem.objects.filter(source=source, external_id=external_id).first()
    if existing is not None:
        return existing, False
    media_file = _fetch_media(media_url, media_type)
    digest = hashlib.sha256(media_file.read()).hexdigest()
    media_file.seek(0)
    if min_side:
        media = inspect_media(media_file)
        media_file.seek(0)
        if min(media.width, media.height) < min_side:
            raise ApplicationError(
                f"The post's media is {media.width}×{media.height}; the source keeps "
                f"{min_side} pixels a side or more.",
                code="below_min_side",
            )
    same_bytes = UGCItem.objects.filter(source=source, file_sha256=digest).order_by("pk").first()
    if same_bytes is not None:  # a repost of the very same file: one item is enough
        logger.info("ugc.social_duplicate", extra={"item_id": same_bytes.pk, "source": source})
        return same_bytes, False
    with transaction.atomic():
        item = ugc_ingest(
            source=source,
            media_file=media_file,
            caption=caption,
            author_handle=author_handle,
            external_id=external_id,
        )
        _, created = SocialPost.objects.get_or_create(
            item=item,
            defaults={
                "permalink": permalink[:2048],
                "posted_at": posted_at,
                "media_url": media_url[:4096],
                "pulled_via": pulled_via[:200],
                "embed_url": embed_url[:2048],
            },
        )
    return item, created


def ugc_social_mark_deleted(*, source: str, external_id: str, at=None) -> bool:
    """The platform deleted the post: flag the item, archive it if published. Once only."""
    item = UGCItem.objects.filter(source=source, external_id=external_id).first()
    if item is None:
        return False
    at = at or timezone.now()
    with transaction.atomic():
        item = _lock(item.pk)
        if DELETED_FLAG in item.flag_codes:
            return False
        SocialPost.objects.update_or_create(item=item, defaults={"deleted_at": at})
        item.flags = [
            *(item.flags or []),
            {"code": DELETED_FLAG, "detail": f"deleted on {item.get_source_display()}"},
        ]
        item.save(update_fields=["flags", "updated_at"])
        _event(
            item, action="deleted_on_platform", actor=None, from_status=item.status, at=at,
            reason=f"The post was deleted on {item.get_source_display()}.",
        )  # fmt: skip
        if item.status == UGCItem.Status.PUBLISHED:
            _apply(item, "archive", actor=None, at=at, reason="deleted_on_platform")
    logger.info("ugc.social_deleted", extra={"item_id": item.pk, "source": source})
    return True
