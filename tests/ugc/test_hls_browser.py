"""HLS in a real Chromium: the feed's video plays from the master playlist.

Debian's Chromium may not play HLS natively; feed.js then loads the vendored hls.js, which
feeds the same master playlist through Media Source Extensions. Either way the element must
reach HAVE_FUTURE_DATA (readyState >= 3) from the playlist, not from the MP4 fallback.
"""

import pytest
from playwright.sync_api import expect

from tests.ugc.factories import media_upload, publishable_item, video_bytes, with_card_links
from tests.ugc.test_ingest import ingest
from ugc import services
from ugc.models import UGCItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def hls_video_item():
    """A published video whose media went through the real job (ffmpeg, HLS, storage)."""
    source = ingest(
        media_file=media_upload("clip.mp4", video_bytes(seconds=6, width=720, height=1280),
                                "video/mp4")
    )  # fmt: skip
    services.ugc_media_process(item_id=source.pk)
    source.refresh_from_db()
    assert source.media_status == "ready", source.media_manifest
    item = publishable_item(
        status=UGCItem.Status.PUBLISHED,
        media_type=UGCItem.MediaType.VIDEO,
        media_manifest=source.media_manifest,
    )
    return with_card_links(item), source.media_manifest


# Recent Chromium plays HLS natively; hiding that (as older Chromium and Firefox are) makes
# feed.js take the hls.js path, so both paths are played for real.
HIDE_NATIVE_HLS = """
const canPlayType = HTMLMediaElement.prototype.canPlayType;
HTMLMediaElement.prototype.canPlayType = function (type) {
  return /mpegurl/i.test(type) ? "" : canPlayType.call(this, type);
};
"""


@pytest.mark.parametrize("browser_hls", ["native if the browser has it", "hidden"])
def test_the_feed_video_plays_from_the_hls_master_playlist(page, live_server, browser_hls):
    item, manifest = hls_video_item()
    if browser_hls == "hidden":
        page.add_init_script(HIDE_NATIVE_HLS)
    requests = []
    page.on("request", lambda r: requests.append(r.url))

    page.goto("/shop/feed")
    video = page.locator(f'.feed-item[data-id="{item.pk}"] video.feed-media')
    master_url = "/media/" + manifest["hls"]["master"]["name"]
    expect(video).to_have_attribute("data-hls", master_url)
    page.wait_for_function("v => v.readyState >= 3", arg=video.element_handle(), timeout=20_000)
    how = video.get_attribute("data-stream")
    assert how in ("native", "hls.js"), how
    if browser_hls == "hidden":
        assert how == "hls.js"
    # It came through the playlists and their segments, not the MP4 renditions.
    assert any(url.endswith(master_url) for url in requests)
    assert any(url.endswith(".ts") for url in requests)
    assert not any(url.endswith(".mp4") for url in requests)
    if how == "hls.js":
        assert any("vendor/hls.js-1.7.4/hls.light.min.js" in url for url in requests)
    assert page.js_errors == []
