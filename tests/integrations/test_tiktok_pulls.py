"""TikTok account videos against the local TikTok for Developers server: Login Kit's OAuth from
the console, pulls with TikTok's cursors, re-pulls, rate limits, tokens that die mid-pull
(refreshed, or refused and reconnecting), deleted videos, filters, rights by the consent page
and the feed's link to the video."""

import json
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from django.contrib.auth.models import User
from django.db import connection as db
from django.utils import timezone

from core.errors import ApplicationError
from integrations import ratelimit, services, social
from integrations.models import Connection, PulledPost, SocialSource
from tests.catalog.factories import ProductFactory
from tests.integrations.conftest import TT_OPEN_ID, TT_REDIRECT, video
from tests.integrations.helpers import callback, connect, consent, start
from ugc import services as ugc_services
from ugc.models import RightsRequest, SocialPost, UGCItem

pytestmark = pytest.mark.django_db


def make_source(tt_connection, **fields):
    return social.social_source_save(connection_id=tt_connection.pk, kind="tiktok_videos", **fields)


def list_calls(server):
    return server.requests_to(r"^/v2/video/list/$", "POST")


# -- connecting --------------------------------------------------------------------------


def test_console_connects_a_tiktok_account_with_login_kit(owner_client, tt_server):
    connection = connect(owner_client, "tiktok")

    assert connection.status == Connection.Status.ACTIVE
    assert (connection.account_id, connection.account_name) == (TT_OPEN_ID, "@acme.tok")
    assert connection.scopes == ["user.info.basic", "user.info.profile", "video.list"]
    assert connection.settings["username"] == "acme.tok"
    assert connection.refresh_token.startswith("rft.")
    in_a_day = timezone.now() + timedelta(hours=24)
    assert abs((connection.access_token_expires_at - in_a_day).total_seconds()) < 60
    assert connection.refresh_token_expires_at > timezone.now() + timedelta(days=364)
    authorize = tt_server.requests_to(r"^/v2/auth/authorize/$")[0]
    assert authorize.arg("client_key") == tt_server.client_key
    assert authorize.arg("scope") == "user.info.basic,user.info.profile,video.list"
    assert authorize.arg("response_type") == "code" and authorize.arg("redirect_uri") == TT_REDIRECT
    token = tt_server.requests_to(r"^/v2/oauth/token/$")[0]
    assert token.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert token.form()["grant_type"] == "authorization_code"
    assert token.form()["redirect_uri"] == TT_REDIRECT
    with db.cursor() as cursor:  # encrypted at rest
        cursor.execute(
            "SELECT access_token, refresh_token FROM integrations_connection WHERE id = %s",
            [connection.pk],
        )
        raw = " ".join(cursor.fetchone())
    assert connection.access_token not in raw and connection.refresh_token not in raw
    detail = owner_client.get(f"/admin/integrations/connection/{connection.pk}/change/")
    assert detail.status_code == 200 and b"@acme.tok" in detail.content
    assert b'value="sync"' not in detail.content  # no catalog: nothing to sync
    assert b"Reconnect" in detail.content
    assert connection.access_token.encode() not in detail.content


def test_a_replayed_or_refused_callback_connects_nothing(owner_client, tt_server):
    back = consent(start(owner_client, "tiktok"))
    assert callback(owner_client, back).status_code == 302
    assert Connection.objects.count() == 1

    replay = callback(owner_client, back)  # the same state again
    assert replay.status_code == 302 and Connection.objects.count() == 1

    state = parse_qs(urlsplit(start(owner_client, "tiktok")).query)["state"][0]
    denied = owner_client.get(
        "/integrations/oauth/tiktok/callback",
        {"state": state, "error": "access_denied", "error_description": "The user denied"},
    )
    assert denied.status_code == 302 and Connection.objects.count() == 1


def test_disconnect_revokes_the_grant_and_forgets_the_tokens(tt_server, tt_connection):
    token = tt_connection.access_token

    services.connection_disconnect(connection_id=tt_connection.pk)

    tt_connection.refresh_from_db()
    assert tt_connection.status == Connection.Status.DISCONNECTED
    assert tt_connection.access_token == "" and tt_connection.refresh_token == ""
    assert tt_server.requests_to(r"^/v2/oauth/revoke/$")[0].form()["token"] == token
    assert token not in tt_server.access


def test_sync_now_is_refused_for_a_tiktok_account(tt_connection):
    with pytest.raises(ApplicationError, match="no catalog to sync"):
        services.connection_sync_now(connection_id=tt_connection.pk)


# -- pulls -------------------------------------------------------------------------------


def test_pull_walks_pages_with_cursors_and_ingests_covers(tt_server, tt_connection):
    ids = [video(tt_server, n) for n in range(25)]
    source = make_source(tt_connection)
    assert source.ig_user_id == TT_OPEN_ID  # filled in from the connection

    result = social.social_source_pull(source_id=source.pk)

    assert (result.new, result.pages, result.finished, result.refused) == (25, 2, True, 0)
    items = UGCItem.objects.filter(source=UGCItem.Source.TIKTOK)
    assert sorted(items.values_list("external_id", flat=True)) == sorted(ids)
    item = items.get(external_id=ids[0])
    assert item.status == UGCItem.Status.QUEUED
    assert item.media_type == UGCItem.MediaType.IMAGE  # the video's cover
    assert item.author_handle == "acme.tok"
    assert item.caption == "My favourite jacket for long walks #acmefit 0"
    post = SocialPost.objects.get(item=item)
    assert post.permalink == f"https://www.tiktok.com/@acme.tok/video/{ids[0]}"
    assert post.embed_url == f"https://www.tiktok.com/player/v1/{ids[0]}"
    assert post.posted_at == datetime.fromtimestamp(1_790_000_000, tz=UTC)
    calls = list_calls(tt_server)
    first, second = (json.loads(c.body) for c in calls)
    assert first == {"max_count": 20}
    assert second["max_count"] == 20 and second["cursor"] == (1_790_000_000 + 5 * 60) * 1000
    fields = calls[0].arg("fields").split(",")
    assert {"id", "cover_image_url", "share_url", "embed_link", "create_time"} <= set(fields)
    source.refresh_from_db()
    assert source.cursor == "" and source.last_counts["new"] == 25


def test_backfill_resumes_from_the_saved_cursor(tt_server, tt_connection):
    for n in range(25):
        video(tt_server, n)
    source = make_source(tt_connection, max_pages=1)

    first = social.social_source_pull(source_id=source.pk)
    source.refresh_from_db()
    assert (first.new, first.finished) == (20, False)
    assert source.cursor == str((1_790_000_000 + 5 * 60) * 1000)

    second = social.social_source_pull(source_id=source.pk)
    source.refresh_from_db()
    assert (second.new, second.finished) == (5, True)
    assert source.cursor == ""
    assert json.loads(list_calls(tt_server)[-1].body)["cursor"] == int(
        (1_790_000_000 + 5 * 60) * 1000
    )


def test_a_source_moved_to_another_account_starts_again(tt_server, tt_connection):
    """A cursor belongs to one account's list: another connection (or kind) clears it."""
    for n in range(25):
        video(tt_server, n)
    source = make_source(tt_connection, max_pages=1)
    social.social_source_pull(source_id=source.pk)
    source.refresh_from_db()
    assert source.cursor

    social.social_source_save(source_id=source.pk, max_pages=2)  # the same list: kept
    source.refresh_from_db()
    assert source.cursor

    other = Connection.objects.get(pk=tt_connection.pk)
    other.pk, other.account_id, other.account_name = None, "other-open-id", "@other"
    other.save()
    social.social_source_save(source_id=source.pk, connection_id=other.pk)
    source.refresh_from_db()
    assert source.cursor == ""


def test_repull_changes_nothing_and_stops_at_the_first_known_page(tt_server, tt_connection):
    for n in range(25):
        video(tt_server, n)
    source = make_source(tt_connection)
    social.social_source_pull(source_id=source.pk)
    before = list(UGCItem.objects.values_list("pk", "updated_at", "status").order_by("pk"))
    tt_server.reset()

    again = social.social_source_pull(source_id=source.pk)

    assert (again.new, again.known, again.pages) == (0, 20, 1)
    assert list(UGCItem.objects.values_list("pk", "updated_at", "status").order_by("pk")) == before
    assert tt_server.requests_to(r"^/cdn/") == []  # known videos are not fetched again
    assert PulledPost.objects.filter(source=source).count() == 25


def test_the_same_cover_twice_is_one_item(tt_server, tt_connection):
    from testservers.instagram import _png

    cover = _png(720, 1280, seed=3)
    video(tt_server, 1, cover=cover)
    video(tt_server, 2, cover=cover)
    source = make_source(tt_connection)

    result = social.social_source_pull(source_id=source.pk)

    assert (result.new, result.known) == (1, 1)
    assert UGCItem.objects.count() == 1


def test_rate_limit_pauses_the_shared_bucket_and_the_pull_goes_on(tt_server, tt_connection):
    for n in range(3):
        video(tt_server, n)
    source = make_source(tt_connection)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    bucket = ratelimit.bucket_key("tiktok", TT_OPEN_ID)
    tt_server.throttle_next(2, path="/v2/video/list/")

    result = social.social_source_pull(source_id=source.pk)

    assert (result.new, result.finished) == (3, True)
    assert len(list_calls(tt_server)) == 3  # two throttled, then the page
    assert client.hget(bucket, "paused_until") is not None  # every worker waited
    source.refresh_from_db()
    assert source.last_error == ""


def test_a_token_refused_mid_pull_is_refreshed_once_and_the_pull_continues(
    tt_server, tt_connection
):
    for n in range(25):
        video(tt_server, n)
    source = make_source(tt_connection)
    old_refresh = tt_connection.refresh_token
    tt_server.expire_tokens_after(2)  # user info and the first page answer, then it is dead

    result = social.social_source_pull(source_id=source.pk)

    tt_connection.refresh_from_db()
    assert (result.new, result.finished) == (25, True)
    assert tt_server.refresh_calls == 1
    assert tt_connection.status == Connection.Status.ACTIVE
    assert tt_connection.refresh_token not in ("", old_refresh)  # TikTok's new one is kept
    assert old_refresh not in tt_server.refresh


def test_a_refused_refresh_needs_reconnecting_and_keeps_the_cursor(tt_server, tt_connection):
    for n in range(25):
        video(tt_server, n)
    source = make_source(tt_connection)
    tt_server.expire_tokens_after(2)
    tt_server.refuse_refreshes()

    result = social.social_source_pull(source_id=source.pk)

    tt_connection.refresh_from_db()
    source.refresh_from_db()
    assert (result.new, result.finished) == (20, False)
    assert tt_connection.status == Connection.Status.NEEDS_RECONNECT
    assert "invalid_grant" in tt_connection.status_reason
    assert source.cursor == str((1_790_000_000 + 5 * 60) * 1000)
    assert "needs reconnecting" in source.last_error.lower()
    assert social.sources_due(now=timezone.now() + timedelta(days=1)) == []


def test_a_token_about_to_expire_is_refreshed_before_the_first_call(tt_server, tt_connection):
    video(tt_server, 1)
    Connection.objects.filter(pk=tt_connection.pk).update(
        access_token_expires_at=timezone.now() + timedelta(minutes=1)
    )
    source = make_source(tt_connection)

    result = social.social_source_pull(source_id=source.pk)

    assert result.new == 1 and tt_server.refresh_calls == 1
    api = [r for r in tt_server.requests if r.path in ("/v2/user/info/", "/v2/video/list/")]
    old = f"Bearer {tt_connection.access_token}"
    assert len(api) == 2 and all(r.headers["authorization"] != old for r in api)


def test_filters_language_handles_and_resolution(tt_server, tt_connection):
    video(tt_server, 1, description="J'adore cette veste pour mes longues promenades du soir")
    small = video(tt_server, 2, size=(360, 640))
    kept = video(tt_server, 3)
    source = make_source(tt_connection, languages=["en"], min_side=480)

    result = social.social_source_pull(source_id=source.pk)

    assert (result.new, result.filtered) == (1, 2)
    assert list(UGCItem.objects.values_list("external_id", flat=True)) == [kept]
    assert not tt_server.requests_to(rf"^/cdn/{small}")  # refused before any fetch

    with pytest.raises(ApplicationError, match="not valid|exists"):
        make_source(tt_connection)  # one source a kind and account
    SocialSource.objects.filter(pk=source.pk).delete()
    blocked = make_source(tt_connection, blocked_handles=["@Acme.Tok"])
    assert social.social_source_pull(source_id=blocked.pk).filtered == 3


def test_a_tiktok_source_is_checked(tt_connection, ig_connection):
    with pytest.raises(ApplicationError) as images_only:
        make_source(tt_connection, media_types=["image"])
    assert "TikTok posts are videos" in str(images_only.value.fields)
    with pytest.raises(ApplicationError) as wrong:
        social.social_source_save(connection_id=ig_connection.pk, kind="tiktok_videos")
    assert "TikTok account connection" in str(wrong.value.fields)
    with pytest.raises(ApplicationError) as ig_kind:
        social.social_source_save(
            connection_id=tt_connection.pk, kind="ig_tags", ig_user_id="17841400000000001"
        )
    assert "Meta connection" in str(ig_kind.value.fields)
    assert not SocialSource.objects.exists()


# -- deleted videos -----------------------------------------------------------------------


def test_deleted_video_is_flagged_archived_and_leaves_the_feed(tt_server, tt_connection):
    ids = [video(tt_server, n) for n in range(22)]
    source = make_source(tt_connection)
    social.social_source_pull(source_id=source.pk)
    gone = UGCItem.objects.get(external_id=ids[21])
    UGCItem.objects.filter(pk=gone.pk).update(status=UGCItem.Status.PUBLISHED)
    tt_server.delete_video(ids[21])
    tt_server.reset()

    assert social.social_source_check_deleted(source_id=source.pk) == 1

    queries = tt_server.requests_to(r"^/v2/video/query/$", "POST")
    assert [len(json.loads(q.body)["filters"]["video_ids"]) for q in queries] == [20, 2]
    gone.refresh_from_db()
    assert gone.status == UGCItem.Status.ARCHIVED
    assert "deleted_on_platform" in gone.flag_codes
    assert "deleted_on_platform" in dict(ugc_services.publish_blockers(gone))
    others = UGCItem.objects.exclude(pk=gone.pk)
    assert others.count() == 21 and not any("deleted_on_platform" in i.flag_codes for i in others)
    assert social.social_source_check_deleted(source_id=source.pk) == 0  # flagged once


# -- rights and the feed ------------------------------------------------------------------


def test_rights_go_by_the_consent_page_and_the_feed_links_the_video(
    client, tt_server, tt_connection, settings, django_capture_on_commit_callbacks
):
    settings.UGC_RIGHTS_TERMS_URL = "https://acme.example/ugc-terms"
    settings.UGC_RIGHTS_TERMS_VERSION = "v3"
    moderator = User.objects.create_user("mina", is_staff=True)
    video_id = video(tt_server, 1)
    source = make_source(tt_connection)
    with django_capture_on_commit_callbacks(execute=True):
        social.social_source_pull(source_id=source.pk)
    item = UGCItem.objects.get(external_id=video_id)
    assert item.media_status == UGCItem.MediaStatus.READY

    request = ugc_services.rights_request_create(item_id=item.pk, actor=moderator)
    with pytest.raises(ApplicationError, match="cannot comment"):
        social.rights_request_send(request_id=request.pk)
    request.refresh_from_db()
    assert request.sent_ref == "" and "consent link" in request.send_error
    assert f"/ugc/consent/{request.token}/" in request.message
    answered = client.post(
        f"/ugc/consent/{request.token}/", {"answer": "accept", "terms_version": "v3"}
    )
    assert answered.status_code == 200
    request.refresh_from_db()
    assert request.status == RightsRequest.Status.GRANTED

    ugc_services.ugc_claim(item_id=item.pk, moderator=moderator)
    ugc_services.ugc_approve(item_id=item.pk, moderator=moderator)
    ugc_services.ugc_map_product(item_id=item.pk, product=ProductFactory(), actor=moderator)
    ugc_services.ugc_publish(item_id=item.pk, actor=moderator)

    watch = f"https://www.tiktok.com/@acme.tok/video/{video_id}"
    feed = client.get("/api/ugc/feed").json()
    assert [(i["id"], i["watch_url"]) for i in feed["items"]] == [(item.pk, watch)]
    page = client.get("/shop/feed")
    assert f'class="feed-watch" href="{watch}"'.encode() in page.content

    tt_server.delete_video(video_id)
    social.social_source_check_deleted(source_id=source.pk)
    assert client.get("/api/ugc/feed").json()["items"] == []


def test_the_feed_links_only_tiktok_pages(tt_server, tt_connection):
    from ugc.selectors import watch_url

    video(tt_server, 1)
    social.social_source_pull(source_id=make_source(tt_connection).pk)
    item = UGCItem.objects.get()
    assert watch_url(item).startswith("https://www.tiktok.com/@acme.tok/video/")
    SocialPost.objects.filter(item=item).update(permalink="https://evil.example/x")
    item = UGCItem.objects.get()
    assert watch_url(item) == ""


# -- the test server keeps to TikTok's rules ----------------------------------------------


def test_the_server_refuses_what_tiktok_refuses(tt_server, tt_connection):
    import requests

    token = tt_connection.access_token
    url = tt_server.url + "/v2/video/list/?fields=id"
    auth = {"Authorization": f"Bearer {token}"}
    too_many = requests.post(url, json={"max_count": 21}, headers=auth, timeout=5)
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "invalid_params"
    no_fields = requests.post(url.split("?")[0], json={}, headers=auth, timeout=5)
    assert no_fields.status_code == 400
    bad_token = requests.post(url, json={}, headers={"Authorization": "Bearer x"}, timeout=5)
    assert bad_token.status_code == 401
    assert bad_token.json()["error"]["code"] == "access_token_invalid"
    query = requests.post(
        tt_server.url + "/v2/video/query/?fields=id",
        json={"filters": {"video_ids": [str(n) for n in range(21)]}}, headers=auth, timeout=5,
    )  # fmt: skip
    assert query.status_code == 400
    wrong_redirect = requests.get(
        tt_server.url + "/v2/auth/authorize/",
        params={"client_key": tt_server.client_key, "scope": "user.info.basic,video.list",
                "response_type": "code", "redirect_uri": "https://evil.example/cb",
                "state": "s"},
        timeout=5,
    )  # fmt: skip
    assert wrong_redirect.status_code == 400 and "redirect_uri" in wrong_redirect.text


# -- the console ---------------------------------------------------------------------------


def test_console_lists_tiktok_and_a_moderator_adds_a_source_and_pulls_it(
    client, owner_client, tt_server, tt_connection, django_capture_on_commit_callbacks
):
    connect_page = owner_client.get("/admin/integrations/connection/connect/")
    assert b'data-platform="tiktok"' in connect_page.content
    assert b"/integrations/oauth/tiktok/callback" in connect_page.content
    from tests.integrations.test_social_console import staff

    staff(client, "Moderator")
    video(tt_server, 1)
    form = {
        "connection": tt_connection.pk, "kind": "tiktok_videos", "ig_user_id": "",
        "hashtag": "", "active": "on", "interval_minutes": 30, "media_types": ["image"],
        "min_side": 0, "languages": "", "blocked_handles": "", "max_pages": 3,
    }  # fmt: skip
    bad = client.post("/admin/integrations/socialsource/add/", form)
    assert bad.status_code == 200 and b"TikTok posts are videos" in bad.content
    assert not SocialSource.objects.exists()

    done = client.post("/admin/integrations/socialsource/add/", {**form, "media_types": []})
    assert done.status_code == 302
    source = SocialSource.objects.get()
    assert (source.kind, source.ig_user_id) == ("tiktok_videos", TT_OPEN_ID)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/integrations/socialsource/",
            {"action": "pull_now", "_selected_action": [source.pk]},
        )
    source.refresh_from_db()
    assert source.last_counts["new"] == 1
    item = UGCItem.objects.get()
    assert item.source == "tiktok"
    listing = client.get("/admin/ugc/ugcitem/?source__exact=tiktok")
    assert listing.status_code == 200 and f"/admin/ugc/ugcitem/{item.pk}/".encode() in (
        listing.content
    )
    page = client.get(f"/admin/ugc/ugcitem/{item.pk}/change/")
    assert b"Watch the video on TikTok" in page.content
    assert f"https://www.tiktok.com/@acme.tok/video/{item.external_id}".encode() in page.content
