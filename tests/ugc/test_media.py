"""Video probing, checks and transcoding (ugc.ffmpeg) against the real ffmpeg.

Test videos are made on the spot from ffmpeg's lavfi sources, tiny and short, so nothing
is downloaded. ffmpeg is a dependency (Debian's package, installed by `.ci/run`): if it is
missing these tests fail and say so, they are not skipped.
"""

import json
import os
import shutil
import subprocess

import pytest
from PIL import Image

from tests.ugc.factories import render_video
from ugc.ffmpeg import MediaError, VideoInfo, check_video, probe_video, process_video, sniff_video

LOCATION = "+51.5000-000.1000/"


@pytest.fixture(autouse=True)
def _require_ffmpeg():
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found on PATH: install Debian's ffmpeg package "
            "(apt-get install -y ffmpeg); the UGC media tests need it.",
            pytrace=False,
        )


@pytest.fixture
def make_test_video(tmp_path):
    """make_test_video(name, seconds=2, width=640, height=360, audio=True, ...) -> path."""

    def make(name="source.mp4", **options):
        return render_video(str(tmp_path / name), **options)

    return make


def ffprobe(path) -> dict:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return json.loads(done.stdout)


def stream(data, kind):
    return next((s for s in data["streams"] if s["codec_type"] == kind), None)


def assert_valid_rendition(path, *, short_side, duration_s, audio):
    data = ffprobe(path)
    video = stream(data, "video")
    assert video["codec_name"] == "h264"
    assert video["pix_fmt"] == "yuv420p"
    assert min(video["width"], video["height"]) == short_side
    assert video["width"] % 2 == 0 and video["height"] % 2 == 0
    assert float(data["format"]["duration"]) == pytest.approx(duration_s, abs=0.2)
    if audio:
        assert stream(data, "audio")["codec_name"] == "aac"
    else:
        assert stream(data, "audio") is None
    return video


def test_landscape_video_gets_poster_and_360p_only(make_test_video, tmp_path):
    source = make_test_video(width=640, height=360, audio=True)
    out_dir = tmp_path / "out"

    manifest = process_video(source, out_dir=str(out_dir))

    assert manifest["status"] == "ready"
    assert manifest["type"] == "video"
    assert manifest["duration_s"] == pytest.approx(2.0, abs=0.1)
    assert (manifest["width"], manifest["height"]) == (640, 360)
    assert manifest["aspect"] == pytest.approx(640 / 360, abs=0.001)
    # The source's short side is 360: no 720p upscale.
    assert [r["name"] for r in manifest["renditions"]] == ["360p"]
    rendition = manifest["renditions"][0]
    assert rendition["file"] == "360p.mp4"
    assert (rendition["width"], rendition["height"]) == (640, 360)
    assert rendition["bytes"] == os.path.getsize(out_dir / "360p.mp4") > 0
    assert_valid_rendition(out_dir / "360p.mp4", short_side=360, duration_s=2.0, audio=True)
    assert sorted(os.listdir(out_dir)) == ["360p.mp4", "hls", "poster.jpg", "preview.mp4"]

    with Image.open(out_dir / manifest["poster"]) as poster:
        assert poster.format == "JPEG"
        assert poster.size == (640, 360)
        assert "exif" not in poster.info
        assert "comment" not in poster.info
        poster.load()


def test_portrait_video_gets_360p_and_720p(make_test_video, tmp_path):
    source = make_test_video(seconds=1, width=720, height=1280, audio=False)
    out_dir = tmp_path / "out"

    manifest = process_video(source, out_dir=str(out_dir))

    assert (manifest["width"], manifest["height"]) == (720, 1280)
    sizes = {r["name"]: (r["width"], r["height"]) for r in manifest["renditions"]}
    assert sizes == {"360p": (360, 640), "720p": (720, 1280)}
    for name, short_side in (("360p", 360), ("720p", 720)):
        assert_valid_rendition(
            out_dir / f"{name}.mp4", short_side=short_side, duration_s=1.0, audio=False
        )
    with Image.open(out_dir / "poster.jpg") as poster:
        assert poster.size == (720, 1280)  # already under 1080 wide


def test_sideways_phone_video_comes_out_upright(make_test_video, tmp_path):
    # Phones store portrait video as landscape frames plus a rotation in the display matrix.
    stored = make_test_video(seconds=1, width=640, height=360)
    source = str(tmp_path / "phone.mp4")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", stored, "-c", "copy"]
        + ["-metadata:s:v:0", "rotate=90", source],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert stream(ffprobe(source), "video")["side_data_list"][0]["rotation"] in (90, -90)

    manifest = process_video(source, out_dir=str(tmp_path / "out"))

    assert (manifest["width"], manifest["height"]) == (360, 640)
    video = assert_valid_rendition(
        tmp_path / "out" / "360p.mp4", short_side=360, duration_s=1.0, audio=True
    )
    assert (video["width"], video["height"]) == (360, 640)
    assert not video.get("side_data_list")  # turned upright, not flagged for the player
    with Image.open(tmp_path / "out" / "poster.jpg") as poster:
        assert poster.size == (360, 640)


def test_wide_poster_is_scaled_to_1080_wide(make_test_video, tmp_path):
    source = make_test_video(seconds=1, width=1280, height=540, audio=False)

    process_video(source, out_dir=str(tmp_path / "out"))

    with Image.open(tmp_path / "out" / "poster.jpg") as poster:
        assert poster.width == 1080
        assert abs(poster.height - 1080 * 540 / 1280) <= 2


def test_location_and_other_metadata_are_stripped(make_test_video, tmp_path):
    source = make_test_video(
        seconds=1, metadata={"location": LOCATION, "title": "at home", "comment": "secret"}
    )
    tags = ffprobe(source)["format"]["tags"]
    assert tags["location"] == LOCATION  # the source really carries the GPS tag

    process_video(source, out_dir=str(tmp_path / "out"))

    data = ffprobe(str(tmp_path / "out" / "360p.mp4"))
    everything = json.dumps(
        [data["format"].get("tags", {})] + [s.get("tags", {}) for s in data["streams"]]
    )
    assert "location" not in everything.lower()
    assert "51.5000" not in everything
    assert "secret" not in everything and "at home" not in everything
    with open(tmp_path / "out" / "poster.jpg", "rb") as handle:
        assert b"51.5000" not in handle.read()


def test_webm_source_is_sniffed_and_transcoded(make_test_video, tmp_path):
    source = make_test_video("clip.webm", seconds=1, audio=True)

    info = probe_video(source)
    manifest = process_video(source, out_dir=str(tmp_path / "out"))

    assert (info.container, info.codec, info.has_audio) == ("webm", "vp8", True)
    assert_valid_rendition(
        tmp_path / "out" / "360p.mp4", short_side=360, duration_s=1.0, audio=True
    )
    assert manifest["status"] == "ready"


def test_probe_reports_the_video(make_test_video):
    info = probe_video(make_test_video(seconds=1, audio=False))

    assert info.container == "mp4"
    assert info.codec == "h264"
    assert (info.width, info.height) == (640, 360)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    assert info.has_audio is False
    assert info.size_bytes > 0


def test_too_long_video_is_refused_and_nothing_is_written(settings, make_test_video, tmp_path):
    settings.UGC_VIDEO_MAX_SECONDS = 1
    source = make_test_video(seconds=2)

    with pytest.raises(MediaError) as caught:
        process_video(source, out_dir=str(tmp_path / "out"))

    assert caught.value.code == "too_long"
    assert "limit is 1 s" in caught.value.message
    assert not (tmp_path / "out").exists()


def test_too_large_file_is_refused(settings, make_test_video):
    settings.UGC_VIDEO_MAX_BYTES = 1000
    info = probe_video(make_test_video(seconds=1))

    with pytest.raises(MediaError) as caught:
        check_video(info)

    assert caught.value.code == "too_large"


def test_text_file_named_mp4_is_not_a_video(tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video, just text with an .mp4 name\n" * 20)

    with pytest.raises(MediaError) as caught:
        probe_video(str(fake))

    assert caught.value.code == "not_video"


def test_image_named_mp4_is_not_a_video(tmp_path):
    fake = tmp_path / "photo.mp4"
    Image.new("RGB", (640, 360), "red").save(fake, format="PNG")

    with pytest.raises(MediaError) as caught:
        probe_video(str(fake))

    assert caught.value.code == "not_video"


def test_audio_only_mp4_has_no_video_stream(tmp_path):
    path = str(tmp_path / "voice.m4a")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i"]
        + ["sine=frequency=440:duration=1", "-c:a", "aac", path],
        check=True,
        capture_output=True,
        timeout=60,
    )

    with pytest.raises(MediaError) as caught:
        probe_video(path)

    assert caught.value.code == "no_video_stream"


def test_truncated_mp4_is_refused_by_probe(make_test_video, tmp_path):
    source = make_test_video(seconds=1)  # moov written at the end: the cut loses it
    with open(source, "rb") as handle:
        data = handle.read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])

    with pytest.raises(MediaError) as caught:
        process_video(str(cut), out_dir=str(tmp_path / "out"))

    assert caught.value.code == "probe_failed"


def test_truncated_faststart_mp4_fails_transcode_and_leaves_nothing(make_test_video, tmp_path):
    # With the index first, the header still promises 2 s but half the frames are gone.
    source = make_test_video(seconds=2, faststart=True)
    with open(source, "rb") as handle:
        data = handle.read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert probe_video(str(cut)).duration_s == pytest.approx(2.0, abs=0.1)

    with pytest.raises(MediaError) as caught:
        process_video(str(cut), out_dir=str(tmp_path / "out"))

    assert caught.value.code == "transcode_failed"
    assert "truncated" in caught.value.message
    assert len(caught.value.message) <= 600
    assert os.listdir(tmp_path / "out") == []


def test_media_error_is_an_application_error():
    from core.errors import ApplicationError

    error = MediaError("too_long", "The video is too long.")
    assert isinstance(error, ApplicationError)
    assert (error.code, error.message, str(error)) == (
        "too_long",
        "The video is too long.",
        "The video is too long.",
    )


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00\x00\x00\x08free"


def _ebml(doctype: bytes) -> bytes:
    header = b"\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header)]) + header + b"\x18\x53\x80\x67"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), "mp4"),
        (_ftyp(b"mp42", b"mp42", b"isom"), "mp4"),
        (_ftyp(b"qt  ", b"qt  "), "mov"),
        (_ftyp(b"M4A ", b"M4A ", b"isom", b"mp42"), "mp4"),  # by compatible brand
        (_ftyp(b"heic", b"mif1", b"heic"), None),  # an iPhone photo, not a video
        (_ftyp(b"avif", b"avif", b"mif1", b"miaf"), None),
        (_ftyp(b"zzzz", b"mif1", b"isom"), None),  # image brand wins over mp4 brand
        (_ftyp(b"zzzz", b"zzzz"), None),
        (_ebml(b"webm"), "webm"),
        (_ebml(b"matroska"), "mkv"),
        (b"\x1a\x45\xdf\xa3", "mkv"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", None),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None),
        (b"GIF89a\x01\x00\x01\x00", None),
        (b"RIFF\x00\x00\x00\x00AVI LIST", None),
        (b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n", None),  # a playlist posing as a video
        (b"hello, I am a text file", None),
        (b"\x00\x00\x00\x18ftyp", None),  # too short to name a brand
        (b"", None),
    ],
)
def test_sniff_video(head, expected):
    assert sniff_video(head) == expected


def test_sniff_video_on_real_files(make_test_video):
    for name, expected in (("a.mp4", "mp4"), ("b.webm", "webm")):
        with open(make_test_video(name, seconds=1, audio=False), "rb") as handle:
            assert sniff_video(handle.read(4096)) == expected


def _info(width, height, *, duration_s=10.0, size_bytes=1000):
    return VideoInfo(
        duration_s=duration_s,
        width=width,
        height=height,
        codec="h264",
        has_audio=True,
        container="mp4",
        size_bytes=size_bytes,
    )


@pytest.mark.parametrize(
    ("width", "height"),
    [(640, 360), (360, 640), (1080, 1920), (1080, 1080), (2560, 1080), (1080, 2520), (1170, 2532)],
)
def test_check_video_accepts(width, height):
    check_video(_info(width, height))


@pytest.mark.parametrize(
    ("info", "code"),
    [
        (_info(480, 270), "too_small"),
        (_info(270, 480), "too_small"),
        (_info(1920, 360), "bad_aspect"),  # 48:9
        (_info(360, 1920), "bad_aspect"),
        (_info(640, 360, duration_s=180.5), "too_long"),
        (_info(640, 360, size_bytes=200 * 1024 * 1024 + 1), "too_large"),
        (_info(16384, 16384), "too_large"),  # a frame-size bomb
    ],
)
def test_check_video_refuses(info, code):
    with pytest.raises(MediaError) as caught:
        check_video(info)
    assert caught.value.code == code


def test_check_video_reads_limits_from_settings(settings):
    settings.UGC_VIDEO_MIN_SIDE = 720
    with pytest.raises(MediaError) as caught:
        check_video(_info(640, 360))
    assert caught.value.code == "too_small"
    check_video(_info(640, 360), min_side=360)  # an explicit limit wins
