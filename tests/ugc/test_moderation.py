"""Moderation: the transition table, claims, the rights gate and the rights-expiry job."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import ApplicationError
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.ugc.factories import (
    RejectionReasonFactory,
    UGCItemFactory,
    UGCProductMapFactory,
    UGCRightsFactory,
    publishable_item,
)
from ugc import services
from ugc.models import ModerationEvent, UGCItem, UGCProductMap, UGCRights
from ugc.selectors import RightsState, items_with_rights_state, publishable_items

S = UGCItem.Status

# What each action does from each status, written out independently of services.ALLOWED.
EXPECTED = {
    (S.QUEUED, "claim"): S.REVIEWING,
    (S.REVIEWING, "approve"): S.APPROVED,
    (S.REVIEWING, "reject"): S.REJECTED,
    (S.REVIEWING, "requeue"): S.QUEUED,
    (S.REJECTED, "requeue"): S.QUEUED,
    (S.APPROVED, "publish"): S.PUBLISHED,
    (S.APPROVED, "requeue"): S.QUEUED,  # a moderator takes the approval back for review
    (S.APPROVED, "reject"): S.REJECTED,  # or rejects it after all
    (S.PUBLISHED, "archive"): S.ARCHIVED,
}
ACTIONS = ["claim", "approve", "reject", "requeue", "publish", "archive"]


def run(action, item, *, moderator, other_moderator, reason):
    if action == "claim":
        return services.ugc_claim(item_id=item.pk, moderator=other_moderator)
    if action == "approve":
        return services.ugc_approve(item_id=item.pk, moderator=moderator)
    if action == "reject":
        return services.ugc_reject(
            item_id=item.pk, moderator=moderator, reason=reason, note="blurry"
        )
    if action == "requeue":
        return services.ugc_requeue(item_id=item.pk, actor=moderator, reason="second look")
    if action == "publish":
        return services.ugc_publish(item_id=item.pk, actor=moderator)
    return services.ugc_archive(item_id=item.pk, actor=moderator, reason="campaign over")


def test_the_transition_table_is_the_expected_one():
    system_only = {(S.QUEUED, "auto_reject"): S.REJECTED, (S.REVIEWING, "release"): S.QUEUED}
    assert services.ALLOWED == {**EXPECTED, **system_only}


@pytest.mark.django_db
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", list(S))
def test_every_action_from_every_status(status, action, moderator, other_moderator, reason):
    claimed = (
        {"claimed_by": moderator, "claimed_at": timezone.now()} if status == S.REVIEWING else {}
    )
    item = publishable_item(status=status, **claimed)
    before = UGCItem.objects.values().get(pk=item.pk)
    events = ModerationEvent.objects.count()
    expected = EXPECTED.get((status, action))

    if expected is None:
        with pytest.raises(ApplicationError) as exc:
            run(action, item, moderator=moderator, other_moderator=other_moderator, reason=reason)
        wanted = (
            "already_claimed"
            if (status, action) == (S.REVIEWING, "claim")
            else "invalid_transition"
        )
        assert exc.value.code == wanted
        assert UGCItem.objects.values().get(pk=item.pk) == before  # nothing changed
        assert ModerationEvent.objects.count() == events
        return

    run(action, item, moderator=moderator, other_moderator=other_moderator, reason=reason)
    item.refresh_from_db()
    assert item.status == expected
    event = ModerationEvent.objects.exclude(action__startswith="rights").latest("pk")
    assert ModerationEvent.objects.count() == events + 1
    assert (event.item_id, event.action, event.from_status, event.to_status) == (
        item.pk,
        action,
        status,
        expected,
    )
    assert event.actor == (other_moderator if action == "claim" else moderator)
    if action == "claim":
        assert item.claimed_by == other_moderator
    if status == S.REVIEWING:
        assert item.claimed_by is None  # deciding or requeueing ends the claim
    if action == "reject":
        assert item.rejection_reason == reason
        assert event.reason == "Off-brand: blurry"
    if action == "publish":
        assert item.published_at is not None


@pytest.mark.django_db
def test_an_unknown_item_is_a_clear_error(moderator):
    with pytest.raises(ApplicationError) as exc:
        services.ugc_claim(item_id=999_999, moderator=moderator)
    assert exc.value.code == "not_found"


@pytest.mark.django_db
def test_claiming_an_item_one_holds_changes_nothing(moderator):
    item = UGCItemFactory()
    services.ugc_claim(item_id=item.pk, moderator=moderator)
    services.ugc_claim(item_id=item.pk, moderator=moderator)
    assert list(ModerationEvent.objects.values_list("action", flat=True)) == ["claim"]


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["approve", "reject"])
def test_only_the_claimer_decides(action, moderator, other_moderator, reason):
    item = UGCItemFactory(status=S.REVIEWING, claimed_by=moderator, claimed_at=timezone.now())
    with pytest.raises(ApplicationError) as exc:
        if action == "approve":
            services.ugc_approve(item_id=item.pk, moderator=other_moderator)
        else:
            services.ugc_reject(item_id=item.pk, moderator=other_moderator, reason=reason)
    assert exc.value.code == "not_claimer"
    item.refresh_from_db()
    assert (item.status, item.claimed_by) == (S.REVIEWING, moderator)
    assert not ModerationEvent.objects.exists()


@pytest.mark.django_db
def test_rejecting_needs_an_active_reason(moderator):
    item = UGCItemFactory(status=S.REVIEWING, claimed_by=moderator, claimed_at=timezone.now())
    with pytest.raises(ApplicationError) as exc:
        services.ugc_reject(item_id=item.pk, moderator=moderator, reason=None, note="no")
    assert exc.value.code == "reason_required"
    assert "reason" in exc.value.fields
    retired = RejectionReasonFactory(label="Old reason", active=False)
    with pytest.raises(ApplicationError) as exc:
        services.ugc_reject(item_id=item.pk, moderator=moderator, reason=retired.pk)
    assert exc.value.code == "invalid_reason"
    item.refresh_from_db()
    assert item.status == S.REVIEWING


@pytest.mark.django_db
def test_archiving_needs_a_reason(moderator):
    item = publishable_item(status=S.PUBLISHED)
    with pytest.raises(ApplicationError) as exc:
        services.ugc_archive(item_id=item.pk, actor=moderator, reason="  ")
    assert exc.value.code == "reason_required"
    item.refresh_from_db()
    assert item.status == S.PUBLISHED


@pytest.mark.django_db
def test_requeue_clears_the_rejection(moderator, reason):
    item = UGCItemFactory(status=S.REJECTED, rejection_reason=reason, rejection_note="blurry")
    services.ugc_requeue(item_id=item.pk, actor=moderator, reason="appeal accepted")
    item.refresh_from_db()
    assert (item.status, item.rejection_reason, item.rejection_note) == (S.QUEUED, None, "")
    assert ModerationEvent.objects.get().reason == "appeal accepted"


# --- taking an approval back, and approvals that need a confirmation ----------------------


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["requeue", "reject"])
def test_any_moderator_takes_an_approval_back(action, moderator, other_moderator, reason):
    """An approved item carries no claim: another moderator than the approver may send it
    back for review or reject it, and the move is audited from "approved"."""
    item = publishable_item(status=S.REVIEWING, claimed_by=moderator, claimed_at=timezone.now())
    services.ugc_approve(item_id=item.pk, moderator=moderator)
    if action == "requeue":
        services.ugc_requeue(item_id=item.pk, actor=other_moderator, reason="Wrong shade shown")
    else:
        services.ugc_reject(item_id=item.pk, moderator=other_moderator, reason=reason, note="dup")
    item.refresh_from_db()
    assert item.status == {"requeue": S.QUEUED, "reject": S.REJECTED}[action]
    assert item.claimed_by is None
    event = ModerationEvent.objects.latest("pk")
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        action, S.APPROVED, item.status, other_moderator
    )  # fmt: skip
    assert event.reason == {"requeue": "Wrong shade shown", "reject": "Off-brand: dup"}[action]
    # Back in the queue it is claimed and decided like any other item.
    if action == "requeue":
        services.ugc_claim(item_id=item.pk, moderator=moderator)
        services.ugc_reject(item_id=item.pk, moderator=moderator, reason=reason)
        assert UGCItem.objects.get(pk=item.pk).status == S.REJECTED


def _flagged(item):
    UGCItem.objects.filter(pk=item.pk).update(
        flags=[{"code": "blocklist", "detail": "word “giveaway”", "action": "flag"}]
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("breaks", "warning"),
    [
        (_flagged, "Flagged by the blocklist: word “giveaway”."),
        (lambda item: UGCRights.objects.filter(item=item).delete(),
         "No rights have been granted for this item."),
        (lambda item: UGCRights.objects.filter(item=item).update(allowed_channels=["email"]),
         "The rights do not allow the site channel."),
        (lambda item: UGCRights.objects.filter(item=item).update(
            expires_at=timezone.now() - timedelta(days=1)), "The rights expired on"),
    ],
)  # fmt: skip
def test_approving_a_flagged_item_or_one_without_site_rights_needs_a_confirmation(
    breaks, warning, moderator
):
    item = publishable_item(status=S.REVIEWING, claimed_by=moderator, claimed_at=timezone.now())
    breaks(item)
    before = UGCItem.objects.values().get(pk=item.pk)

    with pytest.raises(ApplicationError) as exc:
        services.ugc_approve(item_id=item.pk, moderator=moderator, note="Looks fine")
    assert exc.value.code == "confirmation_required"
    [said] = exc.value.fields["confirmed"]
    assert said.startswith(warning)
    assert UGCItem.objects.values().get(pk=item.pk) == before  # still claimed, under review
    assert not ModerationEvent.objects.filter(item=item).exists()

    services.ugc_approve(item_id=item.pk, moderator=moderator, note="Looks fine", confirmed=True)
    item.refresh_from_db()
    assert item.status == S.APPROVED
    event = ModerationEvent.objects.get(item=item)
    # The audit row says what the moderator confirmed.
    assert event.reason == f"Looks fine (Approved despite: {said})"


@pytest.mark.django_db
def test_every_warning_is_listed_and_a_clean_item_needs_no_confirmation(moderator):
    flagged = UGCItemFactory(
        status=S.REVIEWING, claimed_by=moderator, claimed_at=timezone.now(),
        flags=[{"code": "near_duplicate", "detail": "looks like item 3 (distance 2)"},
               {"code": "media_error", "detail": "the file could not be decoded"}],
    )  # fmt: skip
    assert [code for code, _ in services.approval_warnings(flagged)] == [
        "near_duplicate", "media_error", "no_rights"
    ]  # fmt: skip
    clean = publishable_item(status=S.REVIEWING, claimed_by=moderator, claimed_at=timezone.now())
    assert services.approval_warnings(clean) == []
    services.ugc_approve(item_id=clean.pk, moderator=moderator)
    assert ModerationEvent.objects.get(item=clean).reason == ""


# --- the rights gate ----------------------------------------------------------------------

past = timedelta(days=-1)


def _no_rights(item):
    UGCRights.objects.filter(item=item).delete()


def _rights(**fields):
    def change(item):
        UGCRights.objects.filter(item=item).update(**{k: v() for k, v in fields.items()})

    return change


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("breaks", "code"),
    [
        (_no_rights, "no_rights"),
        (_rights(revoked_at=lambda: timezone.now() - timedelta(hours=1)), "rights_revoked"),
        (_rights(expires_at=lambda: timezone.now() - timedelta(seconds=1)), "rights_expired"),
        (_rights(starts_at=lambda: timezone.now() + timedelta(days=1)), "rights_not_started"),
        (_rights(allowed_channels=lambda: ["email", "ads"]), "channel_not_allowed"),
        (lambda item: UGCProductMap.objects.filter(item=item).delete(), "no_product_mapping"),
        (
            lambda item: UGCItem.objects.filter(pk=item.pk).update(media_status="pending"),
            "media_not_ready",
        ),
    ],
)
def test_publishing_refuses_each_missing_requirement(breaks, code, moderator):
    item = publishable_item()
    breaks(item)
    with pytest.raises(ApplicationError) as exc:
        services.ugc_publish(item_id=item.pk, actor=moderator)
    assert exc.value.code == code
    assert exc.value.fields["publish"]
    item.refresh_from_db()
    assert (item.status, item.published_at) == (S.APPROVED, None)
    assert not ModerationEvent.objects.exists()


@pytest.mark.django_db
def test_publishing_reports_every_missing_requirement(moderator):
    item = UGCItemFactory(status=S.APPROVED)
    with pytest.raises(ApplicationError) as exc:
        services.ugc_publish(item_id=item.pk, actor=moderator)
    assert exc.value.code == "no_rights"
    assert len(exc.value.fields["publish"]) == 3


@pytest.mark.django_db
def test_rights_without_an_end_and_start_are_valid(moderator):
    item = publishable_item()
    UGCRights.objects.filter(item=item).update(starts_at=None, expires_at=None)
    services.ugc_publish(item_id=item.pk, actor=moderator)
    assert list(publishable_items()) == [item]


# --- rights, mappings and the daily job ---------------------------------------------------


@pytest.mark.django_db
def test_granting_rights_validates_and_audits(moderator):
    item = UGCItemFactory()
    with pytest.raises(ApplicationError) as exc:
        services.ugc_rights_grant(
            item_id=item.pk,
            consent_method="dm_approval",
            allowed_channels=["site", "billboards"],
            granted_by=moderator,
        )
    errors = exc.value.fields
    assert "billboards" in errors["allowed_channels"][0]
    assert "proof_text" in errors
    assert not UGCRights.objects.exists()

    rights = services.ugc_rights_grant(
        item_id=item.pk,
        consent_method="dm_approval",
        allowed_channels=["social", "site"],
        proof_text="Sure, go ahead",
        granted_by=moderator,
        expires_at=timezone.now() + timedelta(days=90),
    )
    assert rights.allowed_channels == ["site", "social"]
    event = ModerationEvent.objects.get()
    assert (event.action, event.actor, event.from_status, event.to_status) == (
        "rights_grant",
        moderator,
        "queued",
        "queued",
    )
    assert "DM approval" in event.reason


@pytest.mark.django_db
def test_revoking_rights_takes_a_published_item_down_at_once(moderator):
    item = publishable_item(status=S.PUBLISHED)
    services.ugc_rights_revoke(item_id=item.pk, actor=moderator, reason="Creator asked")
    item.refresh_from_db()
    assert item.status == S.ARCHIVED
    assert list(item.events.values_list("action", "reason")) == [
        ("rights_revoke", "Creator asked"),
        ("archive", "rights_revoked: Creator asked"),
    ]
    services.ugc_rights_revoke(item_id=item.pk, actor=moderator, reason="again")  # no-op
    assert item.events.count() == 2


@pytest.mark.django_db
def test_new_terms_without_the_site_take_a_published_item_down(moderator):
    item = publishable_item(status=S.PUBLISHED)
    services.ugc_rights_grant(
        item_id=item.pk,
        consent_method="creator_agreement",
        allowed_channels=["email"],
        proof_url="https://example.com/agreement.pdf",
        granted_by=moderator,
    )
    item.refresh_from_db()
    assert item.status == S.ARCHIVED
    assert item.events.last().reason.startswith("channel_not_allowed")


@pytest.mark.django_db
def test_mapping_products_and_variants(moderator):
    item = UGCItemFactory()
    variant = VariantFactory()
    mapping = services.ugc_map_product(item_id=item.pk, variant=variant, confidence="0.8")
    assert (mapping.product, mapping.variant) == (variant.product, variant)
    again = services.ugc_map_product(
        item_id=item.pk, product=variant.product, confidence="0.9", pinned=True
    )
    assert again.pk == mapping.pk and again.pinned
    with pytest.raises(ApplicationError) as exc:
        services.ugc_map_product(item_id=item.pk, product=ProductFactory(), variant=variant)
    assert exc.value.code == "variant_mismatch"
    with pytest.raises(Exception) as exc:
        services.ugc_map_product(item_id=item.pk, product=variant.product, confidence="1.5")
    assert "confidence" in str(exc.value).lower()
    assert UGCProductMap.objects.count() == 1
    assert list(item.events.values_list("action", flat=True)) == ["map_product", "map_product"]


@pytest.mark.django_db
def test_the_last_mapping_of_a_published_item_stays(moderator):
    item = publishable_item(status=S.PUBLISHED)
    mapping = item.product_maps.get()
    with pytest.raises(ApplicationError) as exc:
        services.ugc_unmap_product(mapping_id=mapping.pk, actor=moderator)
    assert exc.value.code == "mapping_required"
    extra = services.ugc_map_product(item_id=item.pk, product=ProductFactory(), actor=moderator)
    services.ugc_unmap_product(mapping_id=mapping.pk, actor=moderator)
    assert list(item.product_maps.all()) == [extra]


@pytest.mark.django_db
def test_only_active_products_count_as_a_mapping(moderator):
    item = publishable_item()  # approved
    item.product_maps.update(product=ProductFactory(active=False))
    with pytest.raises(ApplicationError) as exc:
        services.ugc_publish(item_id=item.pk, actor=moderator)
    assert exc.value.code == "no_product_mapping"

    live = services.ugc_map_product(item_id=item.pk, product=ProductFactory(), actor=moderator)
    services.ugc_publish(item_id=item.pk, actor=moderator)
    with pytest.raises(ApplicationError) as exc:  # the inactive mapping cannot stand in
        services.ugc_unmap_product(mapping_id=live.pk, actor=moderator)
    assert exc.value.code == "mapping_required"


@pytest.mark.django_db
def test_an_expired_item_leaves_the_feed_at_once_and_the_job_archives_it():
    fine = publishable_item(status=S.PUBLISHED)
    expired = publishable_item(status=S.PUBLISHED)
    revoked = publishable_item(status=S.PUBLISHED)
    assert set(publishable_items()) == {fine, expired, revoked}

    UGCRights.objects.filter(item=expired).update(expires_at=timezone.now() - timedelta(minutes=1))
    UGCRights.objects.filter(item=revoked).update(revoked_at=timezone.now())
    # Before the daily job runs, the feed already leaves them out.
    assert list(publishable_items()) == [fine]
    assert UGCItem.objects.filter(status=S.PUBLISHED).count() == 3

    assert services.ugc_archive_expired_rights() == 2
    statuses = dict(UGCItem.objects.values_list("pk", "status"))
    assert statuses == {fine.pk: S.PUBLISHED, expired.pk: S.ARCHIVED, revoked.pk: S.ARCHIVED}
    why = dict(ModerationEvent.objects.filter(action="archive").values_list("item_id", "reason"))
    assert why[expired.pk].startswith("rights_expired: The rights expired on")
    assert why[revoked.pk].startswith("rights_revoked:")
    assert ModerationEvent.objects.get(item=expired).actor is None
    assert services.ugc_archive_expired_rights() == 0  # safe to run twice


@pytest.mark.django_db
def test_the_feed_needs_a_mapping_and_ready_media_too():
    item = publishable_item(status=S.PUBLISHED)
    UGCItemFactory(status=S.PUBLISHED)  # published without anything (written directly)
    publishable_item(status=S.APPROVED)
    assert list(publishable_items()) == [item]
    UGCItem.objects.filter(pk=item.pk).update(media_status="failed")
    assert not publishable_items().exists()


@pytest.mark.django_db
def test_rights_state_annotation():
    now = timezone.now()
    expected = {
        UGCItemFactory().pk: RightsState.NONE,
        UGCRightsFactory().item_id: RightsState.VALID,
        UGCRightsFactory(starts_at=None, expires_at=None).item_id: RightsState.VALID,
        UGCRightsFactory(revoked_at=now).item_id: RightsState.REVOKED,
        UGCRightsFactory(expires_at=now - timedelta(days=1), starts_at=None).item_id: (
            RightsState.EXPIRED
        ),
        UGCRightsFactory(starts_at=now + timedelta(days=1)).item_id: RightsState.SCHEDULED,
        UGCRightsFactory(allowed_channels=["ads"]).item_id: RightsState.NO_SITE,
    }
    got = dict(items_with_rights_state().values_list("pk", "rights_state"))
    assert got == expected
    assert items_with_rights_state().filter(rights_state=RightsState.VALID).count() == 2


@pytest.mark.django_db
def test_mapping_factory_is_valid():
    mapping = UGCProductMapFactory()
    mapping.full_clean()
