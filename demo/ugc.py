"""Demo UGC for `seed_demo`: pictures drawn with Pillow (and short clips made with ffmpeg when
it is installed), moved through the real services so the feed, the moderation queue and the
audit trail look like a live shop's. Stable external ids make a second run change nothing.
"""

import io
import logging
import math
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from catalog.models import Product
from core.errors import ApplicationError
from creators.models import Creator
from ugc import services
from ugc.models import BlocklistEntry, UGCItem, UGCRights

logger = logging.getLogger(__name__)

DEMO_SOURCE = UGCItem.Source.UPLOAD
DEMO_MODERATOR = "demo-moderator"
DEMO_BLOCKED_WORD = "giveaway"
PORTRAIT = (1080, 1350)  # 4:5, the feed's usual shape
STORY = (1080, 1920)  # 9:16
VIDEO_SIZE = (360, 640)  # 9:16, the smallest a video may be; quick to encode
VIDEO_SECONDS, VIDEO_FPS = 3, 20


@dataclass(frozen=True)
class DemoItem:
    external_id: str
    product: str  # title in seed_demo.PRODUCTS
    creator: str | None  # handle in seed_demo.DEMO_CREATORS
    author: str
    caption: str
    publish: bool = True
    rights: bool = True
    kind: str = "portrait"  # portrait | story | video


DEMO_ITEMS = [
    DemoItem("demo-1", "Cloud Knit Hoodie", "maya-makes", "maya-makes",
             "Sunday uniform: the Cloud Knit Hoodie, softest thing I own ☁️"),
    DemoItem("demo-2", "Glow Serum 30 ml", "maya-makes", "maya-makes",
             "Two weeks of Glow Serum and my skin is actually glowing", kind="story"),
    DemoItem("demo-3", "Trail Runner 2", "leo-lifts", "leo-lifts",
             "12 km of mud and the Trail Runner 2 still grips like day one"),
    DemoItem("demo-4", "Ceramic Pour-Over Set", None, "slowmornings",
             "Slow mornings with the Kiln & Co pour-over ☕"),
    DemoItem("demo-5", "Wireless Earbuds Mini", "leo-lifts", "leo-lifts",
             "Gym bag essential: these earbuds survive every session", kind="video"),
    DemoItem("demo-6", "Everyday Tote", None, "city.carry",
             "Laptop, lunch and a library book: the Everyday Tote takes it all", kind="story"),
    DemoItem("demo-7", "Matte Lip Tint", "maya-makes", "maya-makes",
             "Rose shade, zero transfer. Swatches in my stories 💄", kind="video"),
    DemoItem("demo-8", "Recycled Yoga Mat", None, "flow.with.ana",
             "Grippy, thick and it rolls up tight. New favourite mat"),
    # The moderation queue: work for the moderator.
    DemoItem("demo-9", "Insulated Bottle 750 ml", None, "hydrate.hank",
             "Comment below for a GIVEAWAY of this bottle!!!", publish=False),
    DemoItem("demo-10", "Linen Throw Pillow", None, "cosy.corner",
             "New pillow on the reading chair", publish=False, rights=False),
    DemoItem("demo-11", "Silk Scrunchie Trio", "maya-makes", "maya-makes",
             "No more dents in my hair with these", publish=False, kind="story"),
]  # fmt: skip


# --- pictures ----------------------------------------------------------------------------


def _gradient(size, start, end, turn: int = 0) -> Image.Image:
    """A linear gradient from `start` to `end`, top to bottom turned `turn` quarter turns."""
    ramp = Image.linear_gradient("L")
    for _ in range(turn % 4):
        ramp = ramp.transpose(Image.Transpose.ROTATE_90)
    return ImageOps.colorize(ramp.resize(size), black=start, white=end)


def _tint(colour, amount):
    return tuple(max(0, min(255, int(c + (255 - c) * amount))) for c in colour)


def ugc_picture(product_picture: Image.Image, *, size, colour, handle, seed) -> Image.Image:
    """A phone-photo-like scene: a tinted backdrop, bokeh, the product at an angle, a tag."""
    rng = random.Random(seed)  # noqa: S311 (pictures, not secrets)
    width, height = size
    scene = _gradient(size, _tint(colour, 0.55), colour, rng.randrange(4)).convert("RGBA")
    # Out-of-focus lights, drawn and blurred at a quarter of the size (quick), then scaled up.
    lights = Image.new("L", (width // 4, height // 4), 0)
    draw = ImageDraw.Draw(lights)
    for _ in range(18):
        radius = rng.randint(10, 40)
        x, y = rng.randint(0, width // 4), rng.randint(0, height // 4)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=rng.randint(50, 110))
    lights = lights.filter(ImageFilter.GaussianBlur(6)).resize(size, Image.Resampling.BILINEAR)
    scene.paste((*_tint(colour, 0.85), 255), (0, 0), lights)
    # The product: the catalog shot, cropped to its middle, tilted and set down off-centre.
    shot = product_picture.crop((150, 200, 1050, 1050)).convert("RGBA")
    scale = rng.uniform(0.62, 0.8)
    shot = shot.resize((int(900 * scale), int(850 * scale)))
    mask = Image.new("L", shot.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, *shot.size], radius=60, fill=255)
    shot.putalpha(mask)
    shot = shot.rotate(rng.uniform(-12, 12), expand=True, resample=Image.Resampling.BICUBIC)
    x = rng.randint(40, max(41, width - shot.width - 40))
    y = rng.randint(height // 6, max(height // 6 + 1, height - shot.height - 220))
    shadow = Image.new("RGBA", shot.size, (0, 0, 0, 0))
    shadow.putalpha(shot.getchannel("A").point(lambda a: a * 0.35))
    scene.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(18)), (x + 18, y + 24))
    scene.alpha_composite(shot, (x, y))
    # A sticker with the handle, as creators put on their posts.
    draw = ImageDraw.Draw(scene)
    font = ImageFont.load_default(size=46)
    label = f"@{handle}"
    box = draw.textbbox((0, 0), label, font=font)
    left, top = 60, height - 170
    draw.rounded_rectangle(
        [left, top, left + box[2] + 60, top + box[3] + 40], radius=36, fill=(255, 255, 255, 230)
    )
    draw.text((left + 30, top + 18), label, fill=(30, 30, 35), font=font)
    return scene.convert("RGB")


def jpeg_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def can_make_video() -> bool:
    return bool(shutil.which("ffmpeg") and shutil.which("ffprobe"))


def ugc_clip(product_picture: Image.Image, *, colour, seed) -> bytes:
    """A 3-second 9:16 clip: the product slowly zooming over a drifting backdrop (H.264)."""
    width, height = VIDEO_SIZE
    rng = random.Random(seed)  # noqa: S311
    backdrop = _gradient((width, height * 2), _tint(colour, 0.6), colour, rng.choice([0, 2]))
    shot = product_picture.crop((150, 200, 1050, 1050)).resize((300, 283))
    frames = []
    count = VIDEO_SECONDS * VIDEO_FPS
    for n in range(count):
        t = n / count
        frame = backdrop.crop((0, int(t * height), width, int(t * height) + height))
        zoom = 0.8 + 0.2 * t
        piece = shot.resize((int(300 * zoom), int(283 * zoom)))
        wobble = int(12 * math.sin(t * 2 * math.pi))
        frame.paste(piece, ((width - piece.width) // 2 + wobble, (height - piece.height) // 2))
        frames.append(frame.tobytes())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        args = ["ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
        args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}"]
        args += ["-r", str(VIDEO_FPS), "-i", "-"]
        args += ["-f", "lavfi", "-i", f"sine=frequency=330:duration={VIDEO_SECONDS}"]
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        args += ["-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart", str(out)]
        subprocess.run(  # noqa: S603 - fixed binary, list arguments, no shell
            args, input=b"".join(frames), capture_output=True, timeout=60, check=True
        )
        return out.read_bytes()


# --- seeding -----------------------------------------------------------------------------


def demo_moderator():
    """A staff user in the Moderator group: it signs the demo audit trail, and shows the
    console as a moderator sees it (same password as the demo admin)."""
    User = get_user_model()
    user = User.objects.filter(username=DEMO_MODERATOR).first()
    if user is None:
        user = User.objects.create_user(
            username=DEMO_MODERATOR,
            password=settings.DEMO_ADMIN_PASSWORD,
            first_name="Demo",
            last_name="Moderator",
            is_staff=True,
        )
        group = Group.objects.filter(name="Moderator").first()
        if group:
            user.groups.add(group)
    return user


def demo_blocklist() -> BlocklistEntry:
    entry = BlocklistEntry.objects.filter(term__iexact=DEMO_BLOCKED_WORD, kind="word").first()
    if entry is None:
        entry = services.blocklist_entry_save(
            term=DEMO_BLOCKED_WORD,
            kind=BlocklistEntry.Kind.WORD,
            action=BlocklistEntry.Action.FLAG,
            active=True,
        )
    return entry


def _rights(moderator) -> dict:
    return {
        "consent_method": UGCRights.ConsentMethod.CREATOR_AGREEMENT,
        "allowed_channels": ["site", "social"],
        "licence_type": "Demo: perpetual non-exclusive",
        "proof_text": "Demo data: covered by the creator agreement signed at onboarding.",
        "granted_by": moderator,
    }


def seed_item(spec: DemoItem, *, index: int, moderator, videos: bool) -> bool:
    """Create (or finish) one demo item. Returns True when it was created on this run."""
    from demo.management.commands.seed_demo import PRODUCTS, product_picture

    item = UGCItem.objects.filter(source=DEMO_SOURCE, external_id=spec.external_id).first()
    created = item is None
    product = Product.objects.filter(title=spec.product).order_by("pk").first()
    if product is None:
        return False
    if item is None:
        colour, shape = next((r[3], r[4]) for r in PRODUCTS if r[0] == spec.product)
        picture = product_picture(spec.product, colour, shape)
        if spec.kind == "video" and videos:
            data, name = ugc_clip(picture, colour=colour, seed=index), f"{spec.external_id}.mp4"
        else:
            size = STORY if spec.kind == "story" else PORTRAIT
            scene = ugc_picture(picture, size=size, colour=colour, handle=spec.author, seed=index)
            data, name = jpeg_bytes(scene), f"{spec.external_id}.jpg"
        item = services.ugc_ingest(
            source=DEMO_SOURCE,
            external_id=spec.external_id,
            media_file=ContentFile(data, name=name),
            caption=spec.caption,
            author_handle=spec.author,
            creator=Creator.objects.filter(handle=spec.creator).first() if spec.creator else None,
            rights=_rights(moderator) if spec.rights else None,
            actor=moderator,
        )
    if not item.product_maps.exists():
        services.ugc_map_product(item_id=item.pk, product=product, actor=moderator)
    if item.media_status != UGCItem.MediaStatus.READY:
        # Directly, so the demo works without a worker (the queued job then finds it done).
        item = services.ugc_media_process(item_id=item.pk) or item
    item.refresh_from_db()
    if spec.publish and item.status in (UGCItem.Status.QUEUED, UGCItem.Status.REVIEWING):
        services.ugc_claim(item_id=item.pk, moderator=moderator)
        services.ugc_approve(item_id=item.pk, moderator=moderator, note="Demo: on brand.")
        item.refresh_from_db()
    if spec.publish and item.status == UGCItem.Status.APPROVED:
        services.ugc_publish(item_id=item.pk, actor=moderator)
    return created


@dataclass
class SeedResult:
    created: int
    videos: bool
    problems: list[str]
    reasons_added: int = 0


def seed_ugc(*, videos: bool | None = None) -> SeedResult:
    """Every demo item. A demo item the services refuse is reported, not fatal."""
    videos = can_make_video() if videos is None else videos
    with transaction.atomic():
        moderator = demo_moderator()
        demo_blocklist()
    # Rejecting needs a reason from the merchant's list: start with the default set.
    reasons_added = services.rejection_reasons_add_defaults()
    result = SeedResult(created=0, videos=videos, problems=[], reasons_added=reasons_added)
    for index, spec in enumerate(DEMO_ITEMS, start=1):
        try:
            result.created += seed_item(spec, index=index, moderator=moderator, videos=videos)
        except (ApplicationError, services.MediaProcessingError) as exc:
            result.problems.append(f"{spec.external_id}: {getattr(exc, 'message', exc)}")
    return result
