"""The merchant's lists: rejection reasons and the blocklist."""

import logging

from ugc.models import BlocklistEntry, RejectionReason

logger = logging.getLogger(__name__)


def rejection_reason_save(*, reason: RejectionReason) -> RejectionReason:
    """Add or change a rejection reason. Reasons are turned off, never deleted."""
    reason.label = (reason.label or "").strip()
    reason.full_clean()
    reason.save()
    return reason


def blocklist_entry_save(*, entry: BlocklistEntry) -> BlocklistEntry:
    """Add or change a blocklist entry; it applies to content ingested from now on."""
    entry.full_clean()  # trims the term and a handle's "@"; refuses an empty or repeated one
    entry.save()
    logger.info("ugc.blocklist_saved", extra={"entry_id": entry.pk, "kind": entry.kind})
    return entry
