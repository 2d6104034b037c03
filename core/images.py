"""Safe handling of images: product uploads and images fetched for link previews.

Every image is opened by Pillow with a pixel limit checked before any pixel is decoded,
its type is sniffed from its content (never its name), and it is re-encoded from its
pixels alone, so EXIF (GPS included), comments and anything hidden after the image data
are dropped.
"""

import io
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.text import get_valid_filename
from PIL import Image, ImageOps, UnidentifiedImageError

# Formats accepted on upload, by what Pillow sniffs from the bytes.
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_SIDE = 2048  # stored images are scaled down to fit this box
THUMBNAIL_BOX = (400, 400)
ORIENTATION_TAG = 0x0112
SIDEWAYS = {5, 6, 7, 8}  # EXIF orientations that turn the picture by 90°
DECLARED_SIZE = "shoploop_declared_size"  # image.info key: the size the header declares


@dataclass(frozen=True)
class ProcessedImage:
    content: bytes
    extension: str
    content_type: str
    width: int
    height: int


def _open_checked(
    data: bytes, *, max_pixels: int, draft_box: tuple[int, int] | None = None
) -> Image.Image:
    """Open the header, check type and size, then decode the pixels.

    With `draft_box`, a JPEG is decoded straight at the smallest of 1/2, 1/4 or 1/8 scale
    that still covers the box that it will be scaled into (libjpeg's DCT scaling): the whole
    file is still read, so a truncated one still fails, at a fraction of the time and memory.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValidationError(
            "The image declares more pixels than allowed (%(limit)s).",
            code="image_too_many_pixels",
            params={"limit": f"{max_pixels:,}"},
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValidationError(
            "The file is not an image (JPEG, PNG, WebP or GIF expected).",
            code="image_unreadable",
        ) from exc
    if image.format not in ACCEPTED_FORMATS:
        raise ValidationError(
            "%(format)s images are not accepted; use JPEG, PNG, WebP or GIF.",
            code="image_format",
            params={"format": image.format},
        )
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        raise ValidationError(
            "The image is %(width)d×%(height)d pixels (%(pixels)s); the limit is %(limit)s pixels.",
            code="image_too_many_pixels",
            params={
                "width": width,
                "height": height,
                "pixels": f"{width * height:,}",
                "limit": f"{max_pixels:,}",
            },
        )
    image.info[DECLARED_SIZE] = (width, height)  # draft() changes .size
    if draft_box and image.format == "JPEG":
        image.draft(None, _fitted(image, draft_box))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            "The image file is truncated or corrupt.", code="image_corrupt"
        ) from exc
    return image


def _fitted(image: Image.Image, box: tuple[int, int]) -> tuple[int, int]:
    """The stored size of `image` once scaled down to fit `box` after EXIF rotation."""
    width, height = image.size
    if image.getexif().get(ORIENTATION_TAG) in SIDEWAYS:
        box = (box[1], box[0])  # the stored picture is turned 90° from what is shown
    scale = min(1.0, box[0] / width, box[1] / height)
    return max(1, int(width * scale)), max(1, int(height * scale))


def _encode(
    image: Image.Image, *, box: tuple[int, int] | None = None, cover: tuple[int, int] | None = None
) -> tuple[bytes, str, str, Image.Image]:
    """Re-encode from pixels only: JPEG, or PNG where there is transparency.

    `box` scales the image down to fit inside it; `cover` scales and crops it to fill
    exactly that size (card images).
    """
    image = ImageOps.exif_transpose(image)  # keep the orientation EXIF asked for
    has_alpha = image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if has_alpha else "RGB")
    if box:
        image.thumbnail(box, Image.Resampling.LANCZOS)
    if cover:
        image = ImageOps.fit(image, cover, Image.Resampling.LANCZOS)
    # A fresh image holds pixels and nothing else: no EXIF, XMP, ICC or comments.
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    out = io.BytesIO()
    if has_alpha:
        clean.save(out, format="PNG", optimize=True)
        return out.getvalue(), "png", "image/png", clean
    clean.save(out, format="JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue(), "jpg", "image/jpeg", clean


def process_upload(upload, *, max_pixels: int | None = None, max_bytes: int | None = None):
    """Check and re-encode an uploaded file. Raises ValidationError naming the problem."""
    max_pixels = max_pixels or settings.IMAGE_MAX_PIXELS
    max_bytes = max_bytes or settings.IMAGE_MAX_UPLOAD_BYTES
    if getattr(upload, "size", None) and upload.size > max_bytes:
        raise ValidationError(
            "The file is %(size)s bytes; the limit is %(limit)s.",
            code="image_too_large",
            params={"size": f"{upload.size:,}", "limit": f"{max_bytes:,}"},
        )
    upload.seek(0)
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValidationError(
            "The file is larger than %(limit)s bytes.",
            code="image_too_large",
            params={"limit": f"{max_bytes:,}"},
        )
    if not data:
        raise ValidationError("The file is empty.", code="image_empty")
    image = _open_checked(data, max_pixels=max_pixels)
    content, extension, content_type, encoded = _encode(image, box=(MAX_SIDE, MAX_SIDE))
    return ProcessedImage(content, extension, content_type, encoded.width, encoded.height)


def make_thumbnail(data: bytes) -> tuple[bytes, str]:
    """A thumbnail of an already processed image: (bytes, extension)."""
    image = _open_checked(data, max_pixels=settings.IMAGE_MAX_PIXELS)
    content, extension, _, _ = _encode(image, box=THUMBNAIL_BOX)
    return content, extension


def renditions(
    data: bytes, boxes: list[tuple[int, int]], *, max_pixels: int | None = None
) -> list[ProcessedImage]:
    """Check an image and make one re-encoded copy fitting each box, largest box first.

    The file is decoded once, at the smallest scale the largest box allows, and each copy is
    scaled from the one before it: a 12-megapixel photo never sits in memory at full size.
    """
    image = _open_checked(
        data, max_pixels=max_pixels or settings.IMAGE_MAX_PIXELS, draft_box=boxes[0]
    )
    made = []
    for box in boxes:
        content, extension, content_type, image = _encode(image, box=box)
        made.append(ProcessedImage(content, extension, content_type, image.width, image.height))
    return made


def decoded_preview(data: bytes, box: tuple[int, int], *, max_pixels: int | None = None):
    """Check that an image decodes in full under the pixel limit, cheaply (see `draft_box`).

    Returns (preview, width, height): the picture upright and scaled into `box`, and the full
    size it is shown at.
    """
    image = _open_checked(data, max_pixels=max_pixels or settings.IMAGE_MAX_PIXELS, draft_box=box)
    width, height = image.info[DECLARED_SIZE]
    if image.getexif().get(ORIENTATION_TAG) in SIDEWAYS:
        width, height = height, width
    preview = ImageOps.exif_transpose(image)
    preview.thumbnail(box)
    return preview, width, height


def cover_images(data: bytes, sizes: list[tuple[int, int]]) -> list[ProcessedImage]:
    """Check an image from elsewhere and make a re-encoded, cropped copy for each size."""
    image = _open_checked(data, max_pixels=settings.IMAGE_MAX_PIXELS)
    made = []
    for size in sizes:
        content, extension, content_type, encoded = _encode(image, cover=size)
        made.append(ProcessedImage(content, extension, content_type, encoded.width, encoded.height))
    return made


def stored_name(original_name: str, extension: str) -> str:
    """The name to store under: the original stem with the extension of the real type."""
    stem = get_valid_filename(PurePath(original_name or "image").stem)[:80] or "image"
    return f"{stem}.{extension}"
