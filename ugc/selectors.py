"""Reads of UGC: the publishable feed and the rights state the console filters on."""

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
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


def _encode_cursor(*parts) -> str:
    """An opaque cursor of a few parts (no padding: it goes in URLs as it is)."""
    raw = "|".join(str(part) for part in parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, parse):
    """`parse(*parts)` of a cursor's parts, or ApplicationError naming the `cursor` parameter
    when it is not one (parse raises ValueError or TypeError to refuse)."""
    message = "Invalid cursor: pass the next_cursor of a previous page unchanged."
    try:
        if len(cursor) > 100:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return parse(*raw.split("|"))
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
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


TIKTOK_HOSTS = ("www.tiktok.com", "m.tiktok.com", "vm.tiktok.com")


def watch_url(item: UGCItem) -> str:
    """Where a pulled TikTok video plays: its share URL on TikTok, or "".

    The feed shows the video's cover (our own re-encoded copy) and links to TikTok rather
    than embedding TikTok's player: no third-party frame, script or cookie on the shop's
    pages and no change to their Content-Security-Policy. Only a https URL on TikTok's own
    hosts is linked (the platform's data is outside input)."""
    if item.source != UGCItem.Source.TIKTOK:
        return ""
    try:
        post = item.social_post
    except ObjectDoesNotExist:
        return ""
    parts = urlsplit(post.permalink or "")
    if parts.scheme == "https" and parts.hostname in TIKTOK_HOSTS:
        return post.permalink
    return ""


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
                "watch_url": watch_url(item),
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
    items = list(
        queryset.select_related("social_post").prefetch_related(*_feed_prefetches())[: size + 1]
    )
    more = len(items) > size
    items = items[:size]

    next_cursor = encode_feed_cursor(items[-1].published_at, items[-1].pk) if more else None
    return FeedPage(items=_feed_entries(items, request), next_cursor=next_cursor)


# Collections (`ugc.collection_models`): the chosen items in their order, then the auto-fill
# rule's latest items, each shown exactly as the feed shows it and only while the feed may
# show it. Pages are keysets, like the feed's: the chosen entries after the last one shown
# (by position), then the rule's items older than the last one shown. Seven queries whatever
# the size of the collection (the collection, one page of its shown entries, the items and
# the feed's four prefetches), one more where the rule fills the page.


def active_collection(slug: str):
    """The active collection with this slug, or None (inactive ones are not shown)."""
    from ugc.collection_models import UGCCollection

    return UGCCollection.objects.filter(slug=slug, active=True).first()


def _digits(text: str) -> int:
    if not text.isdigit():
        raise ValueError("not a number")
    return int(text)


def _collection_position(kind: str, *rest: str) -> tuple:
    """A collection cursor's parts: ("chosen", item id, position, entry id), after the last
    chosen entry shown; or ("auto", rule items shown, published_at, item id)."""
    if kind == "c":
        item_id, position, entry_id = rest
        return ("chosen", _digits(item_id), _digits(position), _digits(entry_id))
    if kind == "a":
        shown, stamp, item_id = rest
        published_at = datetime.fromisoformat(stamp)
        if published_at.tzinfo is None:
            raise ValueError("naive time")
        return ("auto", _digits(shown), published_at, _digits(item_id))
    raise ValueError("unknown kind")


def decode_collection_cursor(cursor: str) -> tuple:
    """Where a collection page ended (see `_collection_position`), or ApplicationError."""
    return _decode_cursor(cursor, _collection_position)


def _chosen_after(collection, shown, cursor) -> models.QuerySet:
    """The collection's shown entries, in order, after the cursor's place (position, then
    entry id). Should a moderator reorder the collection while a shopper scrolls, the next page
    still starts at the place the last one ended: what moved into the part already seen is not
    shown again, what moved out of it may be shown twice; nothing after that place is lost."""
    from ugc.collection_models import UGCCollectionEntry

    entries = UGCCollectionEntry.objects.filter(
        Exists(shown.filter(pk=OuterRef("item_id"))), collection=collection
    ).order_by("position", "pk")
    if cursor is None:
        return entries
    _, _item_id, position, entry_id = cursor
    return entries.filter(Q(position__gt=position) | Q(position=position, pk__gt=entry_id))


def _auto_fill(collection, shown):
    """The rule's items, newest first: published items mapped to an active product of the
    brand, not chosen in the collection already."""
    from ugc.collection_models import UGCCollectionEntry

    of_brand = UGCProductMap.objects.filter(
        item=OuterRef("pk"), product__active=True, product__brand__iexact=collection.auto_fill_brand
    )
    in_collection = UGCCollectionEntry.objects.filter(collection=collection, item=OuterRef("pk"))
    return shown.filter(Exists(of_brand)).exclude(Exists(in_collection))


def _collection_rows(collection, *, size: int, cursor, now) -> list[tuple[int, tuple]]:
    """Up to `size` (item id, its cursor parts) of the collection after `cursor`."""
    shown = feed_items(now=now)
    rows = []
    auto_shown, after = 0, None
    if cursor is None or cursor[0] == "chosen":
        chosen = _chosen_after(collection, shown, cursor)
        for item_id, position, entry_id in chosen.values_list("item_id", "position", "pk")[:size]:
            rows.append((item_id, ("c", item_id, position, entry_id)))
    else:
        _, auto_shown, *after = cursor
    room = min(size - len(rows), collection.auto_fill_limit - auto_shown)
    if collection.auto_fill_brand and room > 0:
        auto = _auto_fill(collection, shown)
        if after:
            published_at, pk = after
            auto = auto.filter(
                Q(published_at__lt=published_at) | Q(published_at=published_at, pk__lt=pk)
            )
        for item_id, published_at in auto.values_list("pk", "published_at")[:room]:
            auto_shown += 1
            stamp = published_at.astimezone(UTC).isoformat()
            rows.append((item_id, ("a", auto_shown, stamp, item_id)))
    return rows


def collection_page(
    *,
    collection,
    cursor: str | None = None,
    limit: int | None = None,
    request=None,
    now: datetime | None = None,
) -> FeedPage:
    """One page of a collection, in the collection's order, shaped as `feed_page`'s.

    The next page starts after the last item shown: after where that chosen item is now
    (moved by a moderator meanwhile, it is not shown twice and nothing is skipped for it),
    or, among the rule's items, after the last one's publishing time.
    """
    size = feed_page_size(limit)
    after = decode_collection_cursor(cursor) if cursor else None
    rows = _collection_rows(collection, size=size + 1, cursor=after, now=now)
    more = len(rows) > size
    rows = rows[:size]
    found = {}
    if rows:
        queryset = feed_items(now=now).filter(pk__in=[item_id for item_id, _ in rows])
        found = {
            item.pk: item
            for item in queryset.select_related("social_post").prefetch_related(*_feed_prefetches())
        }
    items = [found[item_id] for item_id, _ in rows if item_id in found]
    next_cursor = _encode_cursor(*rows[-1][1]) if more else None
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
