"""Social pulls against the local Instagram Graph API: cursors, filters, de-duplication,
rate limits, deleted posts, a token that dies mid-pull, and the 30-hashtags-a-week limit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import social
from integrations.models import Connection, HashtagSearch, PulledPost, SocialSource
from tests.integrations.conftest import IG_USER, post
from testservers import instagram
from ugc import services as ugc_services
from ugc.models import SocialPost, UGCItem

pytestmark = pytest.mark.django_db


def make_source(ig_connection, kind="ig_tags", **fields):
    return SocialSource.objects.create(
        connection=ig_connection, kind=kind, ig_user_id=IG_USER, **fields
    )


def test_pull_walks_pages_with_cursors_and_ingests_each_post(ig_server, ig_connection):
    ids = [post(ig_server, n) for n in range(7)]
    source = make_source(ig_connection, max_pages=2)
    ig_server.reset()

    result = social.social_source_pull(source_id=source.pk)

    assert result.new == 7 and result.refused == 0
    items = UGCItem.objects.filter(source="instagram").order_by("external_id")
    assert [i.external_id for i in items] == sorted(ids)
    item = items.get(external_id=ids[0])
    assert item.status == UGCItem.Status.QUEUED
    assert item.author_handle == "fan0"
    assert item.caption.startswith("My favourite jacket")
    assert item.social_post.permalink.startswith("https://www.instagram.com/p/")
    assert item.social_post.posted_at is not None
    assert PulledPost.objects.filter(source=source).count() == 7


def test_backfill_resumes_from_the_saved_cursor(ig_server, ig_connection, monkeypatch):
    for n in range(5):
        post(ig_server, n)
    source = make_source(ig_connection, max_pages=2)
    instagram_page_limit(monkeypatch, 2)  # 2 posts a page: 5 posts are 3 pages

    first = social.social_source_pull(source_id=source.pk)
    source.refresh_from_db()
    assert (first.pages, first.new, first.finished) == (2, 4, False)
    assert source.cursor  # where the next pull resumes

    second = social.social_source_pull(source_id=source.pk)
    source.refresh_from_db()
    assert (second.pages, second.new, second.finished) == (1, 1, True)
    assert source.cursor == ""
    afters = [r.arg("after") for r in ig_server.requests_to(rf"/{IG_USER}/tags$")]
    assert afters[0] is None and len(afters) == 3 and afters[2] == source_cursor_after(afters)


def source_cursor_after(afters):
    """The third request resumed with the cursor the second page gave (not the first's)."""
    return afters[2] if afters[2] and afters[2] != afters[1] else None


def instagram_page_limit(monkeypatch, limit):
    from integrations.clients import instagram as client

    real = client.media_page

    def small_pages(session, **kwargs):
        kwargs["limit"] = limit
        return real(session, **kwargs)

    monkeypatch.setattr(client, "media_page", small_pages)
    return real


def test_repull_changes_nothing_and_stops_at_known_posts(ig_server, ig_connection, monkeypatch):
    for n in range(4):
        post(ig_server, n)
    source = make_source(ig_connection)
    social.social_source_pull(source_id=source.pk)
    before = list(UGCItem.objects.values_list("pk", "updated_at", "status").order_by("pk"))
    ig_server.reset()

    again = social.social_source_pull(source_id=source.pk)

    assert (again.new, again.known) == (0, 4)
    assert list(UGCItem.objects.values_list("pk", "updated_at", "status").order_by("pk")) == before
    assert ig_server.requests_to(r"/cdn/") == []  # known posts are not fetched again


def test_same_file_posted_twice_is_one_item(ig_server, ig_connection):
    data = instagram._png(640, 640, seed=7)
    post(ig_server, 1, content=data)
    post(ig_server, 2, content=data)
    source = make_source(ig_connection)

    result = social.social_source_pull(source_id=source.pk)

    assert result.new == 1 and result.known == 1
    assert UGCItem.objects.count() == 1
    assert PulledPost.objects.filter(source=source).count() == 2


def test_filters_media_type_handles_language_and_resolution(ig_server, ig_connection):
    post(ig_server, 1, username="spammer")
    post(ig_server, 2, caption="J'adore cette veste pour mes longues promenades @acme_brand")
    post(ig_server, 3, size=(400, 400))
    video = post(ig_server, 4, media_type="VIDEO", content=b"not read", content_type="video/mp4")
    kept = post(ig_server, 5)
    source = make_source(
        ig_connection, media_types=["image"], blocked_handles=["@Spammer"], languages=["en"],
        min_side=500,
    )  # fmt: skip

    result = social.social_source_pull(source_id=source.pk)

    assert (result.new, result.filtered, result.refused) == (1, 4, 0)
    assert list(UGCItem.objects.values_list("external_id", flat=True)) == [kept]
    assert video not in ig_server.requests_to(r"/cdn/")  # filtered before any fetch


def test_refused_media_is_counted_and_stores_nothing(ig_server, ig_connection):
    post(ig_server, 1, content=b"<html>not an image</html>", content_type="image/png")
    source = make_source(ig_connection)

    result = social.social_source_pull(source_id=source.pk)

    assert (result.new, result.refused) == (0, 1)
    assert UGCItem.objects.count() == 0
    source.refresh_from_db()
    assert "neither a supported image" in source.last_error


@pytest.mark.parametrize("code", [4, 17, 32, 613])
def test_rate_limit_answers_pause_and_the_pull_goes_on(ig_server, ig_connection, code):
    for n in range(3):
        post(ig_server, n)
    source = make_source(ig_connection)
    ig_server.throttle_next(code, count=2)

    result = social.social_source_pull(source_id=source.pk)

    assert result.new == 3 and result.finished
    tags_calls = ig_server.requests_to(rf"/{IG_USER}/tags$")
    assert len(tags_calls) == 3  # two throttled, then the page


def test_token_expiring_mid_pull_saves_the_cursor_and_needs_reconnecting(
    ig_server, ig_connection, monkeypatch
):
    for n in range(5):
        post(ig_server, n)
    source = make_source(ig_connection, max_pages=5)
    instagram_page_limit(monkeypatch, 2)
    ig_server.expire_tokens_after(1)  # the first page answers, then the token is dead

    result = social.social_source_pull(source_id=source.pk)

    ig_connection.refresh_from_db()
    source.refresh_from_db()
    assert result.new == 2 and not result.finished
    assert ig_connection.status == Connection.Status.NEEDS_RECONNECT
    assert "access token" in ig_connection.status_reason
    assert source.cursor and "Needs reconnecting" in source.last_error
    assert social.sources_due(now=timezone.now() + timedelta(days=1)) == []


def test_hashtag_source_searches_once_and_pulls_recent_media(ig_server, ig_connection):
    ids = [post(ig_server, n, tagged=()) for n in range(3)]
    post(ig_server, 9, hashtags=("other",), tagged=())
    source = make_source(ig_connection, kind="ig_hashtag_recent", hashtag="AcmeFit")

    first = social.social_source_pull(source_id=source.pk)
    social.social_source_pull(source_id=source.pk)

    assert first.new == 3
    assert sorted(UGCItem.objects.values_list("external_id", flat=True)) == sorted(ids)
    assert UGCItem.objects.filter(author_handle="").count() == 3  # hashtag media: no username
    assert len(ig_server.requests_to(r"/ig_hashtag_search$")) == 1
    assert HashtagSearch.objects.get().hashtag == "acmefit"


def test_thirty_first_hashtag_in_a_week_is_refused_before_instagram(ig_server, ig_connection):
    now = timezone.now()
    for n in range(30):
        HashtagSearch.objects.create(
            ig_user_id=IG_USER, hashtag=f"tag{n}", first_searched_at=now - timedelta(days=n / 5)
        )
    source = make_source(ig_connection, kind="ig_hashtag_top", hashtag="newtag")

    result = social.social_source_pull(source_id=source.pk)

    assert result.new == 0 and not result.finished
    assert "30 unique hashtags" in result.errors[0]
    assert ig_server.requests_to(r"/ig_hashtag_search$") == []
    # One of the 30 is already in the week's count: searching it again is allowed.
    again = make_source(ig_connection, kind="ig_hashtag_top", hashtag="tag3")
    assert social.social_source_pull(source_id=again.pk).errors == []


def test_instagram_refuses_the_31st_hashtag_itself(ig_server, ig_connection):
    from integrations.access import Access
    from integrations.clients import instagram as client

    access = Access(ig_connection)
    for n in range(30):
        access.call(client.hashtag_id, ig_user_id=IG_USER, hashtag=f"tag{n}")
    with pytest.raises(Exception, match="maximum number of unique hashtags"):
        access.call(client.hashtag_id, ig_user_id=IG_USER, hashtag="tag30")
    assert access.call(client.hashtag_id, ig_user_id=IG_USER, hashtag="tag0")


def test_deleted_post_is_flagged_archived_and_leaves_the_feed(ig_server, ig_connection):
    gone, kept = post(ig_server, 1), post(ig_server, 2)
    source = make_source(ig_connection)
    social.social_source_pull(source_id=source.pk)
    item = UGCItem.objects.get(external_id=gone)
    UGCItem.objects.filter(pk=item.pk).update(status=UGCItem.Status.PUBLISHED)
    ig_server.delete_media(gone)

    assert social.social_source_check_deleted(source_id=source.pk) == 1
    assert social.social_source_check_deleted(source_id=source.pk) == 0  # once only

    item.refresh_from_db()
    assert item.status == UGCItem.Status.ARCHIVED
    assert "deleted_on_platform" in item.flag_codes
    assert SocialPost.objects.get(item=item).deleted_at is not None
    other = UGCItem.objects.get(external_id=kept)
    assert "deleted_on_platform" not in other.flag_codes
    blockers = dict(ugc_services.publish_blockers(item))
    assert "deleted_on_platform" in blockers
