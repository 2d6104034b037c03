"""Media jobs: the display copy, thumbnail and video renditions of an item (its manifest).

Run by the `ugc.process_media` task (`ugc_media_process`), safe to run twice. Images are
decoded once and re-encoded without EXIF or GPS; videos go through ffmpeg (`ugc.ffmpeg`). The
public copies are stored in the item's unguessable folder (`ugc.media_files`).
"""

import contextlib
import io
import logging
import tempfile
from pathlib import PurePath

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.db import transaction
from PIL import Image

from core import images
from core.errors import ApplicationError
from core.jobs import enqueue_on_commit
from ugc import ffmpeg
from ugc.media_files import delete_files, manifest_files, media_folder, store
from ugc.models import UGCItem
from ugc.services.moderation import _event, _lock

logger = logging.getLogger(__name__)

Status = UGCItem.Status
MediaStatus = UGCItem.MediaStatus

MIN_ASPECT, MAX_ASPECT = 0.5, 2.0  # images: 1:2 portrait to 2:1 landscape (checked at ingestion)
# The display copy is 1080 wide at most (a phone screen); the tallest allowed shape fits too.
DISPLAY_BOX = (1080, int(1080 / MIN_ASPECT))


def media_task():
    # The task module imports the services; look it up late to avoid a cycle.
    from ugc.tasks import process_media

    return process_media


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


def _image_manifest(item: UGCItem) -> dict:
    with item.original.open("rb") as fh:
        data = fh.read()
    display, thumb = images.renditions(data, [DISPLAY_BOX, images.THUMBNAIL_BOX])
    base = media_folder(item.pk)
    return {
        "kind": "image",
        "width": display.width,
        "height": display.height,
        "aspect": round(display.width / display.height, 4),
        "display": {
            "name": store(f"{base}/display.{display.extension}", display.content),
            "content_type": display.content_type,
            "width": display.width,
            "height": display.height,
        },
        "thumbnail": {
            "name": store(f"{base}/thumb.{thumb.extension}", thumb.content),
            "width": thumb.width,
            "height": thumb.height,
        },
    }


def _video_manifest(item: UGCItem) -> dict:
    """Poster, thumbnail, H.264 renditions, the HLS ladder and the preview loop made by ffmpeg
    (`ugc.ffmpeg`), then stored."""
    base = media_folder(item.pk)
    with _local_path(item.original) as path, tempfile.TemporaryDirectory() as out_dir:
        made = ffmpeg.process_video(path, out_dir=out_dir)
        with open(PurePath(out_dir, made["poster"]), "rb") as fh:
            poster = fh.read()
        hls = _store_hls(made["hls"], out_dir=out_dir, base=base)
        preview = _store_preview(made["preview"], out_dir=out_dir, base=base)
        renditions = []
        for rendition in made["renditions"]:
            with open(PurePath(out_dir, rendition["file"]), "rb") as fh:
                name = store(f"{base}/{rendition['file']}", fh.read())
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
        "kind": "video",
        "width": made["width"],
        "height": made["height"],
        "aspect": made["aspect"],
        "duration_s": made["duration_s"],
        "display": {  # the poster frame
            "name": store(f"{base}/{made['poster']}", poster),
            "content_type": "image/jpeg",
            "width": poster_width,
            "height": poster_height,
        },
        "thumbnail": {
            "name": store(f"{base}/thumb.{thumb_extension}", thumb),
            "width": thumb_width,
            "height": thumb_height,
        },
        "renditions": renditions,
        "hls": hls,
        "preview": preview,
    }


def _store_exactly(name: str, path: PurePath) -> str:
    """Store a file at exactly `name`: playlists point at their neighbours by relative name,
    so a storage that renamed a file would break the ladder."""
    with open(path, "rb") as fh:
        stored = store(name, fh.read())
    if stored != name:
        raise MediaProcessingError(f"Storage saved {name} as {stored}; HLS needs exact names.")
    return stored


def _store_hls(made: dict, *, out_dir: str, base: str) -> dict:
    """The master playlist, media playlists and segments, under `<folder>/hls/`."""
    local, stored = PurePath(out_dir, made["dir"]), f"{base}/{made['dir']}"
    variants = []
    for variant in made["variants"]:
        segments = [
            _store_exactly(f"{stored}/{segment}", local / segment)
            for segment in variant["segments"]
        ]
        playlist = _store_exactly(f"{stored}/{variant['playlist']}", local / variant["playlist"])
        variants.append(
            {
                "label": variant["label"],
                "name": playlist,
                "segments": segments,
                "bandwidth": variant["bandwidth"],
                "average_bandwidth": variant["average_bandwidth"],
                "codecs": variant["codecs"],
                "width": variant["width"],
                "height": variant["height"],
            }
        )
    master = _store_exactly(f"{stored}/{made['master']}", local / made["master"])
    return {
        "master": {"name": master, "content_type": "application/vnd.apple.mpegurl"},
        "variants": variants,
    }


def _store_preview(made: dict, *, out_dir: str, base: str) -> dict:
    with open(PurePath(out_dir, made["file"]), "rb") as fh:
        name = store(f"{base}/{made['file']}", fh.read())
    return {
        "name": name,
        "content_type": "video/mp4",
        "width": made["width"],
        "height": made["height"],
        "duration_s": made["duration_s"],
        "bytes": made["bytes"],
    }


def _media_settled(item: UGCItem) -> bool:
    """The media job has nothing to do: the media is made, or was withdrawn on archiving."""
    return item.media_status in (MediaStatus.READY, MediaStatus.WITHDRAWN)


def _media_failed(item_id: int, detail: str) -> None:
    detail = detail[:500]
    with transaction.atomic():
        item = UGCItem.objects.select_for_update().filter(pk=item_id).first()
        if item is None or _media_settled(item):
            return  # another run made the media meanwhile, or the item was archived
        item.flags = [f for f in item.flags if f.get("code") != "media_error"]
        item.flags.append({"code": "media_error", "detail": detail})
        item.media_status = MediaStatus.FAILED
        item.media_manifest = {"error": detail}
        item.save(update_fields=["flags", "media_status", "media_manifest", "updated_at"])
    logger.warning("ugc.media_failed", extra={"item_id": item_id, "error": detail})


def ugc_media_retry(*, item_id: int, actor) -> UGCItem:
    """Run the media job again for an item whose media failed or never got made."""
    with transaction.atomic():
        item = _lock(item_id)
        state = item.media_status
        if _media_settled(item):
            raise ApplicationError(
                f"Item #{item.pk}'s media is {state}; there is nothing to process again.",
                code="media_settled",
            )
        item.media_status = MediaStatus.PENDING
        item.media_manifest = {}
        item.save(update_fields=["media_status", "media_manifest", "updated_at"])
        _event(item, action="media_retry", actor=actor, from_status=item.status,
               reason=f"media was {state}")  # fmt: skip
        enqueue_on_commit(media_task(), item.pk)
    return item


def ugc_media_process(*, item_id: int) -> UGCItem | None:
    """Make an item's media manifest. Safe to run twice; a deleted item is skipped.

    A file that cannot be processed flags the item and leaves its media "failed"; other
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
    except ffmpeg.MediaError as exc:  # refused or undecodable video: the same
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
            delete_files(manifest_files(manifest))  # withdrawn while the job ran
            return item
        item.media_status = MediaStatus.READY
        item.media_manifest = manifest
        item.flags = [f for f in item.flags if f.get("code") != "media_error"]
        item.save(update_fields=["media_status", "media_manifest", "flags", "updated_at"])
    logger.info("ugc.media_processed", extra={"item_id": item_id, "status": item.media_status})
    return item
