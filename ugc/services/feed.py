"""Writes for the shoppable feed: the feed cards' short links and the daily metrics.

Card links are made when an item is published (`make_card_links`, called by `ugc_publish`)
or mapped to another product while published (`ugc_map_product`); the feed only reads them.
Feed counters buffered by `ugc.metrics` (core's event buffer) are added by `ugc_metrics_add`,
one upsert per batch.
"""

import logging
from collections import defaultdict
from datetime import date

from django.db import IntegrityError, connection, transaction

from catalog.models import Product
from core.errors import ApplicationError
from links.selectors import allowed_domains
from links.services import link_create
from ugc.models import (
    METRIC_FIELDS,
    Placement,
    UGCItem,
    UGCItemLink,
    UGCMetricDaily,
    UGCProductMap,
)
from ugc.selectors import items_missing_card_links

logger = logging.getLogger(__name__)

FEED_UTM = {"utm_source": "shoploop", "utm_medium": "ugc_feed"}


def item_link_utm(item_id: int) -> dict[str, str]:
    return {**FEED_UTM, "utm_content": f"ugc-{item_id}"}


def ugc_item_link_get_or_create(*, item: UGCItem, product, allowed=None) -> UGCItemLink:
    """The short link of `item`'s card for `product`, made on first use.

    Safe under concurrency: the (item, product) unique constraint decides, and a loser's
    short link is rolled back with its savepoint. Called when an item is published or a
    published item is mapped to a product; the feed only reads them.
    """
    existing = (
        UGCItemLink.objects.select_related("short_link")
        .filter(item_id=item.pk, product_id=product.pk)
        .first()
    )
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            short_link = link_create(
                product_id=product.pk,
                creator_id=item.creator_id,
                notes=f"Feed card of UGC item #{item.pk}",
                allowed=allowed,
                **item_link_utm(item.pk),
            )
            item_link = UGCItemLink.objects.create(
                item=item, product=product, short_link=short_link
            )
    except IntegrityError:  # a concurrent request made it first
        return UGCItemLink.objects.select_related("short_link").get(
            item_id=item.pk, product_id=product.pk
        )
    logger.info("ugc.item_link.created", extra={"item_id": item.pk, "product_id": product.pk})
    return item_link


def make_card_links(item: UGCItem) -> int:
    """The feed card's short link for each product a (locked) published item is mapped to.

    Called by `ugc_publish` and `ugc_card_links_backfill`. Returns how many links it made.
    """
    have = set(UGCItemLink.objects.filter(item_id=item.pk).values_list("product_id", flat=True))
    # Product ids only, never whole mapping rows: the data migration 0004 runs this on a
    # schema without the mapping's later columns (the shop-the-look tags).
    mapped = UGCProductMap.objects.filter(item_id=item.pk).values_list("product_id", flat=True)
    products = list(Product.objects.filter(pk__in=set(mapped) - have).order_by("pk"))
    if products:
        allowed = allowed_domains()
        for product in products:
            ugc_item_link_get_or_create(item=item, product=product, allowed=allowed)
    return len(products)


def ugc_card_links_backfill() -> int:
    """Card links for published items that lack one for a product they are mapped to.

    For items published before card links were made at publish time (the data migration
    `ugc.0004_backfill_feed_card_links` runs it), so that the feed only reads. Each item is
    locked and gets its links the way publishing makes them, in its own transaction; running
    it again makes nothing. Returns how many links were made.
    """
    made = 0
    for item_id in items_missing_card_links():
        with transaction.atomic():
            item = (
                UGCItem.objects.select_for_update()
                .filter(pk=item_id, status=UGCItem.Status.PUBLISHED)
                .first()
            )
            if item is not None:  # archived meanwhile: it needs no card
                made += make_card_links(item)
    if made:
        logger.info("ugc.card_links_backfilled", extra={"links": made})
    return made


# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------

METRICS_BATCH = 500


def ugc_metrics_add(*, counts: dict[tuple, int]) -> int:
    """Add counts to the daily metrics. Returns rows upserted.

    Keys are (item_id, day, field, placement), or (item_id, day, field) for counts without a
    placement. One INSERT ... ON CONFLICT DO UPDATE per batch of rows, adding to what is
    there, so concurrent flushes never lose a count. Counts for deleted items are dropped.
    """
    rows: dict[tuple[int, date, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(METRIC_FIELDS, 0)
    )
    for key, n in counts.items():
        item_id, day, field = key[:3]
        placement = key[3] if len(key) > 3 else ""
        if field not in METRIC_FIELDS:
            raise ApplicationError(
                f"Unknown metric {field!r}; use one of {', '.join(METRIC_FIELDS)}.",
                code="invalid_metric",
            )
        if placement and placement not in Placement.values:
            raise ApplicationError(
                f"Unknown placement {placement!r}; use one of {', '.join(Placement.values)}.",
                code="invalid_metric",
            )
        if not isinstance(n, int) or n < 0:
            raise ApplicationError(f"Metric counts are whole numbers ≥ 0, not {n!r}.",
                                   code="invalid_metric")  # fmt: skip
        if n:
            rows[(item_id, day, placement)][field] += n
    if not rows:
        return 0
    existing = set(
        UGCItem.objects.filter(pk__in={key[0] for key in rows}).values_list("pk", flat=True)
    )
    ordered = sorted((key, value) for key, value in rows.items() if key[0] in existing)
    qn = connection.ops.quote_name
    table = qn(UGCMetricDaily._meta.db_table)
    columns = ", ".join(qn(c) for c in ("item_id", "day", "placement", *METRIC_FIELDS))
    updates = ", ".join(f"{qn(f)} = {table}.{qn(f)} + EXCLUDED.{qn(f)}" for f in METRIC_FIELDS)
    row_sql = "(" + ", ".join(["%s"] * (3 + len(METRIC_FIELDS))) + ")"
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(ordered), METRICS_BATCH):
            batch = ordered[start : start + METRICS_BATCH]
            params = []
            for (item_id, day, placement), values in batch:
                params += [item_id, day, placement, *(values[f] for f in METRIC_FIELDS)]
            # Identifiers come from the model's metadata; values are parameters.
            sql = (
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_sql] * len(batch))} "  # noqa: S608
                f'ON CONFLICT ("item_id", "day", "placement") DO UPDATE SET {updates}'
            )
            cursor.execute(sql, params)
    return len(ordered)
