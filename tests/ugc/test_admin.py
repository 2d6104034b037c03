"""The moderation queue: columns, filters, per-status counts, order, query budget, bulk actions
and who may moderate."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.catalog.factories import ProductFactory
from tests.links.factories import CreatorFactory
from tests.ugc.admin_helpers import CHANGELIST, action, login, messages_of, numbers, rows
from tests.ugc.factories import (
    RejectionReasonFactory,
    UGCItemFactory,
    UGCProductMapFactory,
    UGCRightsFactory,
    UserFactory,
    publishable_item,
)
from ugc import services
from ugc.models import ModerationEvent, UGCItem

pytestmark = pytest.mark.django_db
S = UGCItem.Status


def ready_with_thumbnail():
    return {
        "kind": "image",
        "width": 400,
        "height": 400,
        "aspect": 1.0,
        "display": {"name": "ugc/1/display.webp", "content_type": "image/webp",
                    "width": 400, "height": 400},
        "thumbnail": {"name": "ugc/1/thumb.webp", "width": 64, "height": 64},
    }  # fmt: skip


# -- the list ---------------------------------------------------------------------------


def test_changelist_shows_each_column(moderator_client):
    creator = CreatorFactory(name="Maya", handle="maya")
    item = UGCItemFactory(
        author_handle="fan_one",
        creator=creator,
        caption="Wearing the hoodie all winter " * 5,
        flags=[{"code": "near_duplicate", "detail": "looks like item 3 (distance 2)"}],
        media_status="ready",
        media_manifest=ready_with_thumbnail(),
    )
    UGCRightsFactory(item=item)
    UGCProductMapFactory(item=item, product=ProductFactory(title="Cloud Hoodie"))
    services.ugc_claim(item_id=item.pk, moderator=moderator_client.user)

    html = moderator_client.get(CHANGELIST).content.decode()
    [row] = rows(html)
    assert row["number"] == f"#{item.pk}"
    # The flags read under the status, the source under the author (one column each, so
    # that the queue fits a laptop's screen).
    assert row["status_badge"] == "Reviewing near_duplicate"
    assert row["author"] == "@fan_one Maya (@maya) Upload"
    assert row["caption_excerpt"].startswith("Wearing the hoodie") and row[
        "caption_excerpt"
    ].endswith("…")
    assert row["rights_state_label"] == "Valid for the site"
    assert row["products"] == "Cloud Hoodie"
    assert row["claimed_by"] == moderator_client.user.username
    local = timezone.localtime(item.created_at)
    assert row["created"] == f"{local:%Y-%m-%d} {local:%H:%M}"
    img = BeautifulSoup(html, "lxml").select_one("#result_list .field-thumb img")
    assert img["src"] == "/media/ugc/1/thumb.webp"


def test_default_order_puts_the_queue_first_oldest_first(moderator_client):
    now = timezone.now()
    published = publishable_item(status=S.PUBLISHED)
    old_queued = UGCItemFactory()
    new_queued = UGCItemFactory()
    approved = UGCItemFactory(status=S.APPROVED)
    reviewing = UGCItemFactory(status=S.REVIEWING)
    for age, item in enumerate([new_queued, old_queued, published, approved, reviewing]):
        UGCItem.objects.filter(pk=item.pk).update(created_at=now - timedelta(hours=age))
    html = moderator_client.get(CHANGELIST).content.decode()
    assert numbers(html) == [f"#{i.pk}" for i in
                             [old_queued, new_queued, reviewing, approved, published]]  # fmt: skip


def test_filters_status_source_creator_rights_and_flags(moderator_client):
    maya = CreatorFactory(handle="maya")
    queued = UGCItemFactory(creator=maya)
    tiktok = UGCItemFactory(source=UGCItem.Source.TIKTOK, external_id="7301")
    flagged = UGCItemFactory(flags=[{"code": "blocklist", "detail": "blocked word"}])
    valid = publishable_item()
    expired = UGCItemFactory()
    UGCRightsFactory(item=expired, starts_at=timezone.now() - timedelta(days=9),
                     expires_at=timezone.now() - timedelta(days=1))  # fmt: skip
    revoked = UGCItemFactory()
    UGCRightsFactory(item=revoked, revoked_at=timezone.now())
    email_only = UGCItemFactory()
    UGCRightsFactory(item=email_only, allowed_channels=["email"])

    def listed(query):
        return sorted(numbers(moderator_client.get(f"{CHANGELIST}?{query}").content.decode()))

    def ids(*items):
        return sorted(f"#{i.pk}" for i in items)

    assert listed("status=approved") == ids(valid)
    assert listed("source__exact=tiktok") == ids(tiktok)
    assert listed(f"creator__id__exact={maya.pk}") == ids(queued)
    assert listed("rights=valid") == ids(valid)
    assert listed("rights=expired") == ids(expired)
    assert listed("rights=revoked") == ids(revoked)
    assert listed("rights=no_site") == ids(email_only)
    assert listed("rights=none") == ids(queued, tiktok, flagged)
    assert listed("flagged=yes") == ids(flagged)
    assert listed("flagged=blocklist") == ids(flagged)
    assert listed("flagged=duplicate") == []
    assert len(listed("flagged=no")) == 6
    assert listed("q=7301") == ids(tiktok)


def counts(html: str) -> dict[str, str]:
    soup = BeautifulSoup(html, "lxml")
    return {
        a["data-status"] or "all": a.select_one(".count").get_text()
        for a in soup.select(".ugc-status-counts a")
    }


def test_per_status_counts_follow_the_other_filters_but_not_the_status_one(moderator_client):
    for _ in range(3):
        UGCItemFactory()
    UGCItemFactory(status=S.REJECTED)
    publishable_item()
    UGCItemFactory(source=UGCItem.Source.TIKTOK, external_id="1")

    got = counts(moderator_client.get(CHANGELIST).content.decode())
    assert got == {"all": "6", "queued": "4", "reviewing": "0", "approved": "1",
                   "published": "0", "rejected": "1", "archived": "0"}  # fmt: skip

    by_status = counts(moderator_client.get(f"{CHANGELIST}?status=rejected").content.decode())
    assert by_status["queued"] == "4" and by_status["all"] == "6"  # the status filter is ignored

    tiktok = counts(moderator_client.get(f"{CHANGELIST}?source__exact=tiktok").content.decode())
    assert tiktok["all"] == "1" and tiktok["queued"] == "1" and tiktok["rejected"] == "0"


def test_status_count_links_select_the_status_and_keep_other_filters(moderator_client):
    UGCItemFactory(source=UGCItem.Source.TIKTOK, external_id="1")
    html = moderator_client.get(f"{CHANGELIST}?source__exact=tiktok").content.decode()
    link = BeautifulSoup(html, "lxml").select_one('.ugc-status-counts a[data-status="queued"]')
    assert "status=queued" in link["href"] and "source__exact=tiktok" in link["href"]


def _queries_for_changelist(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(CHANGELIST).status_code == 200
    return len(ctx.captured_queries)


def _make_items(n: int, moderator):
    for _ in range(n):
        item = publishable_item(
            status=S.QUEUED,
            creator=CreatorFactory(),
            media_status="ready",
            media_manifest=ready_with_thumbnail(),
        )
        UGCProductMapFactory(item=item)  # two mappings each
        services.ugc_claim(item_id=item.pk, moderator=moderator)


def test_changelist_queries_do_not_grow_with_rows(moderator_client, django_assert_max_num_queries):
    _make_items(5, moderator_client.user)
    few = _queries_for_changelist(moderator_client)
    _make_items(45, moderator_client.user)
    many = _queries_for_changelist(moderator_client)
    assert many == few
    with django_assert_max_num_queries(14):
        moderator_client.get(CHANGELIST)


# -- bulk actions -----------------------------------------------------------------------


def test_publish_reports_item_by_item_and_refuses_an_item_without_rights(moderator_client):
    ready = [publishable_item() for _ in range(3)]
    no_rights = UGCItemFactory(status=S.APPROVED, media_status="ready")
    UGCProductMapFactory(item=no_rights)

    response = action(moderator_client, "publish_items", [*ready, no_rights])

    assert response.redirect_chain[-1][1] == 302
    assert messages_of(response) == [
        "Published 3: " + ", ".join(f"#{i.pk}" for i in ready),
        f"Not published #{no_rights.pk}: No rights have been granted for this item.",
    ]
    assert {i.status for i in UGCItem.objects.filter(pk__in=[i.pk for i in ready])} == {S.PUBLISHED}
    no_rights.refresh_from_db()
    assert no_rights.status == S.APPROVED


def test_publish_lists_every_blocker(moderator_client):
    bare = UGCItemFactory(status=S.APPROVED)
    response = action(moderator_client, "publish_items", [bare])
    assert messages_of(response) == [
        f"Not published #{bare.pk}: No rights have been granted for this item. "
        "Map the item to at least one active product. The item's media has not been processed yet."
    ]


def test_claim_then_approve_in_bulk_and_items_held_by_someone_else_are_refused(
    moderator_client,
):
    mine = UGCRightsFactory().item  # with rights: approving asks for no confirmation
    theirs = UGCRightsFactory().item
    services.ugc_claim(item_id=theirs.pk, moderator=UserFactory(username="omar"))

    response = action(moderator_client, "claim_items", [mine, theirs])
    assert messages_of(response) == [
        f"Claimed 1: #{mine.pk}",
        f"Not claimed #{theirs.pk}: It is already being reviewed by another moderator.",
    ]
    response = action(moderator_client, "approve_items", [mine, theirs])
    assert messages_of(response) == [
        f"Approved 1: #{mine.pk}",
        f"Not approved #{theirs.pk}: It is claimed by another moderator; claim it before deciding.",
    ]
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, theirs.status) == (S.APPROVED, S.REVIEWING)


def test_bulk_approval_lists_what_to_confirm_and_approves_only_what_was_confirmed(
    moderator_client,
):
    clean = UGCRightsFactory().item
    flagged = UGCRightsFactory(
        item=UGCItemFactory(flags=[{"code": "duplicate", "detail": "same file as item 1"}])
    ).item
    no_rights = UGCItemFactory()

    response = action(moderator_client, "approve_items", [clean, flagged, no_rights])
    soup = BeautifulSoup(response.content, "lxml")
    listed = {
        int(li["data-item"]): [w.get_text() for w in li.select(".ugc-warning")]
        for li in soup.select(".ugc-confirm-list > li")
    }
    assert listed == {
        flagged.pk: ["Flagged as a duplicate: same file as item 1."],
        no_rights.pk: ["No rights have been granted for this item."],
    }
    assert f"#{clean.pk}" in soup.get_text()  # approved with them once confirmed
    assert set(UGCItem.objects.values_list("status", flat=True)) == {S.QUEUED}  # nothing yet
    assert not ModerationEvent.objects.exists()

    # Confirmed for the flagged item only: the item without rights is refused before it is
    # claimed, so it stays in the queue for someone to look at.
    response = action(moderator_client, "approve_items", [clean, flagged, no_rights],
                      apply="1", confirmed=[flagged.pk])  # fmt: skip
    assert messages_of(response) == [
        f"Approved 2: #{clean.pk}, #{flagged.pk}",
        f"Not approved #{no_rights.pk}: It needs a confirmation before it is approved: "
        "No rights have been granted for this item.",
    ]
    statuses = dict(UGCItem.objects.values_list("pk", "status"))
    assert statuses == {clean.pk: S.APPROVED, flagged.pk: S.APPROVED, no_rights.pk: S.QUEUED}
    assert not ModerationEvent.objects.filter(item=no_rights).exists()
    assert "Approved despite: Flagged as a duplicate" in (
        ModerationEvent.objects.get(item=flagged, action="approve").reason
    )


def test_bulk_reject_without_reasons_says_where_to_add_them(moderator_client):
    item = UGCItemFactory()
    response = action(moderator_client, "reject_items", [item])
    notice = BeautifulSoup(response.content, "lxml").select_one(".ugc-reasons-missing")
    assert notice.select_one("a")["href"] == "/admin/ugc/rejectionreason/add/"
    assert UGCItem.objects.get(pk=item.pk).status == S.QUEUED


def test_approved_items_go_back_to_the_queue_in_bulk(moderator_client):
    items = [publishable_item(status=S.APPROVED) for _ in range(2)]
    response = action(moderator_client, "requeue_items", items)
    assert messages_of(response) == [f"Sent back to the queue 2: #{items[0].pk}, #{items[1].pk}"]
    assert set(UGCItem.objects.values_list("status", flat=True)) == {S.QUEUED}


def test_approving_a_queued_item_claims_it_first(moderator_client):
    item = UGCRightsFactory().item
    response = action(moderator_client, "approve_items", [item])
    assert messages_of(response) == [f"Approved 1: #{item.pk}"]
    actions = list(ModerationEvent.objects.filter(item=item).values_list("action", "actor"))
    assert actions == [("claim", moderator_client.user.pk), ("approve", moderator_client.user.pk)]


def test_reject_asks_for_a_reason_on_an_intermediate_page_then_rejects(moderator_client):
    off_brand = RejectionReasonFactory(label="Off-brand")
    RejectionReasonFactory(label="Retired reason", active=False)
    queued, published = UGCItemFactory(), publishable_item(status=S.PUBLISHED)

    page = action(moderator_client, "reject_items", [queued, published])
    assert page.status_code == 200
    soup = BeautifulSoup(page.content, "lxml")
    options = [o.get_text() for o in soup.select("select[name=reason] option")]
    assert options == ["Choose a reason", "Off-brand"]
    assert UGCItem.objects.get(pk=queued.pk).status == S.QUEUED  # nothing yet

    missing = action(moderator_client, "reject_items", [queued], apply="Reject")
    assert missing.status_code == 200 and b"This field is required" in missing.content
    assert UGCItem.objects.get(pk=queued.pk).status == S.QUEUED

    done = action(moderator_client, "reject_items", [queued, published], apply="Reject",
                  reason=off_brand.pk, note="Logo is cropped")  # fmt: skip
    assert messages_of(done) == [
        f"Rejected 1: #{queued.pk}",
        f"Not rejected #{published.pk}: Cannot reject it: it is published.",
    ]
    queued.refresh_from_db()
    assert (queued.status, queued.rejection_reason, queued.rejection_note) == (
        S.REJECTED, off_brand, "Logo is cropped"
    )  # fmt: skip
    assert ModerationEvent.objects.filter(item=queued, action="reject").get().reason == (
        "Off-brand: Logo is cropped"
    )


def test_archive_needs_a_reason_and_records_it(moderator_client):
    live = publishable_item(status=S.PUBLISHED)
    page = action(moderator_client, "archive_items", [live])
    assert page.status_code == 200 and b'name="reason"' in page.content
    done = action(moderator_client, "archive_items", [live], apply="Archive",
                  reason="Creator asked us to stop")  # fmt: skip
    assert messages_of(done) == [f"Archived 1: #{live.pk}"]
    assert ModerationEvent.objects.get(item=live, action="archive").reason == (
        "Creator asked us to stop"
    )


def test_requeue_in_bulk(moderator_client, reason):
    item = UGCItemFactory()
    services.ugc_claim(item_id=item.pk, moderator=moderator_client.user)
    services.ugc_reject(item_id=item.pk, moderator=moderator_client.user, reason=reason)
    response = action(moderator_client, "requeue_items", [item])
    assert messages_of(response) == [f"Sent back to the queue 1: #{item.pk}"]
    item.refresh_from_db()
    assert item.status == S.QUEUED and item.rejection_reason is None


# -- who may moderate ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Moderator", "Owner"])
def test_moderators_and_owners_see_and_run_the_actions(client, role):
    login(client, role)
    item = publishable_item()
    html = client.get(CHANGELIST).content.decode()
    names = [o["value"] for o in BeautifulSoup(html, "lxml").select("select[name=action] option")]
    assert {
        "claim_items",
        "approve_items",
        "reject_items",
        "publish_items",
        "archive_items",
    } <= set(names)
    assert "delete_selected" not in names
    assert "Upload content" in html
    response = action(client, "publish_items", [item])
    assert messages_of(response) == [f"Published 1: #{item.pk}"]


@pytest.mark.parametrize("role", ["Catalog manager", "Finance"])
def test_view_only_roles_see_the_queue_but_cannot_moderate(client, role):
    login(client, role)
    item = publishable_item()
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"#{item.pk}" in html
    assert 'name="action"' not in html and "Upload content" not in html

    refused = action(client, "publish_items", [item])
    assert UGCItem.objects.get(pk=item.pk).status == S.APPROVED
    assert (refused.status_code, refused.redirect_chain) == (200, [])  # the list, unchanged
    assert not ModerationEvent.objects.filter(item=item, action="publish").exists()

    assert (
        client.post(f"{CHANGELIST}{item.pk}/moderate/", {"operation": "publish"}).status_code == 403
    )
    assert UGCItem.objects.get(pk=item.pk).status == S.APPROVED
    assert client.get(f"{CHANGELIST}upload/").status_code == 403
    assert client.get(f"{CHANGELIST}{item.pk}/original/").status_code == 403
    assert client.get(f"{CHANGELIST}{item.pk}/proof/").status_code == 403

    page = client.get(f"{CHANGELIST}{item.pk}/change/")
    assert page.status_code == 200
    assert b'name="operation"' not in page.content and b'name="_save"' not in page.content


def test_nobody_deletes_or_adds_items_in_the_console(client):
    login(client, "Owner")
    item = UGCItemFactory()
    assert client.post(f"{CHANGELIST}{item.pk}/delete/", {"post": "yes"}).status_code == 403
    assert UGCItem.objects.filter(pk=item.pk).exists()
    assert client.get(f"{CHANGELIST}add/").status_code == 403


def test_reference_and_record_admins(client):
    login(client, "Owner")
    reason = RejectionReasonFactory(label="Blurry")
    item = UGCItemFactory()
    services.ugc_claim(item_id=item.pk, moderator=UserFactory())
    for url in ["/admin/ugc/rejectionreason/", "/admin/ugc/blocklistentry/",
                "/admin/ugc/moderationevent/", "/admin/ugc/ugcmetricdaily/"]:  # fmt: skip
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/ugc/moderationevent/add/").status_code == 403
    event = ModerationEvent.objects.get(item=item, action="claim")
    changed = client.post(f"/admin/ugc/moderationevent/{event.pk}/change/", {"reason": "edited"})
    assert changed.status_code == 403 or b'name="reason"' not in changed.content
    event.refresh_from_db()
    assert event.reason == ""
    assert client.post(f"/admin/ugc/rejectionreason/{reason.pk}/delete/",
                       {"post": "yes"}).status_code == 403  # fmt: skip
