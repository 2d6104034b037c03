"""The publishing calendar: approved items scheduled to go live in a placement at a time.

A moderator schedules an approved item that is mapped to a product in the placement
(`ugc_schedule_create`) or cancels it (`ugc_schedule_cancel`). The `ugc.publish_scheduled`
beat job (every UGC_SCHEDULE_INTERVAL seconds) runs `ugc_schedule_run_due`: each due entry is
published through `ugc_publish`, so the rights gate, the product mapping and the media are
checked at that moment; an entry that cannot publish is marked failed with the reason, and
the item stays as it was. Entries are claimed with SKIP LOCKED, so two workers running the
job at once publish each entry once.

The `collection` placement names a collection (`ugc.collection_models`): publishing the entry
also puts the item at the end of that collection (an item published already is just put in).
"""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from ugc.collection_models import UGCCollection
from ugc.models import Placement, UGCItem, UGCProductMap, UGCSchedule
from ugc.services.collections import ugc_collection_add_item
from ugc.services.moderation import _event, _lock, ugc_publish

logger = logging.getLogger(__name__)

Status = UGCSchedule.Status


def _check_placement(placement: str) -> None:
    if placement not in Placement.values:
        message = f"Choose a placement: {', '.join(Placement.values)}."
        raise ApplicationError(message, code="invalid", fields={"placement": [message]})


def _check_collection(placement: str, collection_id: int | None) -> UGCCollection | None:
    """The collection placement names the collection the item goes into; no other does."""
    if placement != Placement.COLLECTION:
        if collection_id is not None:
            message = "Only the collection placement names a collection."
            raise ApplicationError(message, code="invalid", fields={"collection": [message]})
        return None
    collection = None
    if collection_id is not None:
        collection = UGCCollection.objects.filter(pk=collection_id).first()
    if collection is None:
        message = "Choose the collection the item goes into."
        raise ApplicationError(message, code="invalid", fields={"collection": [message]})
    return collection


def ugc_schedule_create(
    *,
    item_id: int,
    placement: str,
    publish_at: datetime,
    collection_id: int | None = None,
    actor=None,
) -> UGCSchedule:
    """Schedule an approved item to be published in `placement` at `publish_at` (future);
    in the collection placement, into the collection `collection_id`."""
    _check_placement(placement)
    collection = _check_collection(placement, collection_id)
    if publish_at is None or timezone.is_naive(publish_at):
        message = "Give the publishing time with its time zone."
        raise ApplicationError(message, code="invalid", fields={"publish_at": [message]})
    if publish_at <= timezone.now():
        message = "The publishing time must be in the future."
        raise ApplicationError(message, code="invalid", fields={"publish_at": [message]})
    with transaction.atomic():
        item = _lock(item_id)
        if item.status != UGCItem.Status.APPROVED:
            raise ApplicationError(
                f"Only approved items are scheduled; item #{item.pk} is {item.status}.",
                code="invalid_transition",
            )
        mapped = UGCProductMap.objects.filter(
            item=item, placement=placement, product__active=True
        ).exists()
        if not mapped:
            label = Placement(placement).label
            raise ApplicationError(
                f"Item #{item.pk} is not mapped to an active product in {label}; map it first.",
                code="no_product_mapping",
                fields={"placement": [f"Map the item to a product in {label} first."]},
            )
        try:
            with transaction.atomic():
                schedule = UGCSchedule.objects.create(
                    item=item,
                    placement=placement,
                    collection=collection,
                    publish_at=publish_at,
                    created_by=actor,
                )
        except IntegrityError:
            raise ApplicationError(
                f"Item #{item.pk} is already scheduled in {Placement(placement).label}; "
                "cancel that first.",
                code="already_scheduled",
            ) from None
        _event(
            item,
            action="schedule",
            actor=actor,
            from_status=item.status,
            reason=f"{_where(schedule)} at {publish_at:%Y-%m-%d %H:%M %Z}",
        )
    return schedule


def ugc_schedule_cancel(*, schedule_id: int, actor=None) -> UGCSchedule:
    """Cancel a pending entry; one already done is left as it is."""
    with transaction.atomic():
        schedule = UGCSchedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            raise ApplicationError(f"Schedule #{schedule_id} does not exist.", code="not_found")
        if schedule.status != Status.SCHEDULED:
            raise ApplicationError(
                f"Schedule #{schedule.pk} is {schedule.status}; only pending ones are cancelled.",
                code="invalid_transition",
            )
        schedule.status = Status.CANCELLED
        schedule.done_at = timezone.now()
        schedule.outcome = "Cancelled."
        schedule.save(update_fields=["status", "done_at", "outcome"])
        item = _lock(schedule.item_id)
        _event(item, action="schedule_cancel", actor=actor, from_status=item.status,
               reason=schedule.get_placement_display())  # fmt: skip
    return schedule


def _where(schedule: UGCSchedule) -> str:
    """The placement's name, and the collection's in the collection placement."""
    where = schedule.get_placement_display()
    return f"{where} “{schedule.collection}”" if schedule.collection_id else where


def _finish(schedule: UGCSchedule, status: str, outcome: str, now: datetime) -> None:
    schedule.status = status
    schedule.outcome = outcome
    schedule.done_at = now
    schedule.save(update_fields=["status", "outcome", "done_at"])


def _into_collection(schedule: UGCSchedule) -> None:
    if schedule.collection_id is not None:
        ugc_collection_add_item(collection_id=schedule.collection_id, item_id=schedule.item_id)


def _publish_one(schedule: UGCSchedule, now: datetime) -> str:
    """Publish a locked, due entry's item. Returns the entry's new status."""
    item = _lock(schedule.item_id)
    where = _where(schedule)
    if item.status == UGCItem.Status.PUBLISHED:  # published by hand, or for another placement
        _into_collection(schedule)
        _finish(schedule, Status.PUBLISHED, f"Already published; live in {where}.", now)
        return Status.PUBLISHED
    try:
        with transaction.atomic():  # a refusal rolls back the attempt only
            ugc_publish(item_id=item.pk, actor=None)
    except ApplicationError as exc:
        _finish(schedule, Status.FAILED, f"{exc.code}: {exc.message}", now)
        _event(item, action="schedule_failed", actor=None, from_status=item.status,
               reason=f"{where}: {exc.message}")  # fmt: skip
        logger.warning(
            "ugc.schedule.failed",
            extra={"schedule_id": schedule.pk, "item_id": item.pk, "code": exc.code},
        )
        return Status.FAILED
    _into_collection(schedule)
    _finish(schedule, Status.PUBLISHED, f"Published on schedule; live in {where}.", now)
    logger.info("ugc.schedule.published", extra={"schedule_id": schedule.pk, "item_id": item.pk})
    return Status.PUBLISHED


def ugc_schedule_run_due(*, limit: int = 200) -> dict[str, int]:
    """Publish the entries whose time has come, oldest first, one transaction each.

    Returns {"published": n, "failed": n}. Entries another worker holds are skipped (it is
    publishing them), so running the job twice at once publishes each entry once.
    """
    done = {Status.PUBLISHED.value: 0, Status.FAILED.value: 0}
    for _ in range(limit):
        with transaction.atomic():
            now = timezone.now()
            schedule = (
                UGCSchedule.objects.select_for_update(skip_locked=True)
                .filter(status=Status.SCHEDULED, publish_at__lte=now)
                .order_by("publish_at", "pk")
                .first()
            )
            if schedule is None:
                break
            done[_publish_one(schedule, now)] += 1
    return done
