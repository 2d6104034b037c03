"""Benchmark of the UGC pipeline: the image media job, the video job and the shoppable feed.

Media: twelve-megapixel JPEGs (4000×3000, about 3 MB each, drawn with Pillow so that they
compress like photos) go through the real services in a child process each:

- `ingest`: `ugc_ingest` (type sniffing, the pixel limit, a full decode check, the
  perceptual hash, the blocklist and duplicate checks, storing the original);
- `process`: the `ugc.process_media` job (`ugc_media_process`): the 1080-wide display copy
  and the thumbnail, re-encoded without EXIF, stored, the manifest written;
- `floor`: the least any thumbnailer must do, in the same run: Pillow's `thumbnail()` (which
  decodes JPEGs at reduced scale) and a 400-pixel JPEG saved, nothing else: one copy where
  the job makes two (the 1080-wide display copy and the thumbnail) and stores them.

Each child reports images per second (median of ROUNDS rounds) and its peak resident memory
(VmHWM) above what it held before the first image.

Video: a generated 30-second 1080×1920 source (ffmpeg's moving test pattern and a tone,
H.264 + AAC, made once, not timed) goes through the video job (`ugc.ffmpeg.process_video`:
probe and checks, poster, the 360p/720p/1080p H.264 ladder, its HLS segments and master
playlist, the 3-second preview loop) and, in the same run, through ffmpeg's own transcode of
the same ladder in one command (one decode, `split` into three scales, three x264 encodes with
the same settings, straight to HLS with a master playlist: the least a ladder costs). Each
runs VIDEO_ROUNDS times in its own child process; seconds per video are medians; peak memory
is the largest ffmpeg process's resident peak (`ru_maxrss` of the children).

Feed: 10 and then 1,000 published items (each with rights, a product mapping and a ready
manifest) behind `/shop/feed` and the feed API; the number of SQL queries of the first page
must be the same at both sizes; the page's weight is its HTML, and apart its own CSS and
JavaScript (no media). A collection holding every item, oldest first, is measured the same way
(`/shop/collections/bench/` and its API), and at 1,000 items the median time of its first page
beside the feed's first page (the floor: the same cards without the collection's order).

The last line printed is one JSON object; the exit code is 0 when the feed's query counts
are equal at both sizes, 1 otherwise.
"""

import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = int(os.environ.get("BENCH_UGC_IMAGES", "12"))
ROUNDS = int(os.environ.get("BENCH_UGC_ROUNDS", "3"))
SIZE = (4000, 3000)
FEED_SIZES = (10, 1000)
TIMED_ROUNDS = 30
VIDEO_ROUNDS = int(os.environ.get("BENCH_UGC_VIDEO_ROUNDS", "3"))
VIDEO_SECONDS = int(os.environ.get("BENCH_UGC_VIDEO_SECONDS", "30"))
VIDEO_SIZE = (1080, 1920)
# BENCH_UGC_PARTS=video runs the video part alone (it is the slow one); default: all.
PARTS = set(os.environ.get("BENCH_UGC_PARTS", "images,video,feed").split(","))
ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-that-is-long-enough-to-pass-the-checks-0123456789",
    "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "PUBLIC_BASE_URL": "https://shop.example.com",
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shoploop_bench_ugc"
    ),
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
    "CELERY_TASK_ALWAYS_EAGER": "false",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
}


def django_setup(media_root: str):
    os.environ.update(ENV)
    os.environ["MEDIA_ROOT"] = os.path.join(media_root, "media")
    os.environ["PRIVATE_MEDIA_ROOT"] = os.path.join(media_root, "private")
    os.environ["STATIC_ROOT"] = os.path.join(media_root, "static")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_database():
    import psycopg

    name = ENV["DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def photo_like_jpeg(seed: int) -> bytes:
    """A 12-megapixel JPEG that compresses like a photo: shapes, gradients, sensor noise."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)  # noqa: S311 (pictures, not secrets)
    image = Image.linear_gradient("L").resize(SIZE).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(400):
        x, y, r = rng.randrange(SIZE[0]), rng.randrange(SIZE[1]), rng.randrange(20, 500)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + r, y + r), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    noise = Image.effect_noise(SIZE, 40).convert("RGB")
    image = Image.blend(image, noise, 0.12)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92)
    return out.getvalue()


def memory_kib(field: str) -> int:
    """VmRSS (resident now) or VmHWM (peak resident) of this process, in KiB.

    VmHWM belongs to this process's own memory map. `ru_maxrss` would not do: Linux carries
    it over exec, so a child would report the parent's peak.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_kib() -> int:
    return memory_kib("VmRSS")


# --------------------------------------------------------------------------------------
# Children: one per measurement, so each peak is its own
# --------------------------------------------------------------------------------------


def child_floor(files: list[str]) -> dict:
    from PIL import Image

    before = rss_kib()
    rates = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for path in files:
            with Image.open(path) as image:
                image.thumbnail((400, 400))  # Pillow's own reduced-scale JPEG decoding
                image.save(io.BytesIO(), format="JPEG", quality=85)
        rates.append(len(files) / (time.perf_counter() - start))
    return {"per_s": statistics.median(rates), "before_kib": before}


def child_ingest(files: list[str]) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from ugc import services
    from ugc.models import UGCItem

    before = rss_kib()
    rates = []
    for round_no in range(ROUNDS):
        UGCItem.objects.all().delete()
        start = time.perf_counter()
        for index, path in enumerate(files):
            with open(path, "rb") as fh:
                upload = SimpleUploadedFile(f"photo{index}.jpg", fh.read(), "image/jpeg")
            services.ugc_ingest(
                source="upload", media_file=upload, external_id=f"bench-{round_no}-{index}"
            )
        rates.append(len(files) / (time.perf_counter() - start))
    return {"per_s": statistics.median(rates), "before_kib": before}


def child_process(files: list[str]) -> dict:
    from ugc import services
    from ugc.models import UGCItem

    ids = list(UGCItem.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) == len(files), (len(ids), len(files))
    before = rss_kib()
    rates = []
    for _ in range(ROUNDS):
        UGCItem.objects.update(media_status=UGCItem.MediaStatus.PENDING, media_manifest={})
        start = time.perf_counter()
        for item_id in ids:
            services.ugc_media_process(item_id=item_id)
        rates.append(len(ids) / (time.perf_counter() - start))
    statuses = set(UGCItem.objects.values_list("media_status", flat=True))
    assert statuses == {UGCItem.MediaStatus.READY}, "a media job failed"
    return {"per_s": statistics.median(rates), "before_kib": before}


def make_video_source(path: str) -> str:
    """The 30-second 1080p source: ffmpeg's moving test pattern (testsrc2) and a tone."""
    subprocess.run(  # noqa: S603
        ["ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error",  # noqa: S607
         "-f", "lavfi", "-i",
         f"testsrc2=size={VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}:rate=30:duration={VIDEO_SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={VIDEO_SECONDS}",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "+faststart", path],
        check=True, capture_output=True, timeout=1800,
    )  # fmt: skip
    return path


def ffmpeg_ladder_args(src: str, out_dir: str) -> list[str]:
    """ffmpeg's own HLS ladder: one decode split into the job's three rungs and settings."""
    from ugc import ffmpeg

    rungs = [short for _, short in ffmpeg.RENDITIONS]
    split = f"[0:v]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs)))
    scales = ";".join(f"[s{i}]scale={short}:-2[v{i}]" for i, short in enumerate(rungs))
    args = ["ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error", "-i", src,
            "-filter_complex", f"{split};{scales}"]  # fmt: skip
    for i in range(len(rungs)):
        args += ["-map", f"[v{i}]", "-map", "0:a:0"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
             "-force_key_frames", f"expr:gte(t,n_forced*{ffmpeg.KEYFRAME_SECONDS})",
             "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k", "-ac", "2",
             "-f", "hls", "-hls_time", str(ffmpeg.HLS_SEGMENT_SECONDS),
             "-hls_playlist_type", "vod", "-hls_segment_filename", f"{out_dir}/v%v_%03d.ts",
             "-master_pl_name", "master.m3u8",
             "-var_stream_map", " ".join(f"v:{i},a:{i}" for i in range(len(rungs))),
             f"{out_dir}/v%v.m3u8"]  # fmt: skip
    return args


def child_video(files: list[str], *, job: bool) -> dict:
    import resource
    import shutil

    from ugc import ffmpeg

    source = files[0]
    seconds = []
    for round_no in range(VIDEO_ROUNDS):
        out_dir = tempfile.mkdtemp(prefix=f"video-{round_no}-")
        start = time.perf_counter()
        if job:
            manifest = ffmpeg.process_video(source, out_dir=out_dir)
            assert [r["name"] for r in manifest["renditions"]] == ["360p", "720p", "1080p"]
        else:
            subprocess.run(ffmpeg_ladder_args(source, out_dir), check=True, timeout=3600)  # noqa: S603
        seconds.append(time.perf_counter() - start)
        assert os.path.exists(os.path.join(out_dir, "hls" if job else "", "master.m3u8"))
        shutil.rmtree(out_dir)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {"seconds": statistics.median(seconds), "ffmpeg_peak_mib": round(peak / 1024, 1),
            "before_kib": rss_kib()}  # fmt: skip


CHILDREN = {
    "floor": child_floor,
    "ingest": child_ingest,
    "process": child_process,
    "video_job": lambda files: child_video(files, job=True),
    "video_ffmpeg": lambda files: child_video(files, job=False),
}


def run_child(kind: str, workdir: str, files: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, workdir, *files],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_main(kind: str, workdir: str, files: list[str]) -> None:
    django_setup(workdir)
    result = CHILDREN[kind](files)
    peak = memory_kib("VmHWM")
    result["peak_mib"] = round(peak / 1024, 1)
    result["peak_above_start_mib"] = round((peak - result.pop("before_kib")) / 1024, 1)
    print(json.dumps(result))


# --------------------------------------------------------------------------------------
# Feed
# --------------------------------------------------------------------------------------


def publish_items(count: int) -> None:
    """`count` publishable items in bulk (a fixture for the bench, not the way items are made)."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from catalog.models import Product, Variant
    from creators.models import Creator
    from ugc import services
    from ugc.models import UGCItem, UGCProductMap, UGCRights

    creator, _ = Creator.objects.get_or_create(
        handle="benchcreator", defaults={"name": "Bench Creator", "affiliate_code": "BENCHUGC"}
    )
    products = []
    for n in range(5):
        product, _ = Product.objects.get_or_create(
            slug=f"bench-product-{n}", defaults={"title": f"Bench product {n}", "active": True}
        )
        Variant.objects.get_or_create(
            sku=f"BENCH-{n}",
            defaults={"product": product, "price": Decimal("19.99"), "currency": "USD"},
        )
        products.append(product)
    have = UGCItem.objects.count()
    now = timezone.now()
    manifest = {
        "kind": "image",
        "width": 1080,
        "height": 1350,
        "aspect": 0.8,
        "display": {"name": "ugc/x/display.jpg", "content_type": "image/jpeg",
                    "width": 1080, "height": 1350},
        "thumbnail": {"name": "ugc/x/thumb.jpg", "width": 320, "height": 400},
    }  # fmt: skip
    items = UGCItem.objects.bulk_create(
        UGCItem(
            source="upload",
            external_id=f"feed-{have + n}",
            author_handle=f"shopper{n}",
            creator=creator,
            caption=f"Loving this #{n}",
            media_type="image",
            original=f"ugc/originals/feed-{n}.jpg",
            file_sha256=f"{have + n:064x}",
            status="published",
            media_status="ready",
            media_manifest=manifest,
            published_at=now - timedelta(seconds=n),
        )
        for n in range(count - have)
    )
    UGCRights.objects.bulk_create(
        UGCRights(
            item=item,
            consent_method="creator_agreement",
            proof_text="Creator agreement",
            allowed_channels=["site", "social"],
        )
        for item in items
    )
    UGCProductMap.objects.bulk_create(
        UGCProductMap(item=item, product=products[n % len(products)])
        for n, item in enumerate(items)
    )
    # The cards' short links, as publishing makes them (the feed only reads).
    services.ugc_card_links_backfill()


def measure_feed() -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from ugc import selectors, services
    from ugc.models import UGCCollection, UGCItem

    client = Client()
    urls = {
        "page": reverse("ugc:feed"),
        "api": reverse("ugc-feed-list"),
        "collection": reverse("ugc:collection", kwargs={"slug": "bench"}),
        "collection_api": reverse("ugc-collection-feed", kwargs={"slug": "bench"}),
    }
    figures = {}
    for size in FEED_SIZES:
        publish_items(size)
        assert selectors.publishable_items().count() == size
        bench = UGCCollection.objects.filter(slug="bench").first()
        bench = bench or services.ugc_collection_save(name="Bench collection", slug="bench")
        every = list(UGCItem.objects.order_by("pk").values_list("pk", flat=True))
        services.ugc_collection_set_items(collection_id=bench.pk, item_ids=every)
        with connection.cursor() as cursor:  # planner statistics, as a live database has
            cursor.execute("ANALYZE")
        for name, url in urls.items():
            client.get(url)  # warm
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            figures[f"{name}_queries_{size}"] = len(queries)
            figures[f"{name}_bytes_{size}"] = len(response.content)
    for name in ("page", "collection"):  # at the largest size, interleaved rounds
        figures[f"{name}_ms"] = []
    for _ in range(TIMED_ROUNDS):
        for name in ("page", "collection"):
            started = time.perf_counter()
            assert client.get(urls[name]).status_code == 200
            figures[f"{name}_ms"].append((time.perf_counter() - started) * 1000)
    for name in ("page", "collection"):
        figures[f"{name}_ms"] = round(statistics.median(figures[f"{name}_ms"]), 1)
    html = client.get(urls["page"]).content.decode()
    figures["page_assets_bytes"] = assets_weight(client, html)
    return figures


def assets_weight(client, html: str) -> int:
    """Bytes of the page's own stylesheets and scripts (uncompressed), media left out."""
    urls = re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', html)
    urls += re.findall(r'<script[^>]+src="([^"]+)"', html)
    total = 0
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        total += sum(len(chunk) for chunk in response)
    return total


# --------------------------------------------------------------------------------------


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="shoploop-bench-ugc-")
    django_setup(workdir)
    create_database()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # production's manifest

    figures = {"bench": "ugc"}
    ok = True
    if "images" in PARTS:
        figures.update(measure_images(workdir))
    if "video" in PARTS:
        figures.update(measure_video(workdir))
    if "feed" in PARTS:
        from ugc.models import UGCItem

        UGCItem.objects.all().delete()
        feed_figures, ok = measure_and_print_feed()
        figures.update(feed_figures)
    print(json.dumps(figures))
    return 0 if ok else 1


def measure_images(workdir: str) -> dict:
    print(f"drawing {IMAGES} JPEGs of {SIZE[0]}×{SIZE[1]} ...", flush=True)
    files = []
    for n in range(IMAGES):
        path = os.path.join(workdir, f"photo{n}.jpg")
        Path(path).write_bytes(photo_like_jpeg(n))
        files.append(path)
    mean_mb = statistics.mean(os.path.getsize(f) for f in files) / 1e6

    floor = run_child("floor", workdir, files)
    ingest = run_child("ingest", workdir, files)
    process = run_child("process", workdir, files)

    print(
        f"\n{IMAGES} JPEGs, {SIZE[0]}×{SIZE[1]}, {mean_mb:.1f} MB each; medians of {ROUNDS} rounds"
    )
    for name, result in (("pillow floor", floor), ("ugc_ingest", ingest), ("media job", process)):
        print(
            f"  {name:<13} {result['per_s']:6.2f} images/s   peak RSS {result['peak_mib']} MiB "
            f"(+{result['peak_above_start_mib']} MiB over its start)"
        )
    return {
        "images": IMAGES,
        "megapixels": SIZE[0] * SIZE[1] / 1e6,
        "thumbnails_per_s": round(process["per_s"], 2),
        "floor_thumbnails_per_s": round(floor["per_s"], 2),
        "ratio": round(process["per_s"] / floor["per_s"], 3),
        "ingest_per_s": round(ingest["per_s"], 2),
        "job_peak_mib": process["peak_mib"],
        "job_peak_above_start_mib": process["peak_above_start_mib"],
        "ingest_peak_above_start_mib": ingest["peak_above_start_mib"],
        "floor_peak_above_start_mib": floor["peak_above_start_mib"],
    }


def measure_video(workdir: str) -> dict:
    print(
        f"encoding a {VIDEO_SECONDS}-second {VIDEO_SIZE[0]}×{VIDEO_SIZE[1]} source ...", flush=True
    )
    source = make_video_source(os.path.join(workdir, "source.mp4"))
    size_mb = os.path.getsize(source) / 1e6
    # Each in its own child process, the baseline first, on the same source.
    baseline = run_child("video_ffmpeg", workdir, [source])
    job = run_child("video_job", workdir, [source])
    print(
        f"\nvideo: {VIDEO_SECONDS} s {VIDEO_SIZE[0]}×{VIDEO_SIZE[1]} source ({size_mb:.1f} MB); "
        f"medians of {VIDEO_ROUNDS} rounds"
    )
    for name, result in (("ffmpeg ladder", baseline), ("video job", job)):
        print(
            f"  {name:<13} {result['seconds']:7.1f} s/video   "
            f"largest ffmpeg peak RSS {result['ffmpeg_peak_mib']} MiB"
        )
    return {
        "video_seconds": VIDEO_SECONDS,
        "video_job_s": round(job["seconds"], 2),
        "video_ffmpeg_s": round(baseline["seconds"], 2),
        "video_ratio": round(job["seconds"] / baseline["seconds"], 3),
        "video_job_peak_mib": job["ffmpeg_peak_mib"],
        "video_ffmpeg_peak_mib": baseline["ffmpeg_peak_mib"],
    }


def measure_and_print_feed() -> tuple[dict, bool]:
    feed = measure_feed()
    names = ("page", "api", "collection", "collection_api")
    print("\nfirst page                      10 items   1,000 items")
    for name in names:
        print(
            f"  {name:<14} queries        {feed[f'{name}_queries_10']:>8}   "
            f"{feed[f'{name}_queries_1000']:>11}"
        )
        print(
            f"  {name:<14} bytes          {feed[f'{name}_bytes_10']:>8}   "
            f"{feed[f'{name}_bytes_1000']:>11}"
        )
    print(f"  page  CSS and JS bytes {feed['page_assets_bytes']:>8}")
    print(
        f"  median of {TIMED_ROUNDS} at 1,000 items: feed page {feed['page_ms']} ms, "
        f"collection page {feed['collection_ms']} ms"
    )
    equal = all(feed[f"{n}_queries_10"] == feed[f"{n}_queries_1000"] for n in names)
    figures = {
        "feed_queries_10": feed["page_queries_10"],
        "feed_queries_1000": feed["page_queries_1000"],
        "api_queries_10": feed["api_queries_10"],
        "api_queries_1000": feed["api_queries_1000"],
        "feed_page_bytes": feed["page_bytes_1000"],
        "feed_assets_bytes": feed["page_assets_bytes"],
        "api_page_bytes": feed["api_bytes_1000"],
        "collection_queries_10": feed["collection_queries_10"],
        "collection_queries_1000": feed["collection_queries_1000"],
        "collection_api_queries_1000": feed["collection_api_queries_1000"],
        "feed_page_ms": feed["page_ms"],
        "collection_page_ms": feed["collection_ms"],
        "queries_equal": equal,
    }
    return figures, equal


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3], sys.argv[4:])
        sys.exit(0)
    sys.exit(main())
