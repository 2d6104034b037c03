"""Bulk moderation for the console: one service call per item, a report item by item.

Each item goes through its own service call (its own transaction, row lock and audit row),
so one item that cannot move never holds back the others. Every refusal is kept with the
service's reason.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from core.errors import ApplicationError
from ugc import services
from ugc.models import UGCItem

MAX_BULK_ITEMS = 500


@dataclass
class BulkReport:
    done_label: str  # "Published"
    failed_label: str  # "Not published"
    done: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str | None:
        if not self.done:
            return None
        return f"{self.done_label} {len(self.done)}: " + ", ".join(f"#{pk}" for pk in self.done)

    def failures(self) -> list[str]:
        return [f"{self.failed_label} #{pk}: {why}" for pk, why in self.failed]


def why(exc: Exception, item_id: int) -> str:
    """The service's reason, without repeating the item's number the report already gives."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if not isinstance(exc, ApplicationError):
        return str(exc)
    if exc.fields.get("publish"):
        return " ".join(exc.fields["publish"])
    message = re.sub(rf"^Item #{item_id}\b", "It", exc.message)
    return re.sub(rf"(?<!UGC )\bitem #{item_id}\b", "it", message)


def run_bulk(
    item_ids: Iterable[int], step: Callable[[int], object], *, done: str, failed: str
) -> BulkReport:
    report = BulkReport(done, failed)
    for item_id in sorted(item_ids):
        try:
            step(item_id)
        except (ApplicationError, ValidationError) as exc:
            report.failed.append((item_id, why(exc, item_id)))
        else:
            report.done.append(item_id)
    return report


def _claim_if_queued(item_id: int, moderator, statuses: dict[int, str]) -> None:
    # Deciding needs the claim; a queued item is claimed first (one moderator per item
    # still holds: the claim fails if someone else is reviewing it).
    if statuses.get(item_id) == UGCItem.Status.QUEUED:
        services.ugc_claim(item_id=item_id, moderator=moderator)


def _statuses(item_ids) -> dict[int, str]:
    return dict(UGCItem.objects.filter(pk__in=list(item_ids)).values_list("pk", "status"))


def bulk_claim(item_ids, *, moderator) -> BulkReport:
    return run_bulk(
        item_ids,
        lambda pk: services.ugc_claim(item_id=pk, moderator=moderator),
        done="Claimed",
        failed="Not claimed",
    )


def bulk_approve(item_ids, *, moderator, note: str = "") -> BulkReport:
    item_ids = list(item_ids)
    statuses = _statuses(item_ids)

    def step(pk):
        _claim_if_queued(pk, moderator, statuses)
        services.ugc_approve(item_id=pk, moderator=moderator, note=note)

    return run_bulk(item_ids, step, done="Approved", failed="Not approved")


def bulk_reject(item_ids, *, moderator, reason, note: str = "") -> BulkReport:
    item_ids = list(item_ids)
    statuses = _statuses(item_ids)

    def step(pk):
        _claim_if_queued(pk, moderator, statuses)
        services.ugc_reject(item_id=pk, moderator=moderator, reason=reason, note=note)

    return run_bulk(item_ids, step, done="Rejected", failed="Not rejected")


def bulk_publish(item_ids, *, actor) -> BulkReport:
    return run_bulk(
        item_ids,
        lambda pk: services.ugc_publish(item_id=pk, actor=actor),
        done="Published",
        failed="Not published",
    )


def bulk_archive(item_ids, *, actor, reason: str) -> BulkReport:
    return run_bulk(
        item_ids,
        lambda pk: services.ugc_archive(item_id=pk, actor=actor, reason=reason),
        done="Archived",
        failed="Not archived",
    )


def bulk_requeue(item_ids, *, actor, reason: str = "") -> BulkReport:
    return run_bulk(
        item_ids,
        lambda pk: services.ugc_requeue(item_id=pk, actor=actor, reason=reason),
        done="Sent back to the queue",
        failed="Not sent back to the queue",
    )


def bulk_media_retry(item_ids, *, actor) -> BulkReport:
    return run_bulk(
        item_ids,
        lambda pk: services.ugc_media_retry(item_id=pk, actor=actor),
        done="Media queued again",
        failed="Media not queued again",
    )
