"""The moderation state machine: claims, decisions, publishing and archiving, with the audit.

Items move only through `ALLOWED`. Each transition locks the item row (`_lock`), checks the
move (`_target`, ApplicationError `invalid_transition`), and writes a ModerationEvent
(`_event`) in the same transaction (`_apply` does all three). The other UGC services (rights,
mappings, media) lock the item row with `_lock` too, so they serialise with publishing.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from creators import notifications
from ugc.media_files import delete_files, manifest_files
from ugc.models import ModerationEvent, RejectionReason, UGCItem, UGCProductMap, UGCRights
from ugc.services.feed import make_card_links

logger = logging.getLogger(__name__)

Status = UGCItem.Status

# The moderation state machine: (current status, action) -> new status. Nothing else moves.
ALLOWED: dict[tuple[str, str], str] = {
    (Status.QUEUED, "claim"): Status.REVIEWING,
    (Status.QUEUED, "auto_reject"): Status.REJECTED,  # the blocklist, at ingestion
    (Status.REVIEWING, "release"): Status.QUEUED,  # a stale claim
    (Status.REVIEWING, "approve"): Status.APPROVED,
    (Status.REVIEWING, "reject"): Status.REJECTED,
    (Status.REVIEWING, "requeue"): Status.QUEUED,
    (Status.REJECTED, "requeue"): Status.QUEUED,
    (Status.APPROVED, "publish"): Status.PUBLISHED,
    # A decision a moderator takes back: send the approved item for review again, or reject it.
    (Status.APPROVED, "requeue"): Status.QUEUED,
    (Status.APPROVED, "reject"): Status.REJECTED,
    (Status.PUBLISHED, "archive"): Status.ARCHIVED,
}


# How approval warnings name each flag (flags come from ingestion and the media job).
FLAG_LABELS = {
    "blocklist": "by the blocklist",
    "duplicate": "as a duplicate",
    "near_duplicate": "as a near duplicate",
    "media_error": "for a media error",
}


def claim_timeout() -> timedelta:
    return timedelta(seconds=settings.UGC_CLAIM_TIMEOUT)


def _lock(item_id: int) -> UGCItem:
    try:
        return UGCItem.objects.select_for_update().get(pk=item_id)
    except UGCItem.DoesNotExist:
        raise ApplicationError(f"UGC item #{item_id} does not exist.", code="not_found") from None


def _target(item: UGCItem, action: str) -> str:
    """The status `action` leads to from the item's status, or ApplicationError."""
    to_status = ALLOWED.get((item.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action.replace('_', ' ')} item #{item.pk}: it is {item.status}.",
            code="invalid_transition",
        )
    return to_status


def _event(item: UGCItem, *, action: str, actor, from_status: str, reason: str = "", at=None):
    return ModerationEvent.objects.create(
        item=item,
        actor=actor,
        at=at or timezone.now(),
        from_status=from_status,
        to_status=item.status,
        action=action,
        reason=reason,
    )


def _withdraw_media(item: UGCItem) -> None:
    """An archived item's public copies are deleted once the archive commits (its rights may
    have been revoked); the private original stays for the record."""
    files = manifest_files(item.media_manifest or {})
    item.media_status = UGCItem.MediaStatus.WITHDRAWN
    item.media_manifest = {"withdrawn_at": timezone.now().isoformat()}
    if files:
        transaction.on_commit(lambda: delete_files(files))


def _apply(item: UGCItem, action: str, *, actor, reason: str = "", at=None) -> UGCItem:
    """Move a locked item along `action`, save it and audit the move."""
    from_status = item.status
    item.status = _target(item, action)
    if item.status == Status.ARCHIVED:
        _withdraw_media(item)
    item.save()
    _event(item, action=action, actor=actor, from_status=from_status, reason=reason, at=at)
    if item.source == UGCItem.Source.PORTAL and action in ("publish", "reject"):  # issue 15
        notifications.content_decided(
            creator_id=item.creator_id, item_id=item.pk, published=action == "publish",
            reason=reason,
        )  # fmt: skip
    logger.info(
        "ugc.transition",
        extra={"item_id": item.pk, "action": action, "from": from_status, "to": item.status},
    )
    return item


def _clear_claim(item: UGCItem) -> None:
    item.claimed_by = None
    item.claimed_at = None


def _claim_is_stale(item: UGCItem, now: datetime) -> bool:
    return (
        item.claimed_by_id is None
        or item.claimed_at is None
        or (item.claimed_at < now - claim_timeout())
    )


def _release(item: UGCItem, *, now: datetime) -> None:
    held = int((now - item.claimed_at).total_seconds()) if item.claimed_at else 0
    _clear_claim(item)
    _apply(
        item,
        "release",
        actor=None,
        at=now,
        reason=f"Claim released after {held} s (timeout {int(claim_timeout().total_seconds())} s).",
    )


def _require_claimer(item: UGCItem, moderator) -> None:
    if item.claimed_by_id != moderator.pk:
        raise ApplicationError(
            f"Item #{item.pk} is claimed by another moderator; claim it before deciding.",
            code="not_claimer",
        )


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Say why.", code="reason_required", fields={"reason": ["Give a reason."]}
        )
    return reason


def ugc_claim(*, item_id: int, moderator) -> UGCItem:
    """Claim a queued item for review. Of two moderators claiming at once, one wins.

    A claim older than UGC_CLAIM_TIMEOUT seconds is released and can be taken over.
    Claiming an item one already holds changes nothing.
    """
    with transaction.atomic():
        item = _lock(item_id)
        now = timezone.now()
        if item.status == Status.REVIEWING:
            if item.claimed_by_id == moderator.pk:
                return item
            if not _claim_is_stale(item, now):
                raise ApplicationError(
                    f"Item #{item.pk} is already being reviewed by another moderator.",
                    code="already_claimed",
                )
            _release(item, now=now)
        _target(item, "claim")
        item.claimed_by = moderator
        item.claimed_at = now
        return _apply(item, "claim", actor=moderator, at=now)


def ugc_release_stale_claims(*, limit: int = 500) -> int:
    """Put items whose claim outlived the timeout back in the queue. Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        stale = list(
            UGCItem.objects.filter(status=Status.REVIEWING, claimed_at__lt=now - claim_timeout())
            .order_by("pk")
            .select_for_update(skip_locked=True)[:limit]
        )
        for item in stale:
            _release(item, now=now)
    if stale:
        logger.info("ugc.claims_released", extra={"count": len(stale)})
    return len(stale)


def approval_warnings(item: UGCItem, *, now: datetime | None = None) -> list[tuple[str, str]]:
    """What a moderator must confirm before approving: each flag (blocklist, duplicate,
    media error) and rights that do not allow the site, as (code, message)."""
    warnings = []
    for flag in item.flags or []:
        code = flag.get("code") or "flag"
        label = FLAG_LABELS.get(code, code.replace("_", " "))
        detail = flag.get("detail") or ""
        warnings.append((code, f"Flagged {label}: {detail}." if detail else f"Flagged {label}."))
    rights = UGCRights.objects.filter(item_id=item.pk).first()
    problem = rights_problem(rights, now=now or timezone.now())
    if problem:
        warnings.append(problem)
    return warnings


def ugc_approve(*, item_id: int, moderator, note: str = "", confirmed: bool = False) -> UGCItem:
    """Approve a claimed item. An item that is flagged or has no rights for the site is
    approved only when `confirmed` (the console asks first); the audit row says what was
    confirmed. Unconfirmed, it raises `confirmation_required` with each warning."""
    with transaction.atomic():
        item = _lock(item_id)
        _target(item, "approve")
        _require_claimer(item, moderator)
        warnings = [message for _, message in approval_warnings(item)]
        if warnings and not confirmed:
            raise ApplicationError(
                f"Item #{item.pk} needs a confirmation before it is approved: "
                + " ".join(warnings),
                code="confirmation_required",
                fields={"confirmed": warnings},
            )
        note = (note or "").strip()
        if warnings:
            confirmed_note = "Approved despite: " + " ".join(warnings)
            note = f"{note} ({confirmed_note})" if note else confirmed_note
        _clear_claim(item)
        return _apply(item, "approve", actor=moderator, reason=note)


def _active_reason(reason) -> RejectionReason:
    if reason is None or reason == "":
        raise ApplicationError(
            "Choose a rejection reason.",
            code="reason_required",
            fields={"reason": ["Choose a rejection reason from the list."]},
        )
    pk = reason.pk if isinstance(reason, RejectionReason) else reason
    found = RejectionReason.objects.filter(pk=pk, active=True).first()
    if found is None:
        raise ApplicationError(
            "This rejection reason does not exist or is no longer in use.",
            code="invalid_reason",
            fields={"reason": ["Choose an active rejection reason."]},
        )
    return found


def ugc_reject(*, item_id: int, moderator, reason, note: str = "") -> UGCItem:
    """Reject an item with a reason from the merchant's list and optional free text: a claimed
    item (by its claimer), or an approved one (a decision taken back; approved items carry
    no claim, so any moderator may)."""
    with transaction.atomic():
        item = _lock(item_id)
        _target(item, "reject")
        if item.status == Status.REVIEWING:
            _require_claimer(item, moderator)
        reason = _active_reason(reason)
        note = (note or "").strip()
        _clear_claim(item)
        item.rejection_reason = reason
        item.rejection_note = note
        why = f"{reason.label}: {note}" if note else reason.label
        return _apply(item, "reject", actor=moderator, reason=why)


def ugc_requeue(*, item_id: int, actor, reason: str = "") -> UGCItem:
    """Send a rejected or approved item, or one under review, back to the queue."""
    with transaction.atomic():
        item = _lock(item_id)
        _target(item, "requeue")
        _clear_claim(item)
        item.rejection_reason = None
        item.rejection_note = ""
        return _apply(item, "requeue", actor=actor, reason=reason)


def rights_problem(rights: UGCRights | None, *, now: datetime, channel: str = "site"):
    """Why `rights` do not allow showing an item on `channel` now: (code, message) or None."""
    if rights is None:
        return "no_rights", "No rights have been granted for this item."
    if rights.revoked_at:
        return "rights_revoked", f"The rights were revoked on {rights.revoked_at:%Y-%m-%d %H:%M}."
    if rights.expires_at and rights.expires_at <= now:
        return "rights_expired", f"The rights expired on {rights.expires_at:%Y-%m-%d %H:%M}."
    if rights.starts_at and rights.starts_at > now:
        return "rights_not_started", f"The rights start on {rights.starts_at:%Y-%m-%d %H:%M}."
    if channel not in (rights.allowed_channels or []):
        return "channel_not_allowed", f"The rights do not allow the {channel} channel."
    return None


def publish_blockers(item: UGCItem, *, now: datetime | None = None) -> list[tuple[str, str]]:
    """Every unmet publishing requirement as (code, message); empty when it may publish."""
    now = now or timezone.now()
    blockers = []
    problem = rights_problem(UGCRights.objects.filter(item_id=item.pk).first(), now=now)
    if problem:
        blockers.append(problem)
    if not UGCProductMap.objects.filter(item_id=item.pk, product__active=True).exists():
        blockers.append(("no_product_mapping", "Map the item to at least one active product."))
    if item.media_status != UGCItem.MediaStatus.READY:
        blockers.append(("media_not_ready", "The item's media has not been processed yet."))
    if "deleted_on_platform" in item.flag_codes:  # issue 18: the author deleted the post
        blockers.append(("deleted_on_platform", "The post was deleted on its platform."))
    return blockers


def ugc_publish(*, item_id: int, actor) -> UGCItem:
    """Publish an approved item: it needs valid site rights, a product mapping and media.

    The feed card's short links are made in the same transaction (`feed.make_card_links`).
    """
    with transaction.atomic():
        item = _lock(item_id)
        _target(item, "publish")
        now = timezone.now()
        blockers = publish_blockers(item, now=now)
        if blockers:
            code, message = blockers[0]
            raise ApplicationError(
                f"Item #{item.pk} cannot be published: {message}",
                code=code,
                fields={"publish": [m for _, m in blockers]},
            )
        item.published_at = now
        _apply(item, "publish", actor=actor, at=now)
        make_card_links(item)
        return item


def ugc_archive(*, item_id: int, actor, reason: str) -> UGCItem:
    reason = _require_reason(reason)
    with transaction.atomic():
        item = _lock(item_id)
        return _apply(item, "archive", actor=actor, reason=reason)
