"""On-site reviews (issue 18): a verified buyer's stars, title, text and media for a product.

A review is written from a signed link that names one order line (`ugc/reviews.py`), so it
is backed by an order: one review per order line (a named unique constraint), and the
"verified buyer" mark shows exactly when `order_line_id` is set. Its photos and video are UGC
items of source `review` (`ReviewMedia`), with the reviewer's consent as their rights record,
moderated like any item; the review's own text is moderated here (pending -> published or
rejected, audited in `ReviewEvent`). Writes are in `ugc/services/reviews.py`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from catalog.models import Product
from ugc.models import UGCItem


class Review(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for moderation"
        PUBLISHED = "published", "Published"
        REJECTED = "rejected", "Rejected"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="reviews")
    # The order line the signed link named (sales sits above ugc: an id, not a foreign key).
    order_line_id = models.BigIntegerField(null=True, blank=True, editable=False)
    stars = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=120)
    body = models.TextField(max_length=5000)
    reviewer_name = models.CharField(max_length=60)
    consent_text = models.TextField(help_text="What the reviewer agreed to, word for word.")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    flags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("moderate_review", "Can moderate reviews")]
        constraints = [
            models.UniqueConstraint(
                fields=["order_line_id"],
                condition=Q(order_line_id__isnull=False),
                name="ugc_review_one_per_order_line",
                violation_error_message="This purchase has been reviewed already.",
            ),
            models.CheckConstraint(
                condition=Q(stars__gte=1) & Q(stars__lte=5),
                name="ugc_review_stars_1_5",
                violation_error_message="Stars are from 1 to 5.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["product", "-published_at"],
                condition=Q(status="published"),
                name="ugc_review_product_published",
            )
        ]

    def __str__(self):
        return f"{self.stars}★ “{self.title}” on {self.product}"

    @property
    def verified_buyer(self) -> bool:
        return self.order_line_id is not None


class ReviewMedia(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="media")
    item = models.OneToOneField(UGCItem, on_delete=models.CASCADE, related_name="review_media")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["review", "position", "pk"]
        verbose_name_plural = "review media"

    def __str__(self):
        return f"{self.item} in review #{self.review_id}"


class ReviewEvent(models.Model):
    """Append-only audit of a review's moderation."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=30)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["review", "at", "pk"]

    def __str__(self):
        return f"{self.action}: {self.from_status or '∅'} → {self.to_status}"
