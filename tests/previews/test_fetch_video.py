"""The safe fetcher's "video" kind (issue 18): video types only, its own size and time limits
instead of the page limits, the same address rules."""

import pytest

from previews.fetch import BlockedURL, TooLarge, UnsupportedContent, fetch


def test_a_video_fetch_takes_videos_past_the_page_size_limit(server, allow_local, settings):
    settings.PREVIEW_FETCH_MAX_BYTES = 1000  # pages and images stop here
    settings.PREVIEW_FETCH_VIDEO_MAX_BYTES = 5000
    body = b"\x00\x00\x00\x18ftypmp42" + b"v" * 3000
    server.reply("/clip.mp4", body=body, headers={"Content-Type": "video/mp4"})
    server.reply("/same.png", body=body, headers={"Content-Type": "image/png"})
    result = fetch(server.url("/clip.mp4"), kind="video")
    assert result.content == body and result.content_type == "video/mp4" and result.text is None
    with pytest.raises(TooLarge):  # the same bytes as an image: the page limit holds
        fetch(server.url("/same.png"), kind="image")


def test_a_video_fetch_has_its_own_limit_and_takes_only_videos(server, allow_local, settings):
    settings.PREVIEW_FETCH_VIDEO_MAX_BYTES = 2000
    server.reply("/big.mp4", body=b"v" * 3000, headers={"Content-Type": "video/mp4"})
    server.reply("/page", body=b"<html></html>", headers={"Content-Type": "text/html"})
    with pytest.raises(TooLarge):
        fetch(server.url("/big.mp4"), kind="video")
    with pytest.raises(UnsupportedContent):
        fetch(server.url("/page"), kind="video")
    with pytest.raises(TooLarge):  # max_bytes can only lower the video limit
        fetch(server.url("/big.mp4"), kind="video", max_bytes=5000)


def test_a_video_fetch_keeps_the_address_rules():
    with pytest.raises(BlockedURL):
        fetch("http://127.0.0.1/clip.mp4", kind="video")
