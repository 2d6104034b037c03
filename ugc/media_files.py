"""Where an item's public media copies live, and how they are written and deleted.

The media job (`ugc.services.media`) writes the display copy, thumbnail and renditions into
the item's folder; archiving (`ugc.services.moderation`) deletes them once it commits. The
folder name carries a keyed hash of the id, so nobody can walk the ids to find copies of
items that were never published. Files only: the item's `media_status` and manifest are
changed by the services.
"""

import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.crypto import salted_hmac

logger = logging.getLogger(__name__)


def media_folder(item_id: int) -> str:
    """Where an item's public copies live: `ugc/<id>-<token>`, the token a keyed hash of the
    id, so that the same folder is rewritten by a second run of the job but nobody can walk
    the ids to find copies of items that were never published."""
    token = salted_hmac("ugc.media_folder", str(item_id)).hexdigest()[:20]
    return f"ugc/{item_id}-{token}"


def manifest_files(manifest: dict) -> list[str]:
    """The stored names a manifest points at: display copy, thumbnail, renditions, preview
    loop, and the HLS master playlist with each rung's playlist and segments."""
    names = [(manifest.get(key) or {}).get("name") for key in ("display", "thumbnail", "preview")]
    names += [rendition.get("name") for rendition in manifest.get("renditions") or []]
    hls = manifest.get("hls") or {}
    names.append((hls.get("master") or {}).get("name"))
    for variant in hls.get("variants") or []:
        names.append(variant.get("name"))
        names += variant.get("segments") or []
    return [name for name in names if name]


def delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("ugc.media_delete_failed", extra={"file": name})


def store(name: str, content: bytes) -> str:
    """Store at exactly `name`, replacing an earlier copy (the job may run twice)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(content))
