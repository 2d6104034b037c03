"""The merchant's lists: rejection reasons and the blocklist."""

import logging

from django.db import transaction

from core.errors import ApplicationError, full_clean
from ugc.models import BlocklistEntry, RejectionReason

logger = logging.getLogger(__name__)

# A sensible first list, so that a new shop can reject from day one (`seed_demo` adds it;
# the merchant edits, turns off or adds to it in the console).
DEFAULT_REJECTION_REASONS = [
    "Off-brand",
    "Low quality",
    "No rights",
    "Offensive",
    "Wrong product",
    "Duplicate",
]


def _locked_or_new(model, pk: int | None):
    if pk is None:
        return model()
    found = model.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        name = model._meta.verbose_name
        raise ApplicationError(f"The {name} #{pk} does not exist.", code="not_found")
    return found


def rejection_reason_save(
    *, reason_id: int | None = None, label: str, active: bool
) -> RejectionReason:
    """Add a rejection reason (no id) or change one: every field is given, as a form sends
    them. Reasons are turned off, never deleted."""
    with transaction.atomic():
        reason = _locked_or_new(RejectionReason, reason_id)
        reason.label = (label or "").strip()
        reason.active = active
        full_clean(reason)
        reason.save()
    return reason


def rejection_reasons_add_defaults() -> int:
    """Add each of `DEFAULT_REJECTION_REASONS` the list does not hold yet (whatever its case,
    turned off included: a reason the merchant turned off stays off). Returns how many were
    added. Insert first: the case-insensitive unique index decides, so running it twice, or
    twice at once, adds each reason once."""
    with transaction.atomic():
        before = RejectionReason.objects.count()
        RejectionReason.objects.bulk_create(
            [RejectionReason(label=label) for label in DEFAULT_REJECTION_REASONS],
            ignore_conflicts=True,
        )
        added = RejectionReason.objects.count() - before
    if added:
        logger.info("ugc.rejection_reasons_added", extra={"count": added})
    return added


def blocklist_entry_save(
    *,
    entry_id: int | None = None,
    term: str,
    kind: str,
    action: str,
    active: bool,
) -> BlocklistEntry:
    """Add a blocklist entry (no id) or change one: every field is given, as a form sends
    them. It applies to content ingested from now on."""
    with transaction.atomic():
        entry = _locked_or_new(BlocklistEntry, entry_id)
        entry.term, entry.kind, entry.action, entry.active = term, kind, action, active
        full_clean(entry)  # trims the term and a handle's "@"; refuses an empty or repeated one
        entry.save()
    logger.info("ugc.blocklist_saved", extra={"entry_id": entry.pk, "kind": entry.kind})
    return entry
