"""HTML for an item's media and flags in the console (all values escaped by format_html)."""

from django.core.files.storage import default_storage
from django.utils.html import format_html, format_html_join

from ugc.models import UGCItem

MediaStatus = UGCItem.MediaStatus


def media_url(entry: dict | None) -> str:
    name = (entry or {}).get("name")
    return default_storage.url(name) if name else ""


def thumbnail_html(item: UGCItem):
    manifest = item.media_manifest or {}
    url = media_url(manifest.get("thumbnail"))
    if item.media_status == MediaStatus.READY and url:
        badge = "▶ " if manifest.get("kind") == "video" else ""
        return format_html(
            '<span class="ugc-thumb">{}<img src="{}" alt="" loading="lazy" width="64" '
            'height="64" style="object-fit:cover;border-radius:6px"></span>',
            badge,
            url,
        )
    if item.media_status == MediaStatus.FAILED:
        return format_html('<span class="ugc-media-failed" title="{}">Media failed</span>',
                           manifest.get("error", ""))  # fmt: skip
    return format_html('<span class="ugc-media-pending">{}</span>', "Processing…")


def rendition_360p(manifest: dict) -> dict | None:
    renditions = manifest.get("renditions") or []
    for rendition in renditions:
        if rendition.get("label") == "360p":
            return rendition
    return min(renditions, key=lambda r: r.get("height") or 0, default=None)


def preview_html(item: UGCItem):
    manifest = item.media_manifest or {}
    if item.media_status == MediaStatus.FAILED:
        return format_html(
            '<p class="errornote">The media could not be processed: {}</p>',
            manifest.get("error", "unknown error"),
        )
    if item.media_status != MediaStatus.READY:
        return format_html(
            "<p>{}</p>", "The media is being processed; the preview shows when ready."
        )
    display = manifest.get("display") or {}
    if manifest.get("kind") == "video":
        rendition = rendition_360p(manifest)
        if rendition is None:
            return format_html("<p>{}</p>", "No video rendition was made.")
        return format_html(
            '<video class="ugc-preview" controls muted playsinline preload="metadata" '
            'poster="{}" width="{}" height="{}" style="max-width:480px;height:auto">'
            '<source src="{}" type="{}"></video>',
            media_url(display), rendition.get("width") or "", rendition.get("height") or "",
            media_url(rendition), rendition.get("content_type") or "video/mp4",
        )  # fmt: skip
    return format_html(
        '<img class="ugc-preview" src="{}" alt="" width="{}" height="{}" '
        'style="max-width:480px;max-height:600px;width:auto;height:auto">',
        media_url(display), display.get("width") or "", display.get("height") or "",
    )  # fmt: skip


def flags_html(item: UGCItem):
    if not item.flags:
        return "–"
    return format_html_join(
        "", '<span class="ugc-flag" title="{}">{}</span> ',
        ((flag.get("detail", ""), flag.get("code", "?")) for flag in item.flags),
    )  # fmt: skip
