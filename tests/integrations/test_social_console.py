"""The console for social pulls and rights requests: sources with their filters, "Pull now",
"Ask for rights" on many items (each refusal reported), the requests by state."""

import pytest
from django.contrib.auth.models import Group, User

from integrations.models import SocialSource
from tests.integrations.conftest import IG_USER, post
from tests.ugc.factories import UGCItemFactory
from ugc.models import RightsRequest, UGCItem

pytestmark = pytest.mark.django_db


def staff(client, role):
    user = User.objects.create_user(f"u-{role}", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def test_moderator_adds_a_source_and_pulls_it_now(
    client, ig_server, ig_connection, django_capture_on_commit_callbacks
):
    staff(client, "Moderator")
    post(ig_server, 1)
    form = {
        "connection": ig_connection.pk, "kind": "ig_hashtag_recent", "ig_user_id": IG_USER,
        "hashtag": "#AcmeFit", "active": "on", "interval_minutes": 30, "media_types": ["image"],
        "min_side": 0, "languages": "EN, fr", "blocked_handles": "@spam, bot", "max_pages": 3,
    }  # fmt: skip
    bad = client.post("/admin/integrations/socialsource/add/", {**form, "languages": "english"})
    assert bad.status_code == 200 and b"two-letter ISO 639-1" in bad.content
    assert not SocialSource.objects.exists()

    done = client.post("/admin/integrations/socialsource/add/", form)
    assert done.status_code == 302
    source = SocialSource.objects.get()
    assert (source.hashtag, source.languages) == ("acmefit", ["en", "fr"])
    assert source.blocked_handles == ["spam", "bot"]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/integrations/socialsource/",
            {"action": "pull_now", "_selected_action": [source.pk]},
        )
    source.refresh_from_db()
    assert source.last_counts["new"] == 1
    page = client.get("/admin/integrations/socialsource/")
    assert b"1 new" in page.content


def test_ask_for_rights_in_bulk_sends_comments_and_reports_refusals(
    client, ig_server, ig_connection, django_capture_on_commit_callbacks
):
    staff(client, "Moderator")
    for n in range(2):
        post(ig_server, n)
    source = SocialSource.objects.create(connection=ig_connection, kind="ig_tags",
                                         ig_user_id=IG_USER)  # fmt: skip
    from integrations import social

    social.social_source_pull(source_id=source.pk)
    upload = UGCItemFactory()
    ids = [*UGCItem.objects.filter(source="instagram").values_list("pk", flat=True), upload.pk]

    confirm = client.post(
        "/admin/ugc/ugcitem/", {"action": "ask_for_rights", "_selected_action": ids}
    )
    assert confirm.status_code == 200 and b"{consent_url}" in confirm.content
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            "/admin/ugc/ugcitem/",
            {
                "action": "ask_for_rights",
                "_selected_action": ids,
                "apply": "1",
                "template": "Hi {handle}, reply {hashtag} to let us use it: {terms_url}",
                "reply_hashtag": "#yesacme",
                "allowed_channels": ["site"],
                "expires_in_days": 7,
            },  # fmt: skip
            follow=True,
        )
    text = done.content.decode()
    assert "Rights asked for 2" in text
    assert f"Rights not asked for #{upload.pk}" in text and "not a platform post" in text
    requests = RightsRequest.objects.order_by("pk")
    assert [r.reply_hashtag for r in requests] == ["#yesacme", "#yesacme"]
    assert all(r.sent_ref for r in requests)  # commented on Instagram
    assert len(ig_server.requests_to(r"/mentions$", "POST")) == 2

    listing = client.get("/admin/ugc/rightsrequest/?status__exact=requested")
    assert listing.status_code == 200 and listing.content.count(b"comment ") == 2
    detail = client.get(f"/admin/ugc/rightsrequest/{requests[0].pk}/change/")
    assert f"/ugc/consent/{requests[0].token}/".encode() in detail.content


def test_catalog_manager_sees_no_social_sources(client):
    staff(client, "Catalog manager")
    assert client.get("/admin/integrations/socialsource/").status_code == 403
