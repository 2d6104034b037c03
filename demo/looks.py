"""Demo data for issue 18: a tagged look, a tagged video and a scheduled item.

The demo videos already get their HLS ladder and preview loop from the media job
(`seed_ugc`). This adds, idempotently: two more products tagged on the Cloud Knit Hoodie
photo (demo-1: a "shop the look" of three), a time-ranged tag on the earbuds video
(demo-5), an approved item (demo-12) scheduled for the home feed tomorrow at 09:00, and a
collection, "Weekend looks" (/shop/collections/weekend-looks/): demo-6 and demo-1 chosen,
then the latest items of the brand Lumen Lab.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.utils import timezone

from catalog.models import Product
from demo.ugc import DEMO_SOURCE, DemoItem, demo_moderator, seed_item
from ugc import services
from ugc.models import UGCCollection, UGCItem, UGCProductMap, UGCSchedule

# (item external id, product title, x, y, start_s, end_s)
LOOK_TAGS = [
    ("demo-1", "Cloud Knit Hoodie", "0.50", "0.45", None, None),
    ("demo-1", "Everyday Tote", "0.22", "0.70", None, None),
    ("demo-1", "Silk Scrunchie Trio", "0.62", "0.16", None, None),
    ("demo-5", "Wireless Earbuds Mini", "0.50", "0.40", "0", "2.5"),
]
SCHEDULED = DemoItem(
    "demo-12",
    "Recycled Yoga Mat",
    None,
    "flow.with.ana",
    "Sunrise flow on the new mat, before the city wakes up",
    publish=False,
)


@dataclass
class LooksResult:
    tags: int
    scheduled: UGCSchedule | None


def _item(external_id: str) -> UGCItem | None:
    return UGCItem.objects.filter(source=DEMO_SOURCE, external_id=external_id).first()


def seed_looks() -> LooksResult:
    moderator = demo_moderator()
    tags = 0
    for external_id, title, x, y, start_s, end_s in LOOK_TAGS:
        item = _item(external_id)
        product = Product.objects.filter(title=title).order_by("pk").first()
        if item is None or product is None:
            continue
        if not UGCProductMap.objects.filter(item=item, product=product).exists():
            services.ugc_map_product(
                item_id=item.pk, product=product, placement="home_feed", actor=moderator
            )
        tagged = UGCProductMap.objects.filter(item=item, product=product, tag_x__isnull=False)
        if tagged.exists():  # seeded before: running the seed again changes nothing
            tags += 1
            continue
        if item.media_type != UGCItem.MediaType.VIDEO:
            start_s = end_s = None  # a photo's tags have no time range
        services.ugc_tag_product(
            item_id=item.pk, product_id=product.pk, x=x, y=y, start_s=start_s, end_s=end_s,
            actor=moderator,
        )  # fmt: skip
        tags += 1
    return LooksResult(tags=tags, scheduled=_scheduled_item(moderator))


def _scheduled_item(moderator) -> UGCSchedule | None:
    seed_item(SCHEDULED, index=12, moderator=moderator, videos=False)
    item = _item(SCHEDULED.external_id)
    if item is None:
        return None
    pending = item.schedules.filter(status=UGCSchedule.Status.SCHEDULED).first()
    if pending is not None:
        return pending
    if item.status == UGCItem.Status.QUEUED:
        services.ugc_claim(item_id=item.pk, moderator=moderator)
        services.ugc_approve(item_id=item.pk, moderator=moderator, note="Demo: for the calendar.")
    if not item.product_maps.filter(placement="home_feed").exists():
        services.ugc_map_product(
            item_id=item.pk, product=item.product_maps.first().product, placement="home_feed",
            actor=moderator,
        )  # fmt: skip
    item.refresh_from_db()
    if item.status != UGCItem.Status.APPROVED:
        return None  # published or archived by hand since: nothing to schedule
    tomorrow = timezone.localdate() + timedelta(days=1)
    at = timezone.make_aware(datetime.combine(tomorrow, time(9, 0)))
    return services.ugc_schedule_create(
        item_id=item.pk, placement="home_feed", publish_at=at, actor=moderator
    )


COLLECTION = {
    "name": "Weekend looks",
    "slug": "weekend-looks",
    "description": "What our customers wear when the week is done. Shop what you see.",
    "auto_fill_brand": "Lumen Lab",
    "auto_fill_limit": 6,
}
COLLECTION_ITEMS = ["demo-6", "demo-1"]


def seed_collection() -> UGCCollection:
    """The demo collection; its items only when it is new (the merchant may change them)."""
    found = UGCCollection.objects.filter(slug=COLLECTION["slug"]).first()
    if found is not None:
        return found
    made = services.ugc_collection_save(**COLLECTION)
    chosen = [_item(external_id) for external_id in COLLECTION_ITEMS]
    item_ids = [i.pk for i in chosen if i is not None and i.status == UGCItem.Status.PUBLISHED]
    services.ugc_collection_set_items(
        collection_id=made.pk, item_ids=item_ids, actor=demo_moderator()
    )
    return made
