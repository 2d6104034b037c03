"""Collections (issue 18): curated, ordered galleries of published UGC at
`/shop/collections/<slug>/`, shown as the shoppable feed shows items, counted in the
`collection` placement.

A collection holds the items a moderator put in it, in their order (`UGCCollectionEntry`),
and, optionally, an auto-fill rule: after the chosen items, the latest published items mapped
to an active product of one brand (the catalog's own grouping: products have a brand and no
other tags), up to `auto_fill_limit`. The page shows only what the feed may show at the moment
of reading (`ugc.selectors.feed_items`): an item archived, or whose rights lapse, leaves the
page as it leaves the feed, and comes back in its place if it is shown again. Writes are in
`ugc/services/collections.py`.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from ugc.models import UGCItem

AUTO_FILL_MAX = 100


class UGCCollection(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(
        max_length=80, unique=True, help_text="The page's address: /shop/collections/<slug>/."
    )
    description = models.TextField(
        blank=True, max_length=500, help_text="Shown when the page is shared (Open Graph)."
    )
    active = models.BooleanField(
        default=True, help_text="Off: the page answers 404 (the items stay in it)."
    )
    auto_fill_brand = models.CharField(
        "auto-fill: brand",
        max_length=120,
        blank=True,
        help_text="After the chosen items, the latest published items mapped to an active "
        "product of this brand (as the catalog spells it, any case). Empty: chosen items only.",
    )
    auto_fill_limit = models.PositiveSmallIntegerField(
        "auto-fill: at most",
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(AUTO_FILL_MAX)],
        help_text=f"Items the rule adds, 1 to {AUTO_FILL_MAX}.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "UGC collection"
        constraints = [
            models.CheckConstraint(
                condition=Q(auto_fill_limit__gte=1) & Q(auto_fill_limit__lte=AUTO_FILL_MAX),
                name="ugc_collection_auto_fill_limit_range",
                violation_error_message=f"Auto-fill adds 1 to {AUTO_FILL_MAX} items.",
            )
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("ugc:collection", kwargs={"slug": self.slug})


class UGCCollectionEntry(models.Model):
    """An item a moderator put in a collection, at a position (smallest first)."""

    collection = models.ForeignKey(UGCCollection, on_delete=models.CASCADE, related_name="entries")
    item = models.ForeignKey(UGCItem, on_delete=models.CASCADE, related_name="collection_entries")
    position = models.PositiveIntegerField(default=0, help_text="Smallest first.")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["collection", "position", "pk"]
        verbose_name = "item in the collection"
        verbose_name_plural = "items in the collection"
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "item"],
                name="ugc_collectionentry_collection_item_unique",
                violation_error_message="This item is already in this collection.",
            )
        ]
        indexes = [
            models.Index(fields=["collection", "position"], name="ugc_collentry_coll_position")
        ]

    def __str__(self):
        return f"{self.item} in {self.collection}"
