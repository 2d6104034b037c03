"""Reads of UGC: the publishable feed and the rights state the console filters on."""

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import models
from django.db.models import Case, Exists, OuterRef, Prefetch, Q, Value, When
from django.utils import timezone

from core.errors import ApplicationError
from ugc.models import CHANNELS, UGCItem, UGCItemLink, UGCMetricDaily, UGCProductMap, UGCRights

logger = logging.getLogger(__name__)


class RightsState(models.TextChoices):
    NONE = "none", "No rights"
    VALID = "valid", "Valid for the site"
    SCHEDULED = "scheduled", "Not started yet"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
    NO_SITE = "no_site", "Site channel not allowed"


def _channel_q(channel: str, prefix: str) -> Q:
    # A JSON list of known channel names, matched on its text so that the same query runs on
    # PostgreSQL and on the embedded SQLite (which has no JSON containment).
    if channel not in CHANNELS:
        raise ValueError(f"Unknown channel {channel!r}")
    return Q(**{f"{prefix}allowed_channels__icontains": f'"{channel}"'})


def _started_q(now: datetime, prefix: str) -> Q:
    return Q(**{f"{prefix}starts_at__isnull": True}) | Q(**{f"{prefix}starts_at__lte": now})


def _not_expired_q(now: datetime, prefix: str) -> Q:
    return Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gt": now})


def rights_valid_q(*, now: datetime, channel: str = "site", prefix: str = "") -> Q:
    """Rights that are granted, not revoked, started, not expired and allow `channel`."""
    return (
        Q(**{f"{prefix}revoked_at__isnull": True})
        & _started_q(now, prefix)
        & _not_expired_q(now, prefix)
        & _channel_q(channel, prefix)
    )


def valid_rights_exist(*, now: datetime, channel: str = "site") -> Exists:
    return Exists(
        UGCRights.objects.filter(rights_valid_q(now=now, channel=channel), item=OuterRef("pk"))
    )


def publishable_items(*, now: datetime | None = None, channel: str = "site"):
    """Published items that may be shown right now.

    Rights are checked here as well as when publishing, so an item whose rights expired or
    were revoked disappears at once, before the daily job archives it.
    """
    now = now or timezone.now()
    return (
        UGCItem.objects.filter(
            valid_rights_exist(now=now, channel=channel),
            Exists(UGCProductMap.objects.filter(item=OuterRef("pk"))),
            status=UGCItem.Status.PUBLISHED,
            media_status=UGCItem.MediaStatus.READY,
        )
        .select_related("creator")
        .order_by("-published_at", "-pk")
    )


def items_awaiting_media(*, older_than: timedelta, limit: int = 1000) -> list[int]:
    """Ids of items ingested over `older_than` ago whose media job has not run."""
    return list(
        UGCItem.objects.filter(
            media_status=UGCItem.MediaStatus.PENDING, created_at__lt=timezone.now() - older_than
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def items_missing_card_links() -> list[int]:
    """Ids of published items mapped to a product they have no feed card link for."""
    missing = UGCProductMap.objects.filter(item=OuterRef("pk")).exclude(
        Exists(UGCItemLink.objects.filter(item=OuterRef("item"), product=OuterRef("product")))
    )
    return list(
        UGCItem.objects.filter(Exists(missing), status=UGCItem.Status.PUBLISHED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def items_with_rights_state(queryset=None, *, now: datetime | None = None):
    """Items annotated with `rights_state` (a RightsState value) for the console's filter."""
    now = now or timezone.now()
    queryset = UGCItem.objects.all() if queryset is None else queryset
    prefix = "rights__"
    return queryset.annotate(
        rights_state=Case(
            When(rights__isnull=True, then=Value(RightsState.NONE.value)),
            When(rights__revoked_at__isnull=False, then=Value(RightsState.REVOKED.value)),
            When(~_not_expired_q(now, prefix), then=Value(RightsState.EXPIRED.value)),
            When(~_started_q(now, prefix), then=Value(RightsState.SCHEDULED.value)),
            When(~_channel_q("site", prefix), then=Value(RightsState.NO_SITE.value)),
            default=Value(RightsState.VALID.value),
            output_field=models.CharField(),
        )
    )


# The shoppable feed (/shop/feed, /api/ugc/feed) and the product page gallery.
#
# One selector serves the page and the API: a page of publishable items, newest first, with
# a keyset cursor, and for each item its media URLs and a card per mapped (active) product
# with title, price, image and the short link that credits the click to the item and its
# creator. Five queries whatever the size of the feed: items, product maps with their
# products, variants, images, card links. It never writes.


@dataclass
class FeedPage:
    items: list[dict]
    next_cursor: str | None


def _encode_cursor(first, second) -> str:
    """An opaque cursor of two parts (no padding: it goes in URLs as it is)."""
    return base64.urlsafe_b64encode(f"{first}|{second}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, parse):
    """`parse(first, second)` of a cursor's two parts, or ApplicationError naming the
    `cursor` parameter when it is not one (parse raises ValueError to refuse)."""
    message = "Invalid cursor: pass the next_cursor of a previous page unchanged."
    try:
        if len(cursor) > 100:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        first, second = raw.split("|")
        return parse(first, second)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApplicationError(
            message, code="invalid_cursor", fields={"cursor": [message]}
        ) from None


def encode_feed_cursor(published_at: datetime, pk: int) -> str:
    """An opaque cursor: where the last item of a page sits in the feed's order."""
    return _encode_cursor(published_at.astimezone(UTC).isoformat(), pk)


def _feed_position(stamp: str, pk_text: str) -> tuple[datetime, int]:
    published_at = datetime.fromisoformat(stamp)
    pk = int(pk_text)
    if published_at.tzinfo is None or pk < 1 or not pk_text.isdigit():
        raise ValueError("not a cursor")
    return published_at, pk


def decode_feed_cursor(cursor: str) -> tuple[datetime, int]:
    """(published_at, pk) from a cursor, or ApplicationError naming the `cursor` parameter."""
    return _decode_cursor(cursor, _feed_position)


def feed_page_size(limit: int | None) -> int:
    if limit is None:
        return settings.UGC_FEED_PAGE_SIZE
    return max(1, min(int(limit), settings.UGC_FEED_MAX_PAGE_SIZE))


def feed_items(*, now: datetime | None = None):
    """Publishable items that can carry a product card (one active product at least)."""
    return publishable_items(now=now).filter(
        Exists(UGCProductMap.objects.filter(item=OuterRef("pk"), product__active=True)),
        published_at__isnull=False,
    )


def _feed_prefetches():
    from catalog.models import ProductImage, Variant

    return [
        Prefetch(
            "product_maps",
            queryset=UGCProductMap.objects.filter(product__active=True)
            .select_related("product")
            .order_by("-pinned", "position", "pk"),
        ),
        Prefetch(
            "product_maps__product__variants",
            queryset=Variant.objects.filter(active=True).order_by("position", "pk"),
        ),
        Prefetch(
            "product_maps__product__images",
            queryset=ProductImage.objects.order_by("position", "pk"),
        ),
        Prefetch("feed_links", queryset=UGCItemLink.objects.select_related("short_link")),
    ]


def _media_url(name: str | None) -> str:
    return default_storage.url(name) if name else ""


def item_media(item: UGCItem) -> dict:
    """An item's public media from its manifest: storage URLs (relative unless on a CDN)."""
    manifest = item.media_manifest or {}
    display = manifest.get("display") or {}
    thumbnail = manifest.get("thumbnail") or {}
    is_video = manifest.get("kind", item.media_type) == UGCItem.MediaType.VIDEO
    renditions = [
        {
            "label": r.get("label", ""),
            "url": _media_url(r.get("name")),
            "content_type": r.get("content_type", "video/mp4"),
            "width": r.get("width"),
            "height": r.get("height"),
        }
        for r in (manifest.get("renditions") or [])
        if r.get("name")
    ]
    renditions.sort(key=lambda r: r["height"] or 0)  # smallest first: mobile first
    hls_master = ((manifest.get("hls") or {}).get("master") or {}).get("name")
    preview = manifest.get("preview") or {}
    return {
        "kind": "video" if is_video else "image",
        "width": manifest.get("width"),
        "height": manifest.get("height"),
        "aspect": manifest.get("aspect"),
        "display_url": _media_url(display.get("name")),
        "thumbnail_url": _media_url(thumbnail.get("name")),
        "renditions": renditions if is_video else [],
        "duration_s": manifest.get("duration_s") if is_video else None,
        # Videos processed before HLS existed have neither; players fall back to the MP4s.
        "hls_url": _media_url(hls_master) if is_video else "",
        "preview_url": _media_url(preview.get("name")) if is_video else "",
    }


def _tag(product_map) -> dict | None:
    """Where a product is in the frame (fractions) and, in a video, when; None untagged."""
    if product_map.tag_x is None or product_map.tag_y is None:
        return None

    def seconds(value):
        return float(value) if value is not None else None

    x, y = float(product_map.tag_x), float(product_map.tag_y)
    return {
        "x": x,
        "y": y,
        "left": f"{x * 100:.2f}%",  # for the template's style attribute
        "top": f"{y * 100:.2f}%",
        "start_s": seconds(product_map.tag_start_s),
        "end_s": seconds(product_map.tag_end_s),
    }


def _product_entry(product, request, short_link, tag=None) -> dict:
    from catalog.seo import product_card
    from core.absolute_urls import absolute_url

    card = product_card(product, request)
    images = list(product.images.all())
    image = images[0] if images else None
    offer = card["offer"] or {}
    return {
        "id": product.pk,
        "title": card["title"],
        "brand": card["brand"],
        "url": card["url"],
        "price": offer.get("display", ""),
        "amount": offer.get("amount"),
        "currency": offer.get("currency"),
        "in_stock": offer.get("in_stock", False),
        "image_url": (image.thumbnail or image.image).url if image else "",
        "image_alt": (image.alt_text or product.title) if image else product.title,
        "link_code": short_link.code,
        "link_path": short_link.get_absolute_url(),
        "link_url": absolute_url(short_link.get_absolute_url(), request),
        "tag": tag,
    }


def _feed_entries(items: list[UGCItem], request) -> list[dict]:
    """The feed's dict for each item (media, and a card per active product with its short
    link), from items fetched with `_feed_prefetches()`: no query of its own."""
    links = {
        (item.pk, item_link.product_id): item_link.short_link
        for item in items
        for item_link in item.feed_links.all()
    }
    entries = []
    for item in items:
        products, seen = [], set()
        tags = {}  # a product mapped in several placements: its first tagged mapping
        for product_map in item.product_maps.all():
            if tags.get(product_map.product_id) is None:
                tags[product_map.product_id] = _tag(product_map)
        for product_map in item.product_maps.all():
            product = product_map.product
            if product.pk in seen:
                continue
            seen.add(product.pk)
            short_link = links.get((item.pk, product.pk))
            if short_link is None:  # publishing and mapping make it: a card without is a bug
                logger.warning(
                    "ugc.feed.card_link_missing",
                    extra={"item_id": item.pk, "product_id": product.pk},
                )
                continue
            products.append(_product_entry(product, request, short_link, tags.get(product.pk)))
        entries.append(
            {
                "id": item.pk,
                "caption": item.caption,
                "author_handle": item.author_handle,
                "creator_handle": item.creator.handle if item.creator_id else "",
                "published_at": item.published_at,
                "media": item_media(item),
                "products": products,
            }
        )
    return entries


def feed_page(
    *,
    cursor: str | None = None,
    limit: int | None = None,
    request=None,
    now: datetime | None = None,
) -> FeedPage:
    """One page of the shoppable feed, newest published first (see the note above).

    A new item published between two requests sorts before the cursor, so following
    `next_cursor` neither repeats nor skips an item. Reads only: every card's short link was
    made when the item was published or mapped (`ugc.services.feed`; items published before
    that were backfilled by a migration). A pair without one shows no card, and is logged.
    """
    size = feed_page_size(limit)
    queryset = feed_items(now=now)
    if cursor:
        published_at, pk = decode_feed_cursor(cursor)
        queryset = queryset.filter(
            Q(published_at__lt=published_at) | Q(published_at=published_at, pk__lt=pk)
        )
    items = list(queryset.prefetch_related(*_feed_prefetches())[: size + 1])
    more = len(items) > size
    items = items[:size]

    next_cursor = encode_feed_cursor(items[-1].published_at, items[-1].pk) if more else None
    return FeedPage(items=_feed_entries(items, request), next_cursor=next_cursor)


# Collections (`ugc.collection_models`): the chosen items in their order, then the auto-fill
# rule's latest items, each shown exactly as the feed shows it and only while the feed may
# show it. Seven queries whatever the size (the collection, its shown entries, the items and
# the feed's four prefetches), eight with an auto-fill rule.


def active_collection(slug: str):
    """The active collection with this slug, or None (inactive ones are not shown)."""
    from ugc.collection_models import UGCCollection

    return UGCCollection.objects.filter(slug=slug, active=True).first()


def collection_item_ids(collection, *, now: datetime | None = None) -> list[int]:
    """Ids of the items a collection shows now, in order: its chosen items (position), then
    its auto-fill rule's latest published items of the brand not chosen already."""
    from ugc.collection_models import UGCCollectionEntry

    shown = feed_items(now=now)
    chosen = list(
        UGCCollectionEntry.objects.filter(
            Exists(shown.filter(pk=OuterRef("item_id"))), collection=collection
        )
        .order_by("position", "pk")
        .values_list("item_id", flat=True)
    )
    if not collection.auto_fill_brand:
        return chosen
    of_brand = UGCProductMap.objects.filter(
        item=OuterRef("pk"), product__active=True, product__brand__iexact=collection.auto_fill_brand
    )
    in_collection = UGCCollectionEntry.objects.filter(collection=collection, item=OuterRef("pk"))
    auto = shown.filter(Exists(of_brand)).exclude(Exists(in_collection))
    return chosen + list(auto.values_list("pk", flat=True)[: collection.auto_fill_limit])


def encode_collection_cursor(offset: int, last_id: int) -> str:
    return _encode_cursor(offset, last_id)


def _collection_position(offset_text: str, last_text: str) -> tuple[int, int]:
    if not (offset_text.isdigit() and last_text.isdigit()):
        raise ValueError("not a cursor")
    offset, last_id = int(offset_text), int(last_text)
    if offset < 1 or last_id < 1:
        raise ValueError("not a cursor")
    return offset, last_id


def decode_collection_cursor(cursor: str) -> tuple[int, int]:
    """(offset, last item id) from a collection page's cursor, or ApplicationError."""
    return _decode_cursor(cursor, _collection_position)


def collection_page(
    *,
    collection,
    cursor: str | None = None,
    limit: int | None = None,
    request=None,
    now: datetime | None = None,
) -> FeedPage:
    """One page of a collection, in the collection's order, shaped as `feed_page`'s.

    The cursor holds where the last page ended and its last item: the next page starts after
    that item wherever it now is (the moderator may have moved it), or at the same offset
    when it has left the collection.
    """
    size = feed_page_size(limit)
    ids = collection_item_ids(collection, now=now)
    start = 0
    if cursor:
        offset, last_id = decode_collection_cursor(cursor)
        start = ids.index(last_id) + 1 if last_id in ids else offset
    page_ids = ids[start : start + size]
    more = start + size < len(ids)
    found = {}
    if page_ids:
        queryset = feed_items(now=now).filter(pk__in=page_ids)
        found = {item.pk: item for item in queryset.prefetch_related(*_feed_prefetches())}
    items = [found[pk] for pk in page_ids if pk in found]
    next_cursor = encode_collection_cursor(start + size, page_ids[-1]) if more else None
    return FeedPage(items=_feed_entries(items, request), next_cursor=next_cursor)


def _gallery_q(product) -> Q:
    return Q(
        Exists(
            UGCProductMap.objects.filter(
                item=OuterRef("pk"),
                product=product,
                placement=UGCProductMap.Placement.PRODUCT_PAGE,
            )
        )
    )


def product_gallery_exists(*, now: datetime | None = None) -> Exists:
    """For annotating products: True when `product_gallery` would show something."""
    return Exists(feed_items(now=now).filter(_gallery_q(OuterRef(OuterRef("pk")))))


def product_gallery(
    *, product, limit: int | None = None, now: datetime | None = None
) -> list[dict]:
    """A product's publishable UGC for its page (items mapped to it for the product page)."""
    limit = limit or settings.UGC_GALLERY_SIZE
    queryset = feed_items(now=now).filter(_gallery_q(product))
    return [
        {
            "id": item.pk,
            "caption": item.caption,
            "author_handle": item.author_handle,
            "media": item_media(item),
        }
        for item in queryset[:limit]
    ]


# The placement report: which placement sells, and each item's funnel
# (view → product click → add to cart → purchase). Counters come from the daily metrics;
# purchases from the order credits (attribution), joined by the console.


def placement_funnel(*, since) -> list[dict]:
    """Per (item, placement) since `since`: impressions, clicks, add_to_carts."""
    from django.db.models import Sum

    return list(
        UGCMetricDaily.objects.filter(day__gte=since)
        .values("item_id", "placement")
        .annotate(
            impressions=Sum("impressions"),
            clicks=Sum("clicks"),
            add_to_carts=Sum("add_to_carts"),
        )
        .order_by("item_id", "placement")
    )
