import functools
import io
import random
import subprocess
import tempfile
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from ugc import services
from ugc.models import (
    BlocklistEntry,
    RejectionReason,
    UGCItem,
    UGCProductMap,
    UGCRights,
)


def pattern_image(seed: int, size=(400, 400)) -> Image.Image:
    """A blocky random pattern: each seed gives a different perceptual hash."""
    rng = random.Random(seed)  # noqa: S311 (test pictures, not secrets)
    cells = Image.frombytes("RGB", (9, 8), bytes(rng.randrange(256) for _ in range(9 * 8 * 3)))
    return cells.resize(size, Image.Resampling.NEAREST)


def pattern_bytes(seed: int, fmt="PNG", size=(400, 400), **save_args) -> bytes:
    out = io.BytesIO()
    pattern_image(seed, size).save(out, format=fmt, **save_args)
    return out.getvalue()


def media_upload(name="photo.png", content=None, content_type="image/png", seed=1):
    data = content if content is not None else pattern_bytes(seed)
    return SimpleUploadedFile(name, data, content_type=content_type)


def render_video(
    path: str,
    *,
    seconds=2,
    width=640,
    height=360,
    audio=True,
    metadata=None,
    faststart=False,
) -> str:
    """Write a real video with ffmpeg's test sources; the container follows the extension."""
    args = ["ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    args += ["-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=25:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    if path.endswith(".webm"):
        args += ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"]
        args += ["-c:a", "libopus"] if audio else ["-an"]
    else:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        args += ["-c:a", "aac"] if audio else ["-an"]
    for key, value in (metadata or {}).items():
        args += ["-metadata", f"{key}={value}"]
    if faststart:
        args += ["-movflags", "+faststart"]
    args += ["-shortest", path]
    subprocess.run(args, check=True, capture_output=True, timeout=60)  # noqa: S603
    return path


@functools.lru_cache
def video_bytes(extension="mp4", *, seconds=1, width=640, height=360) -> bytes:
    """The bytes of a short real video (made once per run and shape)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = render_video(f"{tmp}/clip.{extension}", seconds=seconds, width=width, height=height)
        with open(path, "rb") as fh:
            return fh.read()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"moderator{n}")
    is_staff = True


class RejectionReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RejectionReason

    label = factory.Sequence(lambda n: f"Reason {n}")


class BlocklistEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BlocklistEntry

    term = factory.Sequence(lambda n: f"badword{n}")
    kind = BlocklistEntry.Kind.WORD
    action = BlocklistEntry.Action.FLAG


class UGCItemFactory(factory.django.DjangoModelFactory):
    """An item written straight to the table (ingestion has its own tests)."""

    class Meta:
        model = UGCItem

    source = UGCItem.Source.UPLOAD
    author_handle = factory.Sequence(lambda n: f"fan{n}")
    caption = "Loving it"
    media_type = UGCItem.MediaType.IMAGE
    original = factory.django.FileField(
        filename="photo.png", data=factory.Sequence(lambda n: pattern_bytes(n, size=(64, 64)))
    )
    content_type = "image/png"
    file_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    status = UGCItem.Status.QUEUED


class UGCRightsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UGCRights

    item = factory.SubFactory(UGCItemFactory)
    consent_method = UGCRights.ConsentMethod.COMMENT_REPLY
    proof_url = "https://www.instagram.com/p/abc/"
    proof_text = "Yes, you can use it! #yesbrand"
    licence_type = "perpetual non-exclusive"
    allowed_channels = factory.LazyFunction(lambda: ["site", "social"])
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))


class UGCProductMapFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UGCProductMap

    item = factory.SubFactory(UGCItemFactory)
    product = factory.SubFactory("tests.catalog.factories.ProductFactory")
    placement = UGCProductMap.Placement.PRODUCT_PAGE


def ready_manifest() -> dict:
    return {"kind": "image", "width": 64, "height": 64, "aspect": 1.0}


def publishable_item(**fields) -> UGCItem:
    """An item meeting every publishing requirement, in the given status (approved by default)."""
    fields.setdefault("status", UGCItem.Status.APPROVED)
    fields.setdefault("media_status", UGCItem.MediaStatus.READY)
    fields.setdefault("media_manifest", ready_manifest())
    item = UGCItemFactory(**fields)
    UGCRightsFactory(item=item)
    UGCProductMapFactory(item=item)
    if item.status == UGCItem.Status.PUBLISHED and not item.published_at:
        item.published_at = timezone.now()
        item.save(update_fields=["published_at"])
    return item


def with_card_links(item: UGCItem) -> UGCItem:
    """The feed card links publishing makes, for a published item written straight to the table."""
    services.make_card_links(item)
    return item
