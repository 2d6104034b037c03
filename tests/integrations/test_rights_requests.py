"""Rights requests end to end: a pulled post, the comment on Instagram, the author's reply
with the hashtag (or the consent page), the proof recorded, and the item published."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from core.errors import ApplicationError
from integrations import social
from integrations.models import SocialSource
from tests.catalog.factories import ProductFactory
from tests.integrations.conftest import IG_USER, post
from ugc import services as ugc_services
from ugc.models import RightsRequest, UGCItem, UGCRights

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(db):
    return User.objects.create_user("mina", is_staff=True)


@pytest.fixture
def pulled(ig_server, ig_connection, django_capture_on_commit_callbacks, settings):
    """One tagged post by @sunny.days, pulled and its media processed."""
    settings.UGC_RIGHTS_TERMS_URL = "https://acme.example/ugc-terms"
    settings.UGC_RIGHTS_TERMS_VERSION = "v3"
    media_id = post(ig_server, 1, username="sunny.days")
    source = SocialSource.objects.create(
        connection=ig_connection, kind="ig_tags", ig_user_id=IG_USER
    )
    with django_capture_on_commit_callbacks(execute=True):
        social.social_source_pull(source_id=source.pk)
    item = UGCItem.objects.get(external_id=media_id)
    assert item.media_status == UGCItem.MediaStatus.READY
    return item


def publish(item, moderator):
    ugc_services.ugc_claim(item_id=item.pk, moderator=moderator)
    ugc_services.ugc_approve(item_id=item.pk, moderator=moderator)
    ugc_services.ugc_map_product(item_id=item.pk, product=ProductFactory(), actor=moderator)
    return ugc_services.ugc_publish(item_id=item.pk, actor=moderator)


def test_reply_with_the_hashtag_grants_rights_with_proof_and_the_item_publishes(
    ig_server, pulled, moderator
):
    request = ugc_services.rights_request_create(item_id=pulled.pk, actor=moderator)
    assert "@sunny.days" in request.message and "#yesbrand" in request.message
    assert "https://acme.example/ugc-terms" in request.message
    assert f"/ugc/consent/{request.token}/" in request.message
    assert "no_rights" in dict(ugc_services.publish_blockers(pulled))

    comment_id = social.rights_request_send(request_id=request.pk)
    comment = ig_server.comments[comment_id]
    assert comment["media_id"] == pulled.external_id and comment["text"] == request.message

    ig_server.reply(comment_id, username="someone_else", text="#yesbrand lol")
    ig_server.reply(comment_id, username="sunny.days", text="Love it! but let me think")
    assert social.rights_requests_watch() == 0  # nobody with standing said yes
    reply_id = ig_server.reply(comment_id, username="Sunny.Days", text="Sure! #YesBrand 💛")
    assert social.rights_requests_watch() == 1
    assert social.rights_requests_watch() == 0  # granted once

    request.refresh_from_db()
    assert request.status == RightsRequest.Status.GRANTED
    assert (request.reply_id, request.answer) == (reply_id, "reply")
    assert request.reply_text == "Sure! #YesBrand 💛" and request.reply_at is not None
    rights = UGCRights.objects.get(item=pulled)
    assert rights.consent_method == UGCRights.ConsentMethod.COMMENT_REPLY
    assert reply_id in rights.proof_text and "terms version v3" in rights.proof_text
    assert rights.allowed_channels == ["site", "social"]

    assert publish(pulled, moderator).status == UGCItem.Status.PUBLISHED


def test_consent_page_accepts_and_the_item_publishes(client, pulled, moderator):
    request = ugc_services.rights_request_create(item_id=pulled.pk, actor=moderator)
    url = f"/ugc/consent/{request.token}/"

    page = client.get(url)
    assert page.status_code == 200
    assert b"May we show your post?" in page.content and b"version v3" in page.content

    stale = client.post(url, {"answer": "accept", "terms_version": "v2"})
    assert stale.status_code == 400 and b"terms changed" in stale.content
    assert RightsRequest.objects.get(pk=request.pk).status == "requested"

    done = client.post(url, {"answer": "accept", "terms_version": "v3"})
    assert done.status_code == 200 and b"Thank you" in done.content
    request.refresh_from_db()
    assert (request.status, request.answer) == ("granted", "consent_page")
    rights = UGCRights.objects.get(item=pulled)
    assert "accepted on the consent page" in rights.proof_text and "v3" in rights.proof_text

    published = publish(pulled, moderator)
    assert published.status == UGCItem.Status.PUBLISHED

    again = client.post(url, {"answer": "decline", "terms_version": "v3"})
    assert again.status_code == 400 and b"already answered" in again.content


def test_declined_and_expired_requests_grant_nothing(client, pulled, moderator):
    request = ugc_services.rights_request_create(item_id=pulled.pk, actor=moderator)
    client.post(f"/ugc/consent/{request.token}/", {"answer": "decline", "terms_version": "v3"})
    assert RightsRequest.objects.get(pk=request.pk).status == "declined"
    assert not UGCRights.objects.filter(item=pulled).exists()

    second = ugc_services.rights_request_create(item_id=pulled.pk, actor=moderator)
    with pytest.raises(ApplicationError, match="already has an open rights request"):
        ugc_services.rights_request_create(item_id=pulled.pk, actor=moderator)
    assert ugc_services.rights_requests_expire(now=timezone.now() + timedelta(days=13)) == 0
    assert ugc_services.rights_requests_expire(now=timezone.now() + timedelta(days=15)) == 1
    second.refresh_from_db()
    assert second.status == "expired"
    expired = client.post(f"/ugc/consent/{second.token}/", {"answer": "accept",
                                                            "terms_version": "v3"})  # fmt: skip
    assert expired.status_code == 400 and not UGCRights.objects.filter(item=pulled).exists()
    assert client.get("/ugc/consent/not-a-token/").status_code == 404


def test_hashtag_media_cannot_be_commented_on_and_the_request_says_so(
    ig_server,
    ig_connection,
    moderator,
):
    media_id = post(ig_server, 1, tagged=(), caption="new jacket #acmefit")
    source = SocialSource.objects.create(
        connection=ig_connection, kind="ig_hashtag_recent", ig_user_id=IG_USER, hashtag="acmefit"
    )
    social.social_source_pull(source_id=source.pk)
    item = UGCItem.objects.get(external_id=media_id)
    request = ugc_services.rights_request_create(item_id=item.pk, actor=moderator)

    with pytest.raises(ApplicationError, match="not on hashtag media"):
        social.rights_request_send(request_id=request.pk)

    request.refresh_from_db()
    assert "consent link" in request.send_error and request.sent_ref == ""
    assert ig_server.requests_to(r"/mentions$") == []


def test_uploads_and_items_with_rights_are_not_asked(pulled, moderator):
    ugc_services.ugc_rights_grant(
        item_id=pulled.pk, consent_method="dm_approval", allowed_channels=["site"],
        proof_text="DM screenshot",
    )  # fmt: skip
    with pytest.raises(ApplicationError, match="already has rights"):
        ugc_services.rights_request_create(item_id=pulled.pk, actor=moderator)
    with pytest.raises(ApplicationError, match="one word"):
        ugc_services.rights_request_create(
            item_id=pulled.pk, actor=moderator, reply_hashtag="#yes brand"
        )
