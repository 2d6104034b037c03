"""On-site reviews: the signed link that lets a buyer review one order line, and the reads the
product page needs (published reviews with their published media, the average and count, and
the JSON-LD `aggregateRating` and `review` made from published reviews only).

The link carries the order line's id signed with `SECRET_KEY` (salt `ugc.review`) and expires
after `UGC_REVIEW_LINK_DAYS`; the sales side shows it on the order confirmation page and in the
post-purchase email (`review_url`). Nothing here trusts the shopper: the page checks the order
line behind the token before a review is taken.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core import signing
from django.db.models import Avg, Count, FloatField, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from core.absolute_urls import absolute_url
from ugc.models import Review, ReviewMedia, UGCItem
from ugc.selectors import item_media

SALT = "ugc.review"
MAX_ON_PAGE = 20
MAX_IN_JSON_LD = 10


def review_token(order_line_id: int) -> str:
    return signing.dumps({"line": int(order_line_id)}, salt=SALT, compress=True)


def order_line_of(token: str) -> int | None:
    """The order line a review link names, or None when forged, altered or expired."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.UGC_REVIEW_LINK_DAYS * 86400)
    except signing.BadSignature:
        return None
    line = data.get("line") if isinstance(data, dict) else None
    return line if isinstance(line, int) else None


def review_url(order_line_id: int, request=None) -> str:
    return absolute_url(reverse("ugc:review-write", args=[review_token(order_line_id)]), request)


def review_annotations() -> dict:
    """Count and average of a product's published reviews, for the product's own query (the
    page then asks for reviews only when there are some)."""
    published = Review.objects.filter(product=OuterRef("pk"), status=Review.Status.PUBLISHED)
    return {
        "review_count": Coalesce(
            Subquery(published.values("product").annotate(n=Count("pk")).values("n")[:1]), 0
        ),
        "review_average": Subquery(
            published.values("product").annotate(a=Avg("stars")).values("a")[:1],
            output_field=FloatField(),
        ),
    }


def review_summary(product) -> dict:
    """{"count": n, "average": Decimal("4.5") or None} over published reviews; reads the
    annotations of `review_annotations` when the product has them."""
    if hasattr(product, "review_count"):
        count, average = product.review_count, product.review_average
    else:
        found = Review.objects.filter(product=product, status=Review.Status.PUBLISHED).aggregate(
            count=Count("pk"), average=Avg("stars")
        )
        count, average = found["count"], found["average"]
    if average is not None:
        average = Decimal(str(average)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return {"count": count or 0, "average": average}


def published_reviews(product, *, limit: int = MAX_ON_PAGE) -> list[dict]:
    """Newest published reviews, each with its media that are published themselves."""
    shown = ReviewMedia.objects.filter(
        item__status=UGCItem.Status.PUBLISHED, item__media_status=UGCItem.MediaStatus.READY
    ).select_related("item")
    reviews = (
        Review.objects.filter(product=product, status=Review.Status.PUBLISHED)
        .prefetch_related(Prefetch("media", queryset=shown, to_attr="shown_media"))
        .order_by("-published_at", "-pk")[:limit]
    )
    return [
        {
            "id": review.pk,
            "stars": review.stars,
            "title": review.title,
            "body": review.body,
            "name": review.reviewer_name,
            "verified_buyer": review.verified_buyer,
            "published_at": review.published_at,
            "media": [item_media(media.item) for media in review.shown_media],
        }
        for review in reviews
    ]


def review_json_ld(summary: dict, reviews: list[dict]) -> dict:
    """schema.org `aggregateRating` and `review` for a Product, from published reviews only."""
    if not summary["count"]:
        return {}
    return {
        "aggregateRating": {
            "@type": "AggregateRating",
            "ratingValue": str(summary["average"]),
            "reviewCount": summary["count"],
            "bestRating": 5,
            "worstRating": 1,
        },
        "review": [
            {
                "@type": "Review",
                "name": review["title"],
                "reviewBody": review["body"],
                "datePublished": (review["published_at"] or timezone.now()).date().isoformat(),
                "author": {"@type": "Person", "name": review["name"]},
                "reviewRating": {
                    "@type": "Rating",
                    "ratingValue": review["stars"],
                    "bestRating": 5,
                    "worstRating": 1,
                },
            }
            for review in reviews[:MAX_IN_JSON_LD]
        ],
    }
