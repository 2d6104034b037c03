"""The HLS ladder, 1080p rendition and preview loop of the video job, against the real ffmpeg."""

import os
import re
import subprocess

import pytest
from django.core.files.storage import default_storage

from tests.ugc.factories import render_video
from ugc import ffmpeg
from ugc.media_files import manifest_files


def ffprobe_json(path):
    import json

    done = subprocess.run(  # noqa: S603
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",  # noqa: S607
         path],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_a_1080p_source_gets_the_full_ladder_as_hls_with_a_master_playlist(tmp_path):
    source = render_video(str(tmp_path / "src.mp4"), seconds=5, width=1080, height=1920)
    out_dir = tmp_path / "out"

    manifest = ffmpeg.process_video(source, out_dir=str(out_dir))

    assert [r["name"] for r in manifest["renditions"]] == ["360p", "720p", "1080p"]
    assert (manifest["renditions"][-1]["width"], manifest["renditions"][-1]["height"]) == (
        1080,
        1920,
    )
    master = (out_dir / "hls" / "master.m3u8").read_text()
    assert master.startswith("#EXTM3U\n")
    streams = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)\n", master)
    assert [uri for _, uri in streams] == ["360p.m3u8", "720p.m3u8", "1080p.m3u8"]
    bandwidths = [int(re.search(r"BANDWIDTH=(\d+)", attrs).group(1)) for attrs, _ in streams]
    assert bandwidths == sorted(bandwidths) and bandwidths[0] > 0
    assert "RESOLUTION=1080x1920" in streams[-1][0]
    assert 'CODECS="avc1.64' in streams[-1][0]
    for variant in manifest["hls"]["variants"]:
        playlist = (out_dir / "hls" / variant["playlist"]).read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and playlist.rstrip().endswith(
            "#EXT-X-ENDLIST"
        )
        durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+),", playlist)]
        assert sum(durations) == pytest.approx(5.0, abs=0.2)
        # Keyframes every 2 s in every rung: the segments of all rungs start together.
        assert durations[0] == pytest.approx(ffmpeg.HLS_SEGMENT_SECONDS, abs=0.05)
        for segment in variant["segments"]:
            data = ffprobe_json(str(out_dir / "hls" / segment))
            assert data["format"]["format_name"] == "mpegts"
            assert {s["codec_type"] for s in data["streams"]} == {"video", "audio"}


def test_the_preview_loop_is_three_silent_seconds_at_360p(tmp_path):
    source = render_video(str(tmp_path / "src.mp4"), seconds=5, width=720, height=1280)

    manifest = ffmpeg.process_video(source, out_dir=str(tmp_path / "out"))

    preview = manifest["preview"]
    assert (preview["width"], preview["height"]) == (360, 640)
    data = ffprobe_json(str(tmp_path / "out" / "preview.mp4"))
    assert [s["codec_type"] for s in data["streams"]] == ["video"]  # muted: no audio track
    assert float(data["format"]["duration"]) == pytest.approx(3.0, abs=0.1)
    assert preview["bytes"] == os.path.getsize(tmp_path / "out" / "preview.mp4")


def test_a_failure_while_segmenting_leaves_no_files(tmp_path, monkeypatch):
    source = render_video(str(tmp_path / "src.mp4"), seconds=1, width=640, height=360)

    def broken(*args, **kwargs):
        raise ffmpeg.MediaError("transcode_failed", "Making the HLS segments failed: disk full")

    monkeypatch.setattr(ffmpeg, "_segment_rendition", broken)
    with pytest.raises(ffmpeg.MediaError, match="disk full"):
        ffmpeg.process_video(source, out_dir=str(tmp_path / "out"))
    assert os.listdir(tmp_path / "out") == []


@pytest.mark.django_db
def test_the_stored_manifest_names_every_hls_file_and_archiving_lists_them_all():
    from tests.ugc.factories import media_upload, video_bytes
    from tests.ugc.test_ingest import ingest
    from ugc import services

    item = ingest(media_file=media_upload("clip.mp4", video_bytes(seconds=5), "video/mp4"))
    services.ugc_media_process(item_id=item.pk)
    item.refresh_from_db()
    manifest = item.media_manifest
    folder = services.media_folder(item.pk)
    assert manifest["hls"]["master"]["name"] == f"{folder}/hls/master.m3u8"
    assert manifest["preview"]["name"] == f"{folder}/preview.mp4"
    stored = {f"{folder}/hls/{name}" for name in default_storage.listdir(f"{folder}/hls")[1]}
    stored |= {f"{folder}/{name}" for name in default_storage.listdir(folder)[1]}
    assert set(manifest_files(manifest)) == stored  # archiving deletes exactly these
