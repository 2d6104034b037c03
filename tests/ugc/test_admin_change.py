"""The item's page in the console: preview, audit trail, rights and mappings saved through the
services, and the moderation buttons."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone

from tests.catalog.factories import ProductFactory, VariantFactory
from tests.ugc.admin_helpers import CHANGELIST, change_url, messages_of
from tests.ugc.factories import (
    RejectionReasonFactory,
    UGCItemFactory,
    UGCProductMapFactory,
    UGCRightsFactory,
    UserFactory,
    publishable_item,
)
from ugc import services
from ugc.models import ModerationEvent, UGCItem, UGCProductMap, UGCRights

pytestmark = pytest.mark.django_db
S = UGCItem.Status


def form_data(client, url) -> dict:
    """Every value the change form would post as it stands (files left out)."""
    soup = BeautifulSoup(client.get(url).content, "lxml")
    form = soup.select_one("form#ugcitem_form")
    data: dict[str, list[str]] = {}
    for field in form.select("input[name], select[name], textarea[name]"):
        name = field["name"]
        if field.name == "input":
            kind = field.get("type", "text")
            if kind in ("file", "submit", "button"):
                continue
            if kind in ("checkbox", "radio") and not field.has_attr("checked"):
                continue
            default = "on" if kind in ("checkbox", "radio") else ""
            data.setdefault(name, []).append(field.get("value", default))
        elif field.name == "select":
            chosen = field.select("option[selected]")
            data.setdefault(name, []).extend(o.get("value", "") for o in chosen)
        else:
            data.setdefault(name, []).append(field.get_text().removeprefix("\n"))
    return data


def save(client, item, **changes):
    data = form_data(client, change_url(item))
    for key, value in changes.items():
        key = key.replace("__", "-")
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value if isinstance(value, list) else [value]
    data["_continue"] = ["Save and continue editing"]
    return client.post(change_url(item), data, follow=True)


def errors(response) -> str:
    soup = BeautifulSoup(response.content, "lxml")
    return " ".join(e.get_text(" ", strip=True) for e in soup.select(".errorlist, .errornote"))


# -- preview and record --------------------------------------------------------------------


def test_an_image_is_previewed_with_its_flags_and_blockers(moderator_client):
    item = UGCItemFactory(
        media_status="ready",
        media_manifest={
            "kind": "image", "width": 400, "height": 300, "aspect": 1.33,
            "display": {"name": "ugc/9/display.webp", "content_type": "image/webp",
                        "width": 400, "height": 300},
            "thumbnail": {"name": "ugc/9/thumb.webp", "width": 64, "height": 48},
        },
        flags=[{"code": "duplicate", "detail": "same file as item 3"}],
    )  # fmt: skip
    soup = BeautifulSoup(moderator_client.get(change_url(item)).content, "lxml")
    img = soup.select_one("img.ugc-preview")
    assert img["src"] == "/media/ugc/9/display.webp"
    text = soup.get_text(" ", strip=True)
    assert "duplicate : same file as item 3" in text or "duplicate: same file as item 3" in text
    assert "No rights have been granted for this item." in text
    assert "Ready: image 400×300" in text


def test_a_video_plays_its_360p_rendition_muted_with_the_poster(moderator_client):
    item = UGCItemFactory(
        media_type=UGCItem.MediaType.VIDEO,
        media_status="ready",
        media_manifest={
            "kind": "video", "width": 1280, "height": 720, "aspect": 1.7778,
            "duration_s": 12.5,
            "display": {"name": "ugc/5/poster.jpg", "content_type": "image/jpeg",
                        "width": 1280, "height": 720},
            "thumbnail": {"name": "ugc/5/thumb.webp", "width": 64, "height": 36},
            "renditions": [
                {"label": "720p", "name": "ugc/5/720p.mp4", "content_type": "video/mp4",
                 "width": 1280, "height": 720, "bytes": 900000},
                {"label": "360p", "name": "ugc/5/360p.mp4", "content_type": "video/mp4",
                 "width": 640, "height": 360, "bytes": 200000},
            ],
        },
    )  # fmt: skip
    soup = BeautifulSoup(moderator_client.get(change_url(item)).content, "lxml")
    video = soup.select_one("video.ugc-preview")
    assert video.has_attr("controls") and video.has_attr("muted")
    assert video["poster"] == "/media/ugc/5/poster.jpg"
    assert video.select_one("source")["src"] == "/media/ugc/5/360p.mp4"
    assert "Ready: video 1280×720, 12.5 s" in soup.get_text(" ", strip=True)


def test_a_failed_media_job_shows_its_error(moderator_client):
    item = UGCItemFactory(media_status="failed", media_manifest={"error": "ffprobe found no video"})
    html = moderator_client.get(change_url(item)).content.decode()
    assert "The media could not be processed: ffprobe found no video" in html
    assert "ugc-preview" not in html


def test_the_audit_trail_is_shown_read_only(moderator_client, reason):
    item = UGCItemFactory()
    services.ugc_claim(item_id=item.pk, moderator=moderator_client.user)
    services.ugc_reject(item_id=item.pk, moderator=moderator_client.user, reason=reason,
                        note="blurry")  # fmt: skip
    soup = BeautifulSoup(moderator_client.get(change_url(item)).content, "lxml")
    trail = soup.select_one("#events-group").get_text(" ", strip=True)
    assert "claim" in trail and "Off-brand: blurry" in trail
    assert not soup.select("#events-group input[name$='-reason'], #events-group textarea")


def test_moderators_download_the_private_original(moderator_client):
    item = UGCItemFactory()
    response = moderator_client.get(f"{CHANGELIST}{item.pk}/original/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_moderators_download_the_private_proof_of_consent(moderator_client):
    from django.core.files.base import ContentFile

    item = UGCItemFactory()
    services.ugc_rights_grant(
        item_id=item.pk,
        consent_method="signed_release",
        allowed_channels=["site"],
        proof_file=ContentFile(b"%PDF-1.7 signed release", name="release.pdf"),
    )
    soup = BeautifulSoup(moderator_client.get(change_url(item)).content, "lxml")
    link = soup.select_one(f'a[href="{CHANGELIST}{item.pk}/proof/"]')
    assert link is not None and "release" in link.get_text()
    response = moderator_client.get(link["href"])
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content) == b"%PDF-1.7 signed release"
    other = UGCItemFactory()  # no rights at all: nothing to download
    assert moderator_client.get(f"{CHANGELIST}{other.pk}/proof/").status_code == 404


# -- rights inline ------------------------------------------------------------------------


def test_rights_are_granted_through_the_service(moderator_client):
    item = UGCItemFactory()
    response = save(
        moderator_client, item,
        rights__0__consent_method="comment_reply",
        rights__0__allowed_channels=["site", "email"],
        rights__0__proof_text="Yes, use it! #yesbrand",
    )  # fmt: skip
    assert response.status_code == 200, errors(response)
    rights = UGCRights.objects.get(item=item)
    assert rights.allowed_channels == ["site", "email"]
    assert rights.granted_by == moderator_client.user
    event = ModerationEvent.objects.get(item=item, action="rights_grant")
    assert event.actor == moderator_client.user


def test_rights_without_proof_show_the_rule_on_the_form_and_save_nothing(moderator_client):
    item = UGCItemFactory()
    response = save(moderator_client, item, rights__0__consent_method="dm_approval",
                    rights__0__allowed_channels=["site"])  # fmt: skip
    assert "Give proof of consent: a file, a URL or the reply's text." in errors(response)
    assert not UGCRights.objects.filter(item=item).exists()
    assert not ModerationEvent.objects.filter(item=item, action="rights_grant").exists()


def test_rights_that_expire_before_they_start_are_refused(moderator_client):
    item = UGCItemFactory()
    response = save(
        moderator_client, item,
        rights__0__consent_method="signed_release", rights__0__allowed_channels=["site"],
        rights__0__proof_url="https://example.com/release.pdf",
        rights__0__starts_at_0="2030-01-10", rights__0__starts_at_1="00:00:00",
        rights__0__expires_at_0="2030-01-01", rights__0__expires_at_1="00:00:00",
    )  # fmt: skip
    assert "Rights must expire after they start." in errors(response)
    assert not UGCRights.objects.filter(item=item).exists()


def test_revoking_rights_archives_a_published_item(moderator_client):
    item = publishable_item(status=S.PUBLISHED)
    response = save(moderator_client, item, rights__0__revoke="on",
                    rights__0__revoke_reason="Creator withdrew consent")  # fmt: skip
    assert response.status_code == 200, errors(response)
    item.refresh_from_db()
    assert item.status == S.ARCHIVED
    assert UGCRights.objects.get(item=item).revoked_at is not None
    assert ModerationEvent.objects.get(item=item, action="rights_revoke").reason == (
        "Creator withdrew consent"
    )


def test_revoking_needs_a_reason(moderator_client):
    item = publishable_item(status=S.PUBLISHED)
    response = save(moderator_client, item, rights__0__revoke="on")
    assert "Say why the rights are revoked." in errors(response)
    assert UGCRights.objects.get(item=item).revoked_at is None


def test_an_empty_rights_form_has_nothing_granted_and_nothing_to_revoke(moderator_client):
    item = UGCItemFactory()
    soup = BeautifulSoup(moderator_client.get(change_url(item)).content, "lxml")
    rights = soup.select_one("#rights-group")
    assert rights.select("[name=rights-0-consent_method]")  # the form to record them
    text = rights.get_text(" ")
    assert "Granted at" not in text
    assert "Revoke these rights" not in text
    assert not rights.select("[name=rights-0-revoke]")
    # Once rights are recorded, when and by whom, and the box to revoke them, are there.
    UGCRightsFactory(item=item)
    rights = BeautifulSoup(moderator_client.get(change_url(item)).content, "lxml").select_one(
        "#rights-group"
    )
    assert "Granted at" in rights.get_text(" ")
    assert rights.select("[name=rights-0-revoke]")


# -- product mappings inline --------------------------------------------------------------


def test_a_mapping_is_added_through_the_service(moderator_client):
    item = UGCItemFactory()
    product = ProductFactory(title="Cloud Hoodie")
    variant = VariantFactory(product=product)
    response = save(
        moderator_client, item,
        product_maps__0__product=str(product.pk), product_maps__0__variant=str(variant.pk),
        product_maps__0__placement="product_page", product_maps__0__confidence="0.9",
        product_maps__0__position="0",
    )  # fmt: skip
    assert response.status_code == 200, errors(response)
    mapping = UGCProductMap.objects.get(item=item)
    assert (mapping.product, mapping.variant) == (product, variant)
    assert ModerationEvent.objects.get(item=item, action="map_product").actor == (
        moderator_client.user
    )


def test_a_variant_of_another_product_is_refused_beside_the_field(moderator_client):
    item = UGCItemFactory()
    product, other = ProductFactory(), ProductFactory()
    response = save(
        moderator_client, item,
        product_maps__0__product=str(product.pk),
        product_maps__0__variant=str(VariantFactory(product=other).pk),
        product_maps__0__placement="product_page", product_maps__0__confidence="1",
        product_maps__0__position="0",
    )  # fmt: skip
    # Beside the field: in the variant's cell of the mapping's row (Unfold's tabular inline).
    cell = BeautifulSoup(response.content, "lxml").select_one(
        "#product_maps-group td.field-variant.errors"
    )
    assert "This variant belongs to another product." in cell.get_text(" ", strip=True)
    assert not UGCProductMap.objects.filter(item=item).exists()


def test_the_only_mapping_of_a_published_item_cannot_be_removed(moderator_client):
    item = publishable_item(status=S.PUBLISHED)
    mapping = UGCProductMap.objects.get(item=item)
    response = save(moderator_client, item, product_maps__0__DELETE="on")
    assert "archive the item before removing it" in errors(response)
    assert UGCProductMap.objects.filter(pk=mapping.pk).exists()


def test_removing_a_mapping_goes_through_the_service(moderator_client):
    item = UGCItemFactory()
    UGCProductMapFactory(item=item)
    response = save(moderator_client, item, product_maps__0__DELETE="on")
    assert response.status_code == 200, errors(response)
    assert not UGCProductMap.objects.filter(item=item).exists()
    assert ModerationEvent.objects.filter(item=item, action="unmap_product").exists()


# -- moderation buttons -------------------------------------------------------------------


def press(client, item, operation, **data):
    return client.post(f"{CHANGELIST}{item.pk}/moderate/", {"operation": operation, **data},
                       follow=True)  # fmt: skip


def test_buttons_follow_the_status(moderator_client, reason):
    item = UGCItemFactory()
    buttons = BeautifulSoup(moderator_client.get(change_url(item)).content, "lxml").select(
        ".ugc-moderation [name=operation]"
    )
    assert {b["value"] for b in buttons} == {"claim", "approve", "reject"}
    # An approval can be taken back: sent for review again, or rejected.
    approved = publishable_item(status=S.APPROVED)
    buttons = BeautifulSoup(moderator_client.get(change_url(approved)).content, "lxml").select(
        ".ugc-moderation [name=operation]"
    )
    assert {b["value"] for b in buttons} == {"publish", "requeue", "reject"}
    live = publishable_item(status=S.PUBLISHED)
    buttons = BeautifulSoup(moderator_client.get(change_url(live)).content, "lxml").select(
        ".ugc-moderation [name=operation]"
    )
    assert {b["value"] for b in buttons} == {"archive"}


def test_claim_approve_and_publish_item_by_item(moderator_client):
    item = publishable_item(status=S.QUEUED)
    assert messages_of(press(moderator_client, item, "claim")) == [f"Claimed 1: #{item.pk}"]
    assert messages_of(press(moderator_client, item, "approve", note="Great light")) == [
        f"Approved 1: #{item.pk}"
    ]
    response = press(moderator_client, item, "publish")
    assert messages_of(response) == [f"Published 1: #{item.pk}"]
    assert response.redirect_chain[-1][0] == change_url(item)
    item.refresh_from_db()
    assert item.status == S.PUBLISHED
    assert ModerationEvent.objects.get(item=item, action="approve").reason == "Great light"


def test_publish_button_says_why_not(moderator_client):
    item = UGCItemFactory(status=S.APPROVED, media_status="ready")
    UGCProductMapFactory(item=item)
    UGCRightsFactory(item=item, allowed_channels=["email"])
    page = moderator_client.get(change_url(item)).content.decode()
    assert "The rights do not allow the site channel." in page
    response = press(moderator_client, item, "publish")
    assert messages_of(response) == [
        f"Not published #{item.pk}: The rights do not allow the site channel."
    ]
    item.refresh_from_db()
    assert item.status == S.APPROVED


def test_reject_button_needs_a_reason_then_opens_the_next_item(moderator_client):
    reason = RejectionReasonFactory(label="Blurry")
    item, next_item = UGCItemFactory(), UGCItemFactory()
    response = press(moderator_client, item, "reject")
    assert messages_of(response) == [f"Not rejected #{item.pk}: This field is required."]
    assert UGCItem.objects.get(pk=item.pk).status == S.QUEUED
    response = press(moderator_client, item, "reject", reason=reason.pk, note="out of focus",
                     next=next_item.pk)  # fmt: skip
    assert response.redirect_chain[-1][0] == change_url(next_item)
    item.refresh_from_db()
    assert (item.status, item.rejection_reason, item.rejection_note) == (
        S.REJECTED, reason, "out of focus"
    )  # fmt: skip


def test_approving_a_flagged_item_asks_for_a_confirmation_first(moderator_client):
    item = publishable_item(
        status=S.QUEUED,
        flags=[{"code": "blocklist", "detail": "word “giveaway”", "action": "flag"}],
    )
    next_item = UGCRightsFactory().item
    page = moderator_client.get(change_url(item)).content.decode()
    assert "Approving asks you to confirm:" in page
    assert "Flagged by the blocklist: word “giveaway”." in page

    # The Approve button shows what to confirm, and nothing changes yet.
    response = press(moderator_client, item, "approve", note="On brand", next=next_item.pk)
    assert response.status_code == 200 and not response.redirect_chain
    soup = BeautifulSoup(response.content, "lxml")
    assert [li.get_text() for li in soup.select(".ugc-warning")] == [
        "Flagged by the blocklist: word “giveaway”."
    ]
    assert UGCItem.objects.get(pk=item.pk).status == S.QUEUED
    assert not ModerationEvent.objects.filter(item=item).exists()

    # "Approve anyway" posts what the page holds: the item, the note, the next item.
    form = soup.select_one("form.ugc-approve-confirm")
    data = {field["name"]: field["value"] for field in form.select("input[type=hidden]")}
    assert form["action"] == f"{CHANGELIST}{item.pk}/moderate/"
    assert data == {
        "csrfmiddlewaretoken": data["csrfmiddlewaretoken"], "confirmed": str(item.pk),
        "operation": "approve", "note": "On brand", "next": str(next_item.pk),
    }  # fmt: skip
    response = moderator_client.post(form["action"], data, follow=True)
    assert messages_of(response) == [f"Approved 1: #{item.pk}"]
    assert response.redirect_chain[-1][0] == change_url(next_item)
    event = ModerationEvent.objects.get(item=item, action="approve")
    assert event.reason == "On brand (Approved despite: Flagged by the blocklist: word “giveaway”.)"
    assert event.actor == moderator_client.user


def test_an_item_without_rights_is_approved_only_once_confirmed(moderator_client):
    item = UGCItemFactory()  # no rights
    response = press(moderator_client, item, "approve")
    assert "No rights have been granted for this item." in response.content.decode()
    assert UGCItem.objects.get(pk=item.pk).status == S.QUEUED
    response = press(moderator_client, item, "approve", confirmed=str(item.pk))
    assert messages_of(response) == [f"Approved 1: #{item.pk}"]
    assert UGCItem.objects.get(pk=item.pk).status == S.APPROVED


def test_an_approved_item_is_sent_back_for_review_or_rejected(moderator_client, reason):
    item = publishable_item(status=S.APPROVED)
    response = press(moderator_client, item, "requeue", reason="Caption needs a look")
    assert messages_of(response) == [f"Sent back to the queue 1: #{item.pk}"]
    event = ModerationEvent.objects.get(item=item)
    assert (event.from_status, event.to_status, event.reason) == (
        S.APPROVED, S.QUEUED, "Caption needs a look"
    )  # fmt: skip

    other = publishable_item(status=S.APPROVED)
    response = press(moderator_client, other, "reject", reason=reason.pk, note="Not our shade")
    assert messages_of(response) == [f"Rejected 1: #{other.pk}"]
    other.refresh_from_db()
    assert (other.status, other.rejection_reason, other.rejection_note) == (
        S.REJECTED, reason, "Not our shade"
    )  # fmt: skip


def test_without_rejection_reasons_the_item_page_says_where_to_add_them(moderator_client):
    item = UGCItemFactory()
    RejectionReasonFactory(label="Retired", active=False)
    soup = BeautifulSoup(moderator_client.get(change_url(item)).content, "lxml")
    notice = soup.select_one(".ugc-moderation .ugc-reasons-missing")
    assert "There are no rejection reasons yet" in notice.get_text(" ")
    assert notice.select_one("a")["href"] == "/admin/ugc/rejectionreason/add/"
    assert not soup.select(".ugc-moderation [name=operation][value=reject]")
    # With one reason in the list the form is back.
    RejectionReasonFactory(label="Blurry")
    soup = BeautifulSoup(moderator_client.get(change_url(item)).content, "lxml")
    assert not soup.select(".ugc-reasons-missing")
    assert soup.select(".ugc-moderation [name=operation][value=reject]")


def test_a_claim_held_by_another_moderator_is_respected(moderator_client):
    item = UGCRightsFactory().item
    services.ugc_claim(item_id=item.pk, moderator=UserFactory(username="omar"))
    response = press(moderator_client, item, "approve")
    assert messages_of(response) == [
        f"Not approved #{item.pk}: It is claimed by another moderator; claim it before deciding."
    ]
    assert UGCItem.objects.get(pk=item.pk).status == S.REVIEWING


def test_archive_button_needs_a_reason(moderator_client):
    item = publishable_item(status=S.PUBLISHED)
    response = press(moderator_client, item, "archive", reason=" ")
    assert messages_of(response) == [f"Not archived #{item.pk}: Say why."]
    response = press(moderator_client, item, "archive", reason="Season is over")
    assert messages_of(response) == [f"Archived 1: #{item.pk}"]


def test_the_moderate_url_takes_posts_only(moderator_client):
    item = UGCItemFactory()
    assert moderator_client.get(f"{CHANGELIST}{item.pk}/moderate/").status_code == 405


def test_expired_rights_show_in_the_blockers(moderator_client):
    item = UGCItemFactory(status=S.APPROVED, media_status="ready")
    UGCRightsFactory(item=item, starts_at=timezone.now() - timedelta(days=5),
                     expires_at=timezone.now() - timedelta(days=1))  # fmt: skip
    assert "The rights expired on" in moderator_client.get(change_url(item)).content.decode()
