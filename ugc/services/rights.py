"""Rights: granting, revoking, and archiving items whose rights no longer cover the site.

Every write locks the item row first (`moderation._lock`), so it serialises with publishing:
new terms without the site channel, or a revocation, archive a published item in the same
transaction, and the daily job archives the rest.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, full_clean
from ugc.models import UGCItem, UGCRights
from ugc.selectors import rights_valid_q
from ugc.services.moderation import _apply, _event, _lock, _require_reason, rights_problem

logger = logging.getLogger(__name__)

Status = UGCItem.Status


def ugc_rights_grant(
    *,
    item_id: int,
    consent_method: str,
    allowed_channels: list[str],
    granted_by=None,
    licence_type: str = "",
    starts_at: datetime | None = None,
    expires_at: datetime | None = None,
    proof_file=None,
    proof_url: str = "",
    proof_text: str = "",
) -> UGCRights:
    """Record (or replace) the rights for an item. A new grant clears an earlier revocation."""
    with transaction.atomic():
        item = _lock(item_id)
        rights = UGCRights.objects.filter(item=item).first() or UGCRights(item=item)
        rights.consent_method = consent_method
        rights.allowed_channels = list(allowed_channels or [])
        rights.licence_type = licence_type
        rights.starts_at = starts_at
        rights.expires_at = expires_at
        rights.proof_url = proof_url
        rights.proof_text = proof_text
        if proof_file is not None:
            rights.proof_file = proof_file
        rights.revoked_at = None
        rights.revoke_reason = ""
        rights.granted_at = timezone.now()
        rights.granted_by = granted_by
        full_clean(rights)
        rights.save()
        until = f" until {expires_at:%Y-%m-%d %H:%M}" if expires_at else ""
        _event(
            item,
            action="rights_grant",
            actor=granted_by,
            from_status=item.status,
            reason=f"{rights.get_consent_method_display()} for "
            f"{', '.join(rights.allowed_channels) or 'no channels'}{until}.",
        )
        problem = rights_problem(rights, now=rights.granted_at)
        if item.status == Status.PUBLISHED and problem:
            # New terms that no longer cover the site take the item down at once.
            _apply(item, "archive", actor=granted_by, reason=f"{problem[0]}: {problem[1]}")
    return rights


def ugc_rights_revoke(*, item_id: int, actor, reason: str) -> UGCRights:
    """Revoke an item's rights; a published item is archived at once, with the reason."""
    reason = _require_reason(reason)
    with transaction.atomic():
        item = _lock(item_id)
        rights = UGCRights.objects.select_for_update().filter(item=item).first()
        if rights is None:
            raise ApplicationError(f"Item #{item.pk} has no rights to revoke.", code="no_rights")
        if rights.revoked_at:
            return rights
        now = timezone.now()
        rights.revoked_at = now
        rights.revoke_reason = reason
        rights.save(update_fields=["revoked_at", "revoke_reason"])
        _event(
            item,
            action="rights_revoke",
            actor=actor,
            from_status=item.status,
            reason=reason,
            at=now,
        )
        if item.status == Status.PUBLISHED:
            _apply(item, "archive", actor=actor, at=now, reason=f"rights_revoked: {reason}")
    return rights


def ugc_archive_expired_rights() -> int:
    """The daily job: archive published items whose rights no longer allow the site."""
    now = timezone.now()
    valid = UGCRights.objects.filter(rights_valid_q(now=now)).values("item_id")
    with transaction.atomic():
        items = list(
            UGCItem.objects.filter(status=Status.PUBLISHED)
            .exclude(pk__in=valid)
            .order_by("pk")
            .select_for_update()
        )
        for item in items:
            rights = UGCRights.objects.filter(item_id=item.pk).first()
            code, message = rights_problem(rights, now=now) or ("rights_invalid", "")
            _apply(item, "archive", actor=None, at=now, reason=f"{code}: {message}")
    if items:
        logger.info("ugc.archived_for_rights", extra={"count": len(items)})
    return len(items)
