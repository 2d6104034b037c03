"""On-site reviews: a verified buyer's review and its media, and the review's moderation.

`review_submit` is called by the review page after it checked the signed link and the order
line behind it (`ugc/review_views.py`). It checks every field and every file before it
writes anything; one review per order line is held by the database; the caller's network is
rate-limited (`UGC_REVIEW_RATE_PER_HOUR`); the blocklist flags the review or rejects it at
once. Each photo (at most 6) and video (at most 1) goes through `ugc_ingest` as an item of
source `review`, with the reviewer's consent as its rights (the site channel) and mapped to
the product, so it is moderated like any other item. The review's own moves are
pending -> published | rejected and published -> rejected, audited in `ReviewEvent`.
"""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError, full_clean
from creators import throttle
from ugc import ffmpeg
from ugc.models import BlocklistEntry, Review, ReviewEvent, ReviewMedia, UGCItem, UGCRights
from ugc.services.ingest import blocklist_hits, sniff, ugc_ingest
from ugc.services.mapping import ugc_map_product

logger = logging.getLogger(__name__)

Status = Review.Status
MAX_PHOTOS = 6
MAX_VIDEOS = 1
ALLOWED = {
    (Status.PENDING, "publish"): Status.PUBLISHED,
    (Status.PENDING, "reject"): Status.REJECTED,
    (Status.PUBLISHED, "reject"): Status.REJECTED,
}
CONSENT_TEXT = (
    "I agree that {brand} may show this review, with my first name and my photos and video, "
    "on its website."
)


def consent_text() -> str:
    return CONSENT_TEXT.format(brand=settings.UGC_RIGHTS_BRAND_NAME)


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, code="invalid", fields={field: [message]})


def _check_media(media_files: list) -> None:
    """At most 6 photos and one video, by their bytes (each is checked in full at ingest)."""
    photos = videos = 0
    for media_file in media_files:
        media_file.seek(0)
        header = media_file.read(ffmpeg.SNIFF_BYTES)
        media_file.seek(0)
        sniffed = sniff(header)
        if sniffed is None:
            raise _invalid(
                "media", f"{getattr(media_file, 'name', 'A file')} is not a photo or a video."
            )
        if sniffed.media_type == UGCItem.MediaType.VIDEO:
            videos += 1
        else:
            photos += 1
    if photos > MAX_PHOTOS:
        raise _invalid("media", f"Add at most {MAX_PHOTOS} photos ({photos} given).")
    if videos > MAX_VIDEOS:
        raise _invalid("media", f"Add at most {MAX_VIDEOS} video ({videos} given).")


def review_submit(
    *,
    product_id: int,
    order_line_id: int,
    stars,
    title: str,
    body: str,
    reviewer_name: str,
    consent: bool,
    media_files: list | None = None,
    network_key: str = "",
) -> Review:
    """A verified buyer's review of the product of one order line."""
    media_files = list(media_files or [])
    if not consent:
        raise _invalid("consent", "Tick the box to let us show your review.")
    try:
        stars = int(stars)
    except (TypeError, ValueError):
        stars = 0
    if not 1 <= stars <= 5:
        raise _invalid("stars", "Choose from 1 to 5 stars.")
    if Review.objects.filter(order_line_id=order_line_id).exists():
        raise ApplicationError("You have reviewed this purchase already.", code="already_reviewed")
    _check_media(media_files)
    if network_key and not throttle.allow(
        "ugc-review", network_key, limit=settings.UGC_REVIEW_RATE_PER_HOUR, window=3600
    ):
        raise ApplicationError(
            "Too many reviews from your network in the last hour; try again later.",
            code="rate_limited",
        )
    review = Review(
        product_id=product_id,
        order_line_id=order_line_id,
        stars=stars,
        title=(title or "").strip(),
        body=(body or "").strip(),
        reviewer_name=(reviewer_name or "").strip(),
        consent_text=consent_text(),
    )
    hits = blocklist_hits(caption=f"{review.title}\n{review.body}", author_handle="")
    review.flags = [{"code": "blocklist", "detail": h.detail, "action": h.action} for h in hits]
    full_clean(review, validate_constraints=False)
    added: list[UGCItem] = []
    try:
        with transaction.atomic():
            review.save()
            _audit(review, "submit", actor=None, from_status="", reason="verified buyer")
            for position, media_file in enumerate(media_files):
                added.append(_add_media(review, media_file, position))
            if any(h.action == BlocklistEntry.Action.REJECT for h in hits):
                _move(review, "reject", actor=None, reason="; ".join(h.detail for h in hits))
    except IntegrityError:
        _forget_files(added)
        raise ApplicationError(
            "You have reviewed this purchase already.", code="already_reviewed"
        ) from None
    except Exception:
        _forget_files(added)  # a later file was refused: the earlier ones' originals go too
        raise
    logger.info("ugc.review_submitted", extra={"review_id": review.pk, "stars": stars})
    return review


def _forget_files(items: list[UGCItem]) -> None:
    for item in items:
        item.original.delete(save=False)


def _add_media(review: Review, media_file, position: int) -> UGCItem:
    now = timezone.now()
    item = ugc_ingest(
        source=UGCItem.Source.REVIEW,
        media_file=media_file,
        caption=review.title,
        author_handle="",
        external_id=f"review-{review.pk}-{position}",
        rights={
            "consent_method": UGCRights.ConsentMethod.SIGNED_RELEASE,
            "allowed_channels": ["site"],
            "starts_at": now,
            "proof_text": f"Review #{review.pk} by {review.reviewer_name}, verified order line "
            f"#{review.order_line_id}, {now:%Y-%m-%d %H:%M} UTC: “{review.consent_text}”",
        },
    )
    ugc_map_product(item_id=item.pk, product=review.product)
    ReviewMedia.objects.create(review=review, item=item, position=position)
    return item


def _audit(review, action, *, actor, from_status, reason=""):
    ReviewEvent.objects.create(
        review=review, actor=actor, action=action, from_status=from_status,
        to_status=review.status, reason=reason,
    )  # fmt: skip


def _move(review: Review, action: str, *, actor, reason: str = "") -> Review:
    to_status = ALLOWED.get((review.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action} review #{review.pk}: it is {review.status}.",
            code="invalid_transition",
        )
    from_status = review.status
    review.status = to_status
    if to_status == Status.PUBLISHED:
        review.published_at = timezone.now()
    review.save(update_fields=["status", "published_at"])
    _audit(review, action, actor=actor, from_status=from_status, reason=reason)
    return review


def _lock(review_id: int) -> Review:
    try:
        return Review.objects.select_for_update().get(pk=review_id)
    except Review.DoesNotExist:
        raise ApplicationError(f"Review #{review_id} does not exist.", code="not_found") from None


def review_publish(*, review_id: int, actor) -> Review:
    with transaction.atomic():
        return _move(_lock(review_id), "publish", actor=actor)


def review_reject(*, review_id: int, actor, reason: str) -> Review:
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", "Say why the review is rejected.")
    with transaction.atomic():
        return _move(_lock(review_id), "reject", actor=actor, reason=reason)
