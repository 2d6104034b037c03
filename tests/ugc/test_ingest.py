"""Ingestion: sniffing, hostile files, idempotency, duplicates, the blocklist, media jobs."""

import hashlib
import io

import pytest
from django.core.files.storage import default_storage, storages
from PIL import Image

from core.errors import ApplicationError
from tests.catalog.test_images import jpeg_with_exif, png_declaring
from tests.links.factories import CreatorFactory
from tests.ugc.factories import (
    BlocklistEntryFactory,
    media_upload,
    pattern_bytes,
    publishable_item,
    video_bytes,
)
from ugc import ffmpeg, services, tasks
from ugc.models import BlocklistEntry, ModerationEvent, UGCItem
from ugc.services import ingest as ingest_services
from ugc.services import media as media_services

S = UGCItem.Status


def mp4_header_only() -> bytes:
    """An ftyp box that says MP4, then an empty mdat: sniffs as a video, holds none."""
    ftyp = b"ftypmp42\x00\x00\x00\x00mp42isom"
    return (len(ftyp) + 4).to_bytes(4, "big") + ftyp + b"\x00\x00\x00\x08mdat" + b"\x00" * 64


def ingest(**kwargs):
    kwargs.setdefault("source", UGCItem.Source.UPLOAD)
    kwargs.setdefault("media_file", media_upload())
    return services.ugc_ingest(**kwargs)


def stored_files() -> list[str]:
    """Every UGC file kept, public or private."""
    found = []

    def walk(storage, path):
        dirs, files = storage.listdir(path)
        found.extend(f"{path}/{name}" for name in files)
        for name in dirs:
            walk(storage, f"{path}/{name}")

    for storage in (default_storage, storages["private"]):
        if storage.exists("ugc"):
            walk(storage, "ugc")
    return found


@pytest.mark.django_db
def test_an_image_is_ingested_queued_with_hashes_and_an_audit(django_capture_on_commit_callbacks):
    data = pattern_bytes(7)
    creator = CreatorFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        item = ingest(
            source="tiktok",
            external_id="7301",
            media_file=media_upload("clip.png", data),
            caption="My new hoodie",
            author_handle="@maya",
            creator=creator,
        )
    assert len(callbacks) == 1  # the media job, once committed
    item.refresh_from_db()
    assert (item.status, item.media_type, item.content_type) == (S.QUEUED, "image", "image/png")
    assert item.author_handle == "maya"
    assert item.creator == creator
    assert item.file_sha256 == hashlib.sha256(data).hexdigest()
    assert len(item.perceptual_hash) == 16
    assert item.flags == []
    assert (item.media_status, item.media_manifest) == ("pending", {})
    with item.original.open("rb") as fh:
        assert fh.read() == data
    event = ModerationEvent.objects.get()
    assert (event.action, event.from_status, event.to_status) == ("ingest", "", "queued")


@pytest.mark.django_db
def test_ingestion_is_idempotent_by_source_and_external_id():
    first = ingest(source="instagram", external_id="C0ffee", media_file=media_upload(seed=1))
    again = ingest(source="instagram", external_id="C0ffee", media_file=media_upload(seed=2))
    assert again.pk == first.pk
    other_source = ingest(source="tiktok", external_id="C0ffee", media_file=media_upload(seed=3))
    assert other_source.pk != first.pk
    no_id_1 = ingest(media_file=media_upload(seed=4))
    no_id_2 = ingest(media_file=media_upload(seed=5))
    assert no_id_1.pk != no_id_2.pk
    assert UGCItem.objects.count() == 4
    assert ModerationEvent.objects.filter(action="ingest").count() == 4


@pytest.mark.django_db
def test_a_lost_race_on_the_same_post_returns_the_winner(monkeypatch):
    winner = ingest(source="tiktok", external_id="42", media_file=media_upload(seed=1))
    real_filter = UGCItem.objects.filter
    calls = {"n": 0}

    def first_lookup_misses(*args, **kwargs):  # as if the other request had not committed yet
        calls["n"] += 1
        if calls["n"] == 1:
            return UGCItem.objects.none()
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(UGCItem.objects, "filter", first_lookup_misses)
    again = ingest(source="tiktok", external_id="42", media_file=media_upload(seed=2))
    monkeypatch.undo()
    assert again.pk == winner.pk
    assert UGCItem.objects.count() == 1
    assert len(stored_files()) == 1  # the loser's file was removed


@pytest.mark.django_db
def test_the_same_file_is_flagged_as_a_duplicate():
    first = ingest(media_file=media_upload(seed=9))
    second = ingest(media_file=media_upload("copy.png", pattern_bytes(9)))
    assert second.flags == [{"code": "duplicate", "detail": f"same file as item {first.pk}"}]
    assert first.flags == []


@pytest.mark.django_db
def test_a_near_copy_is_flagged_by_its_perceptual_hash():
    first = ingest(media_file=media_upload(seed=11))
    # The same picture re-encoded as a JPEG, smaller: other bytes, (nearly) the same dHash.
    near = pattern_bytes(11, fmt="JPEG", size=(360, 360), quality=70)
    second = ingest(media_file=media_upload("near.jpg", near, "image/jpeg"))
    assert services.hamming(first.perceptual_hash, second.perceptual_hash) <= 6
    assert second.file_sha256 != first.file_sha256
    assert [f["code"] for f in second.flags] == ["near_duplicate"]
    assert f"item {first.pk}" in second.flags[0]["detail"]
    different = ingest(media_file=media_upload(seed=12))
    assert services.hamming(first.perceptual_hash, different.perceptual_hash) > 6
    assert different.flags == []


def test_dhash_is_64_bits_and_follows_brightness_gradients():
    def gradient(angle) -> Image.Image:
        return Image.linear_gradient("L").rotate(angle).resize((90, 80))

    # Brightness falls from left to right: every left neighbour is brighter, every bit set.
    assert services.perceptual_hash(gradient(-90)) == "f" * 16
    assert services.perceptual_hash(gradient(90)) == "0" * 16
    assert services.hamming("f" * 16, "0" * 16) == 64


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("bomb.png", png_declaring(100_000, 100_000), "image_too_many_pixels"),
        ("cut.jpg", pattern_bytes(3, fmt="JPEG")[:1500], "image_corrupt"),
        ("photo.jpg", b"<html><script>alert(1)</script></html>", "media_unsupported"),
        ("photo.png", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "media_unsupported"),
        ("clip.mp4", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "media_unsupported"),
        ("empty.png", b"", "media_empty"),
        ("tiny.png", pattern_bytes(3, size=(200, 200)), "media_too_small"),
        ("banner.png", pattern_bytes(3, size=(1200, 400)), "media_aspect_ratio"),
    ],
)
def test_hostile_and_unusable_files_are_refused_and_nothing_is_kept(name, content, code):
    with pytest.raises(ApplicationError) as exc:
        ingest(media_file=media_upload(name, content))
    assert exc.value.code == code
    assert exc.value.fields["media_file"]
    assert not UGCItem.objects.exists()
    assert stored_files() == []


@pytest.mark.django_db
def test_a_png_named_jpg_is_accepted_as_a_png():
    item = ingest(media_file=media_upload("photo.jpg", pattern_bytes(5), "image/jpeg"))
    assert item.content_type == "image/png"
    assert item.original.name.endswith(".png")


@pytest.mark.django_db
def test_video_size_is_limited(settings):
    settings.UGC_VIDEO_MAX_BYTES = 50
    with pytest.raises(ApplicationError) as exc:
        ingest(media_file=media_upload("clip.mp4", video_bytes(), "video/mp4"))
    assert exc.value.code == "media_too_large"
    assert stored_files() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "extension", "content_type"),
    [
        ("clip.mp4", "mp4", "video/mp4"),
        ("clip.mov", "mov", "video/quicktime"),
        ("clip.mp4", "webm", "video/webm"),  # the name lies; the content decides
    ],
)
def test_videos_are_sniffed_by_their_container(name, extension, content_type):
    content = video_bytes(extension)
    item = ingest(media_file=media_upload(name, content, "application/octet-stream"))
    assert (item.media_type, item.content_type) == ("video", content_type)
    assert item.perceptual_hash == ""
    assert item.file_sha256 == hashlib.sha256(content).hexdigest()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "code"),
    [
        (video_bytes()[: len(video_bytes()) // 2], "media_probe_failed"),  # truncated
        (mp4_header_only(), "media_probe_failed"),  # an MP4 header and nothing else
        (video_bytes(width=320, height=240), "media_too_small"),
        (video_bytes(width=1280, height=360), "media_bad_aspect"),
    ],
)
def test_unusable_videos_are_refused_at_ingestion_and_nothing_is_kept(content, code):
    with pytest.raises(ApplicationError) as exc:
        ingest(media_file=media_upload("clip.mp4", content, "video/mp4"))
    assert exc.value.code == code
    assert exc.value.fields["media_file"]
    assert (UGCItem.objects.count(), stored_files()) == (0, [])


@pytest.mark.django_db
def test_a_video_longer_than_the_limit_is_refused(settings):
    settings.UGC_VIDEO_MAX_SECONDS = 1
    with pytest.raises(ApplicationError) as exc:
        ingest(media_file=media_upload("clip.mp4", video_bytes(seconds=2), "video/mp4"))
    assert exc.value.code == "media_too_long"


@pytest.mark.django_db
def test_rights_can_come_with_the_content():
    item = ingest(
        rights={
            "consent_method": "creator_agreement",
            "allowed_channels": ["site"],
            "proof_url": "https://example.com/agreement.pdf",
        }
    )
    assert item.rights.allowed_channels == ["site"]
    assert list(item.events.values_list("action", flat=True)) == ["ingest", "rights_grant"]


@pytest.mark.django_db
def test_bad_rights_refuse_the_whole_ingestion():
    with pytest.raises(ApplicationError) as exc:
        ingest(rights={"consent_method": "dm_approval", "allowed_channels": ["site"]})
    assert "proof_text" in exc.value.fields
    assert not UGCItem.objects.exists()
    assert stored_files() == []


# --- the blocklist ------------------------------------------------------------------------

WORD, HANDLE = BlocklistEntry.Kind.WORD, BlocklistEntry.Kind.HANDLE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("term", "kind", "caption", "handle", "hit"),
    [
        ("spam", WORD, "Buy SPAM now", "", True),
        ("spam", WORD, "ＳＰＡＭ deals", "", True),  # full-width letters
        ("spam", WORD, "spam!", "", True),
        ("spam", WORD, "spammy deals", "", False),  # whole words only
        ("spam", WORD, "antispam filter", "", False),
        ("café", WORD, "Best cafe\u0301 in town", "", True),  # decomposed accent
        ("cafe\u0301", WORD, "BEST CAFÉ", "", True),
        ("cafe", WORD, "the café", "", False),  # NFKC keeps accents
        ("straße", WORD, "STRASSE sale", "", True),  # case folding
        ("ﬁne print", WORD, "read the fine print", "", True),  # ligature
        ("free money", WORD, "get Free Money today", "", True),
        ("@BadGuy", HANDLE, "", "badguy", True),
        ("badguy", HANDLE, "", "@ＢａｄＧｕｙ", True),
        ("badguy", HANDLE, "", "badguy2", False),  # handles match exactly
        ("badguy", HANDLE, "hi badguy", "someone", False),  # a handle entry ignores captions
        ("badguy", WORD, "", "badguy", False),  # a word entry ignores the handle
    ],
)
def test_blocklist_matching(term, kind, caption, handle, hit):
    BlocklistEntryFactory(term=term, kind=kind)
    assert bool(services.blocklist_hits(caption=caption, author_handle=handle)) is hit


@pytest.mark.django_db
def test_inactive_entries_do_not_match():
    BlocklistEntryFactory(term="spam", active=False)
    assert services.blocklist_hits(caption="spam") == []


@pytest.mark.django_db
def test_a_flagging_entry_flags_and_queues():
    BlocklistEntryFactory(term="giveaway", action=BlocklistEntry.Action.FLAG)
    item = ingest(caption="Huge GIVEAWAY!")
    assert item.status == S.QUEUED
    assert item.flags == [
        {"code": "blocklist", "detail": "blocked word “giveaway”", "action": "flag"}
    ]


@pytest.mark.django_db
def test_a_rejecting_entry_rejects_with_the_system_reason_and_an_event():
    BlocklistEntryFactory(term="scam", action=BlocklistEntry.Action.REJECT)
    BlocklistEntryFactory(term="troll", kind=HANDLE, action=BlocklistEntry.Action.REJECT)
    item = ingest(caption="total SCAM", author_handle="@Troll")
    item.refresh_from_db()
    assert item.status == S.REJECTED
    assert item.rejection_reason.label == "Blocked term"
    assert item.rejection_note == "blocked word “scam”; blocked handle @troll"
    assert [f["code"] for f in item.flags] == ["blocklist", "blocklist"]
    events = list(item.events.values_list("action", "from_status", "to_status", "actor"))
    assert events == [("ingest", "", "queued", None), ("auto_reject", "queued", "rejected", None)]
    # The system reason is made once and reused.
    ingest(caption="another scam", media_file=media_upload(seed=99))
    assert item.rejection_reason.items.count() == 2


# --- media jobs ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_media_job_makes_a_clean_display_copy_and_a_thumbnail(
    django_capture_on_commit_callbacks,
):
    big = Image.open(io.BytesIO(jpeg_with_exif())).resize((2000, 1500))
    exif = Image.open(io.BytesIO(jpeg_with_exif())).getexif()
    out = io.BytesIO()
    big.save(out, format="JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(out.getvalue())).getexif()  # GPS and camera inside
    with django_capture_on_commit_callbacks(execute=True):  # Celery runs eagerly in tests
        item = ingest(media_file=media_upload("big.jpg", out.getvalue(), "image/jpeg"))
    item.refresh_from_db()
    manifest = item.media_manifest
    assert item.media_status == "ready"
    assert (manifest["width"], manifest["height"], manifest["aspect"]) == (1080, 810, 1.3333)
    assert manifest["display"]["name"] == f"{services.media_folder(item.pk)}/display.jpg"
    assert manifest["thumbnail"]["name"] == f"{services.media_folder(item.pk)}/thumb.jpg"
    assert (manifest["thumbnail"]["width"], manifest["thumbnail"]["height"]) == (400, 300)
    for key in ("display", "thumbnail"):
        with default_storage.open(manifest[key]["name"]) as fh:
            stored = Image.open(io.BytesIO(fh.read()))
        assert not stored.getexif()
        assert stored.size == (manifest[key]["width"], manifest[key]["height"])
    # Running it again changes nothing and leaves no stray copies.
    tasks.process_media.delay(item.pk)
    services.ugc_media_process(item_id=item.pk)
    assert len(default_storage.listdir(services.media_folder(item.pk))[1]) == 2


@pytest.mark.django_db
def test_reprocessing_rewrites_the_files_in_place():
    item = ingest()
    services.ugc_media_process(item_id=item.pk)
    UGCItem.objects.filter(pk=item.pk).update(media_status="pending")
    services.ugc_media_process(item_id=item.pk)
    files = default_storage.listdir(services.media_folder(item.pk))[1]
    assert sorted(files) == ["display.jpg", "thumb.jpg"]


@pytest.mark.django_db
def test_the_media_job_makes_a_poster_thumbnail_and_renditions_of_a_video():
    item = ingest(media_file=media_upload("clip.mp4", video_bytes(), "video/mp4"))
    services.ugc_media_process(item_id=item.pk)
    item.refresh_from_db()
    manifest = item.media_manifest
    assert (item.media_status, manifest["kind"]) == ("ready", "video")
    assert (manifest["width"], manifest["height"]) == (640, 360)
    assert manifest["duration_s"] == pytest.approx(1.0, abs=0.1)
    assert [r["label"] for r in manifest["renditions"]] == ["360p"]  # never upscaled
    assert manifest["renditions"][0]["content_type"] == "video/mp4"
    assert sorted(default_storage.listdir(services.media_folder(item.pk))[1]) == [
        "360p.mp4",
        "poster.jpg",
        "preview.mp4",
        "thumb.jpg",
    ]
    hls_folder = services.media_folder(item.pk) + "/hls"
    assert sorted(default_storage.listdir(hls_folder)[1]) == [
        "360p.m3u8",
        "360p_000.ts",
        "master.m3u8",
    ]
    with default_storage.open(manifest["display"]["name"]) as fh, Image.open(fh) as poster:
        assert poster.size == (manifest["display"]["width"], manifest["display"]["height"])


@pytest.mark.django_db
def test_a_media_failure_flags_the_item_and_raises_for_a_retry(monkeypatch):
    def broken(path, *, out_dir):
        raise RuntimeError("ffmpeg exited with 1")

    real = ffmpeg.process_video
    monkeypatch.setattr(ffmpeg, "process_video", broken)
    item = ingest(media_file=media_upload("clip.mp4", video_bytes(), "video/mp4"))
    with pytest.raises(services.MediaProcessingError):
        services.ugc_media_process(item_id=item.pk)
    with pytest.raises(services.MediaProcessingError):
        services.ugc_media_process(item_id=item.pk)
    item.refresh_from_db()
    assert item.flags == [{"code": "media_error", "detail": "RuntimeError: ffmpeg exited with 1"}]
    assert item.media_status == "failed"
    assert services.MediaProcessingError in tasks.process_media.autoretry_for

    monkeypatch.setattr(ffmpeg, "process_video", real)
    services.ugc_media_process(item_id=item.pk)
    item.refresh_from_db()
    assert (item.media_status, item.flags) == ("ready", [])


@pytest.mark.django_db
def test_a_video_ffmpeg_cannot_decode_fails_without_retrying():
    item = ingest(media_file=media_upload("clip.mp4", video_bytes(), "video/mp4"))
    data = video_bytes()
    with item.original.storage.open(item.original.name, "wb") as fh:
        fh.write(data[: len(data) // 2])
    assert services.ugc_media_process(item_id=item.pk) is None  # no exception: no retry
    item.refresh_from_db()
    assert item.media_status == "failed"
    assert item.flag_codes == ["media_error"]


@pytest.mark.django_db
def test_a_corrupt_stored_original_fails_without_retrying():
    item = ingest()
    with item.original.storage.open(item.original.name, "wb") as fh:
        fh.write(b"not an image any more")
    assert services.ugc_media_process(item_id=item.pk) is None
    item.refresh_from_db()
    assert item.media_status == "failed"
    assert item.flag_codes == ["media_error"]


@pytest.mark.django_db
def test_a_deleted_item_is_skipped():
    assert services.ugc_media_process(item_id=123_456) is None


@pytest.mark.django_db
def test_originals_are_private_and_only_the_stripped_copies_are_public(settings):
    item = ingest(media_file=media_upload("photo.jpg", pattern_bytes(3, "JPEG"), "image/jpeg"))
    services.ugc_media_process(item_id=item.pk)
    item.refresh_from_db()
    original_path = item.original.path
    assert original_path.startswith(str(settings.PRIVATE_MEDIA_ROOT))
    assert not original_path.startswith(str(settings.MEDIA_ROOT))
    with pytest.raises(ValueError, match="no URL"):
        item.original.url  # noqa: B018
    display = item.media_manifest["display"]["name"]
    assert default_storage.exists(display)  # the stripped copy is public
    assert not default_storage.exists(item.original.name)  # the original is not


@pytest.mark.django_db
def test_public_copies_sit_in_a_folder_nobody_can_guess_from_the_id(settings):
    item = ingest()
    services.ugc_media_process(item_id=item.pk)
    item.refresh_from_db()
    folder = services.media_folder(item.pk)
    assert folder.startswith(f"ugc/{item.pk}-") and len(folder) > len(f"ugc/{item.pk}-") + 16
    assert item.media_manifest["display"]["name"].startswith(folder + "/")
    assert not default_storage.exists(f"ugc/{item.pk}")
    settings.SECRET_KEY = "another-secret-key-for-another-site-0123456789-abcdefghijklmnop"
    assert services.media_folder(item.pk) != folder  # keyed by the site's secret


@pytest.mark.django_db(transaction=True)
def test_archiving_deletes_the_public_copies_and_a_late_job_cannot_bring_them_back(moderator):
    item = publishable_item(status=UGCItem.Status.PUBLISHED, media_status="pending")
    services.ugc_media_process(item_id=item.pk)
    item.refresh_from_db()
    files = [item.media_manifest["display"]["name"], item.media_manifest["thumbnail"]["name"]]
    assert all(default_storage.exists(name) for name in files)

    services.ugc_archive(item_id=item.pk, actor=moderator, reason="Creator asked")
    item.refresh_from_db()
    assert item.media_status == "withdrawn"
    assert not any(default_storage.exists(name) for name in files)
    assert item.original.storage.exists(item.original.name)  # the private original stays

    assert services.ugc_media_process(item_id=item.pk).media_status == "withdrawn"
    assert not any(default_storage.exists(name) for name in files)


@pytest.mark.django_db
def test_a_job_that_fails_after_another_made_the_media_changes_nothing():
    item = publishable_item(status=UGCItem.Status.PUBLISHED)
    ready = dict(item.media_manifest)
    media_services._media_failed(item.pk, "RuntimeError: a late duplicate run failed")
    item.refresh_from_db()
    assert (item.media_manifest, item.flags) == (ready, [])


@pytest.mark.django_db
def test_a_job_out_of_time_fails_for_good_instead_of_retrying(monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    def too_slow(item):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(media_services, "_image_manifest", too_slow)
    item = ingest()
    assert services.ugc_media_process(item_id=item.pk) is None  # no exception: no retry
    item.refresh_from_db()
    assert item.media_status == "failed"
    assert "time limit" in item.flags[0]["detail"]


@pytest.mark.django_db
def test_failed_or_lost_media_jobs_run_again(moderator, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    stuck = ingest(media_file=media_upload(seed=21))
    fresh = ingest(media_file=media_upload(seed=22))
    UGCItem.objects.filter(pk__in=[stuck.pk, fresh.pk]).update(media_status="pending")
    UGCItem.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert tasks.media_sweep() == 1  # eager: the job ran for the stuck item only
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert (stuck.media_status, fresh.media_status) == ("ready", "pending")

    UGCItem.objects.filter(pk=fresh.pk).update(media_status="failed", media_manifest={"error": "x"})
    with django_capture_on_commit_callbacks(execute=True):
        services.ugc_media_retry(item_id=fresh.pk, actor=moderator)
    fresh.refresh_from_db()
    assert fresh.media_status == "ready"
    assert fresh.events.filter(action="media_retry").exists()
    with pytest.raises(ApplicationError) as exc:
        services.ugc_media_retry(item_id=fresh.pk, actor=moderator)
    assert exc.value.code == "media_settled"


@pytest.mark.django_db
def test_postgresql_and_python_find_the_same_closest_hash():
    first = ingest(media_file=media_upload(seed=31))
    ingest(media_file=media_upload(seed=32))
    near = pattern_bytes(31, fmt="JPEG", size=(360, 360), quality=70)
    probe = services.perceptual_hash(Image.open(io.BytesIO(near)))
    candidates = UGCItem.objects.exclude(perceptual_hash="")
    in_sql = ingest_services._closest_hash_in_sql(candidates, probe)
    in_python = ingest_services._closest_hash_in_python(candidates, probe)
    assert in_sql == in_python
    assert in_sql[0] == first.pk and in_sql[1] == services.hamming(probe, first.perceptual_hash)
