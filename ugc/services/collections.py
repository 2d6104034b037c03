"""Collections: curated, ordered galleries of published UGC (`ugc.collection_models`).

`ugc_collection_save` adds or changes a collection (every field given, as a form sends
them); `ugc_collection_set_items` gives it its items in order (the console's inline);
`ugc_collection_add_item` puts one item at the end (the publishing calendar's "collection"
placement). Only published items go in; one that is later archived, or whose rights lapse,
stays in the list but leaves the page, as it leaves the feed (`ugc.selectors`). Each write
locks the collection's row, so two editors saving at once do not interleave positions.
"""

import logging

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.errors import ApplicationError, full_clean
from ugc.collection_models import UGCCollection, UGCCollectionEntry
from ugc.models import UGCItem

logger = logging.getLogger(__name__)


def _lock_collection(collection_id: int) -> UGCCollection:
    collection = UGCCollection.objects.select_for_update().filter(pk=collection_id).first()
    if collection is None:
        raise ApplicationError(f"Collection #{collection_id} does not exist.", code="not_found")
    return collection


def ugc_collection_save(
    *,
    collection_id: int | None = None,
    name: str,
    slug: str,
    description: str = "",
    active: bool = True,
    auto_fill_brand: str = "",
    auto_fill_limit: int = 12,
) -> UGCCollection:
    """Add a collection (no id) or change one. Bad input names its field and saves nothing."""
    with transaction.atomic():
        if collection_id is None:
            collection = UGCCollection()
        else:
            collection = _lock_collection(collection_id)
        collection.name = (name or "").strip()
        collection.slug = (slug or "").strip()
        collection.description = (description or "").strip()
        collection.active = bool(active)
        collection.auto_fill_brand = (auto_fill_brand or "").strip()
        collection.auto_fill_limit = auto_fill_limit
        full_clean(collection)
        collection.save()
    return collection


def _not_published(item_ids, field: str) -> None:
    """ApplicationError naming each id that is not a published item (unknown ones too)."""
    found = dict(UGCItem.objects.filter(pk__in=item_ids).values_list("pk", "status"))
    problems = []
    for item_id in item_ids:
        status = found.get(item_id)
        if status is None:
            problems.append(f"Item #{item_id} does not exist.")
        elif status != UGCItem.Status.PUBLISHED:
            problems.append(f"Item #{item_id} is {status}; only published items go in.")
    if problems:
        raise ApplicationError(" ".join(problems), code="not_published", fields={field: problems})


def ugc_collection_set_items(
    *, collection_id: int, item_ids: list[int], actor=None
) -> list[UGCCollectionEntry]:
    """Make the collection's items exactly `item_ids`, in that order.

    Items already in it stay whatever their status now (an archived one just does not show);
    items added must be published. An id twice, or an unknown or unpublished new item, is
    refused naming it, and nothing changes.
    """
    item_ids = [int(item_id) for item_id in item_ids]
    seen, twice = set(), []
    for item_id in item_ids:
        if item_id in seen:
            twice.append(f"Item #{item_id} is in the list twice.")
        seen.add(item_id)
    if twice:
        raise ApplicationError(" ".join(twice), code="duplicate_item", fields={"items": twice})
    with transaction.atomic():
        collection = _lock_collection(collection_id)
        entries = {e.item_id: e for e in UGCCollectionEntry.objects.filter(collection=collection)}
        _not_published([i for i in item_ids if i not in entries], "items")
        UGCCollectionEntry.objects.filter(collection=collection).exclude(
            item_id__in=item_ids
        ).delete()
        kept, new = [], []
        for position, item_id in enumerate(item_ids):
            entry = entries.get(item_id)
            if entry is None:
                new.append(
                    UGCCollectionEntry(
                        collection=collection, item_id=item_id, position=position, added_by=actor
                    )
                )
            elif entry.position != position:
                entry.position = position
                kept.append(entry)
        UGCCollectionEntry.objects.bulk_update(kept, ["position"])
        UGCCollectionEntry.objects.bulk_create(new)
        UGCCollection.objects.filter(pk=collection.pk).update(updated_at=timezone.now())
    logger.info(
        "ugc.collection.items_set",
        extra={"collection_id": collection_id, "items": len(item_ids), "added": len(new)},
    )
    return list(UGCCollectionEntry.objects.filter(collection_id=collection_id))


def ugc_collection_add_item(*, collection_id: int, item_id: int, actor=None) -> UGCCollectionEntry:
    """Put a published item at the end of a collection; one already in it stays where it is."""
    with transaction.atomic():
        collection = _lock_collection(collection_id)
        entry = UGCCollectionEntry.objects.filter(collection=collection, item_id=item_id).first()
        if entry is not None:
            return entry
        _not_published([item_id], "item")
        last = UGCCollectionEntry.objects.filter(collection=collection).aggregate(
            last=Max("position")
        )["last"]
        return UGCCollectionEntry.objects.create(
            collection=collection,
            item_id=item_id,
            position=0 if last is None else last + 1,
            added_by=actor,
        )
