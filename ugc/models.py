"""UGC: items, their rights, product mappings, the moderation audit and daily metrics.

Workflows (ingestion, moderation transitions, the rights gate) live in `ugc/services/`.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from catalog.models import Product, Variant
from creators.models import Creator

CHANNELS = ("site", "email", "ads", "social")


def default_manifest() -> dict:
    """An empty manifest: the media job fills it; its state is `UGCItem.media_status`."""
    return {}


class RejectionReason(models.Model):
    """A reason a moderator picks when rejecting an item (the merchant manages the list)."""

    label = models.CharField(max_length=120)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["label"]
        constraints = [
            models.UniqueConstraint(
                Lower("label"),
                name="ugc_rejectionreason_label_ci_unique",
                violation_error_message="This rejection reason already exists.",
            )
        ]

    def __str__(self):
        return self.label


class BlocklistEntry(models.Model):
    """A word (matched as a whole word in captions) or a handle (matched exactly)."""

    class Kind(models.TextChoices):
        WORD = "word", "Word or phrase in the caption"
        HANDLE = "handle", "Author handle"

    class Action(models.TextChoices):
        FLAG = "flag", "Flag for a moderator"
        REJECT = "reject", "Reject automatically"

    term = models.CharField(
        max_length=200, help_text="Matched ignoring case, accents composition and width."
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WORD)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.FLAG)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "term"]
        verbose_name_plural = "blocklist entries"
        constraints = [
            models.UniqueConstraint(
                Lower("term"),
                "kind",
                name="ugc_blocklistentry_term_kind_ci_unique",
                violation_error_message="This term is already on the blocklist.",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.term}"

    def clean(self):
        self.term = (self.term or "").strip()
        if self.kind == self.Kind.HANDLE:
            self.term = self.term.lstrip("@")
        if not self.term:
            raise ValidationError({"term": "Enter a word, phrase or handle."})


def private_storage():
    """Originals and proofs of consent: stored apart from public media (no URL)."""
    return storages["private"]


def original_upload_to(instance, filename):
    return f"ugc/originals/{timezone.now():%Y/%m}/{filename}"


class UGCItem(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        PORTAL = "portal", "Creator portal"
        TIKTOK = "tiktok", "TikTok"
        INSTAGRAM = "instagram", "Instagram"
        REVIEW = "review", "Review"

    class MediaType(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        REVIEWING = "reviewing", "Reviewing"
        APPROVED = "approved", "Approved"
        PUBLISHED = "published", "Published"
        REJECTED = "rejected", "Rejected"
        ARCHIVED = "archived", "Archived"

    class MediaStatus(models.TextChoices):
        PENDING = "pending", "Pending"  # the media job has not made the manifest yet
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"  # the manifest holds the error
        WITHDRAWN = "withdrawn", "Withdrawn"  # archived: the public copies were deleted

    source = models.CharField(max_length=20, choices=Source.choices)
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The post's id on its platform (unique per source)."
    )
    author_handle = models.CharField(max_length=100, blank=True)
    creator = models.ForeignKey(
        Creator, null=True, blank=True, on_delete=models.PROTECT, related_name="ugc_items"
    )
    caption = models.TextField(blank=True)
    media_type = models.CharField(max_length=10, choices=MediaType.choices)
    original = models.FileField(
        upload_to=original_upload_to, storage=private_storage, max_length=300
    )
    content_type = models.CharField(max_length=60, blank=True, editable=False)
    file_sha256 = models.CharField(max_length=64, db_index=True, editable=False)
    perceptual_hash = models.CharField(
        max_length=16, blank=True, editable=False, help_text="64-bit dHash (hex) of images."
    )
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.ForeignKey(
        RejectionReason, null=True, blank=True, on_delete=models.PROTECT, related_name="items"
    )
    rejection_note = models.TextField(blank=True)
    flags = models.JSONField(
        default=list, blank=True, help_text='Automated findings: [{"code": ..., "detail": ...}].'
    )
    media_status = models.CharField(
        max_length=10,
        choices=MediaStatus.choices,
        default=MediaStatus.PENDING,
        db_index=True,
        editable=False,
        help_text="Changed only by the services: the media job, archiving, a retry.",
    )
    media_manifest = models.JSONField(
        default=default_manifest,
        blank=True,
        help_text="What the media job made: sizes, display copy, thumbnail, renditions.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "UGC item"
        # Moderation actions (claim, approve, reject, publish, archive) need this, not just
        # "change": a catalog manager may see items but only the Moderator and Owner moderate.
        permissions = [("moderate_ugcitem", "Can moderate UGC items")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="ugc_item_source_external_id_unique",
                violation_error_message="An item with this external id exists for this source.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="ugc_item_status_created"),
            models.Index(fields=["status", "claimed_at"], name="ugc_item_status_claimed"),
            models.Index(fields=["status", "-published_at"], name="ugc_item_status_published"),
            # The feed's query: published items with ready media, newest first (keyset pages).
            models.Index(
                fields=["-published_at", "-id"],
                condition=Q(status="published", media_status="ready"),
                name="ugc_item_feed",
            ),
        ]

    def __str__(self):
        who = f" by @{self.author_handle}" if self.author_handle else ""
        return f"UGC #{self.pk} ({self.get_media_type_display()}{who})"

    @property
    def flag_codes(self) -> list[str]:
        return [flag.get("code", "") for flag in self.flags or []]


class UGCRights(models.Model):
    """The permission to use an item: how consent was given, its proof, channels and dates."""

    class ConsentMethod(models.TextChoices):
        SIGNED_RELEASE = "signed_release", "Signed release"
        COMMENT_REPLY = "comment_reply", "Comment reply"
        DM_APPROVAL = "dm_approval", "DM approval"
        CREATOR_AGREEMENT = "creator_agreement", "Creator agreement"

    item = models.OneToOneField(UGCItem, on_delete=models.CASCADE, related_name="rights")
    consent_method = models.CharField(max_length=20, choices=ConsentMethod.choices)
    proof_file = models.FileField(
        upload_to="ugc/rights/", storage=private_storage, blank=True, max_length=300
    )
    proof_url = models.URLField(max_length=2048, blank=True)
    proof_text = models.TextField(
        blank=True, help_text="The text of the reply or message that gave consent."
    )
    licence_type = models.CharField(
        max_length=100, blank=True, help_text="e.g. perpetual non-exclusive, 12-month paid usage."
    )
    allowed_channels = models.JSONField(
        default=list, blank=True, help_text="Any of: " + ", ".join(CHANNELS) + "."
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.TextField(blank=True)
    granted_at = models.DateTimeField(default=timezone.now)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = "UGC rights"
        verbose_name_plural = "UGC rights"
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(expires_at__isnull=True)
                | Q(expires_at__gt=models.F("starts_at")),
                name="ugc_rights_expires_after_starts",
                violation_error_message="Rights must expire after they start.",
            )
        ]

    def __str__(self):
        return f"Rights for {self.item}"

    def clean(self):
        errors = {}
        channels = self.allowed_channels
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            errors["allowed_channels"] = ['Allowed channels are a list, e.g. ["site", "email"].']
        else:
            unknown = sorted(set(channels) - set(CHANNELS))
            if unknown:
                errors["allowed_channels"] = [
                    f"Unknown channel(s) {', '.join(unknown)}; choose from {', '.join(CHANNELS)}."
                ]
            else:
                self.allowed_channels = [c for c in CHANNELS if c in channels]
        if self.starts_at and self.expires_at and self.expires_at <= self.starts_at:
            errors["expires_at"] = ["Rights must expire after they start."]
        if not (self.proof_file or self.proof_url or self.proof_text):
            errors["proof_text"] = ["Give proof of consent: a file, a URL or the reply's text."]
        if errors:
            raise ValidationError(errors)


class UGCProductMap(models.Model):
    """Where an item is shown: next to a product (or one variant), in one placement."""

    class Placement(models.TextChoices):
        PRODUCT_PAGE = "product_page", "Product page gallery"
        COLLECTION = "collection", "Collection"
        HOME_FEED = "home_feed", "Home feed"
        WIDGET = "widget", "Embedded widget"

    item = models.ForeignKey(UGCItem, on_delete=models.CASCADE, related_name="product_maps")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="ugc_maps")
    variant = models.ForeignKey(
        Variant, null=True, blank=True, on_delete=models.PROTECT, related_name="ugc_maps"
    )
    placement = models.CharField(
        max_length=20, choices=Placement.choices, default=Placement.PRODUCT_PAGE
    )
    confidence = models.DecimalField(
        max_digits=4, decimal_places=3, default=1, help_text="0 to 1: how sure the match is."
    )
    pinned = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    # Shop the look: where the product is in the frame (fractions of the width and height,
    # from the top left) and, in a video, when it is on screen. All optional: an item mapped
    # without them is listed in the look's sheet but shows no tag on the media.
    tag_x = models.DecimalField(
        max_digits=5, decimal_places=4, null=True, blank=True, help_text="0 (left) to 1 (right)."
    )
    tag_y = models.DecimalField(
        max_digits=5, decimal_places=4, null=True, blank=True, help_text="0 (top) to 1 (bottom)."
    )
    tag_start_s = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, help_text="Videos: seconds."
    )
    tag_end_s = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, help_text="Videos: seconds."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pinned", "position", "pk"]
        verbose_name = "UGC product mapping"
        constraints = [
            models.CheckConstraint(
                condition=(Q(tag_x__isnull=True) & Q(tag_y__isnull=True))
                | (Q(tag_x__gte=0) & Q(tag_x__lte=1) & Q(tag_y__gte=0) & Q(tag_y__lte=1)),
                name="ugc_productmap_tag_in_frame",
                violation_error_message="A tag has both x and y, each between 0 and 1.",
            ),
            models.CheckConstraint(
                condition=Q(tag_start_s__isnull=True)
                | Q(tag_end_s__isnull=True)
                | (Q(tag_start_s__gte=0) & Q(tag_end_s__gt=models.F("tag_start_s"))),
                name="ugc_productmap_tag_time_range",
                violation_error_message="A tag's time range ends after it starts (from 0 s).",
            ),
            models.UniqueConstraint(
                fields=["item", "product", "placement"],
                name="ugc_productmap_item_product_placement_unique",
                violation_error_message="This item is already mapped to this product here.",
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="ugc_productmap_confidence_0_1",
                violation_error_message="Confidence is between 0 and 1.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["product", "placement", "-pinned", "position"],
                name="ugc_productmap_product_place",
            )
        ]

    def __str__(self):
        return f"{self.item} → {self.product} ({self.get_placement_display()})"


class ModerationEvent(models.Model):
    """Append-only audit of every transition and action on an item."""

    item = models.ForeignKey(UGCItem, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty for automated actions.",
    )
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    action = models.CharField(max_length=30)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["item", "at", "pk"]
        indexes = [models.Index(fields=["item", "at"], name="ugc_event_item_at")]

    def __str__(self):
        return f"{self.item}: {self.action} {self.from_status or '∅'} → {self.to_status}"


# Where an item was seen: every impression, click, add to cart and order credit says which.
Placement = UGCProductMap.Placement


class UGCMetricDaily(models.Model):
    item = models.ForeignKey(UGCItem, on_delete=models.CASCADE, related_name="metrics")
    day = models.DateField()
    placement = models.CharField(
        max_length=20,
        choices=Placement.choices,
        blank=True,
        help_text="Where the item was shown; empty for counts made before placements.",
    )
    impressions = models.PositiveBigIntegerField(default=0)
    clicks = models.PositiveBigIntegerField(default=0)
    add_to_carts = models.PositiveBigIntegerField(default=0)
    purchases = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "item"]
        verbose_name = "UGC daily metrics"
        verbose_name_plural = "UGC daily metrics"
        constraints = [
            models.UniqueConstraint(
                fields=["item", "day", "placement"], name="ugc_metricdaily_item_day_place_unique"
            )
        ]
        indexes = [models.Index(fields=["day"], name="ugc_metricdaily_day")]

    def __str__(self):
        return f"{self.item} on {self.day}"


METRIC_FIELDS = ("impressions", "clicks", "add_to_carts", "purchases")


class UGCItemLink(models.Model):
    """The short link a feed card's button uses for one item and one product it is mapped to.

    Tagged with the item (utm_content `ugc-<id>`) and its creator, so clicks, and the orders
    they lead to, are credited to the content. Created by `ugc.services.feed`.
    """

    item = models.ForeignKey(UGCItem, on_delete=models.CASCADE, related_name="feed_links")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    short_link = models.OneToOneField(
        "links.ShortLink", on_delete=models.PROTECT, related_name="ugc_item_link"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item", "product"]
        verbose_name = "UGC item link"
        constraints = [
            models.UniqueConstraint(
                fields=["item", "product"],
                name="ugc_itemlink_item_product_unique",
                violation_error_message="This item already has a link to this product.",
            )
        ]

    def __str__(self):
        return f"{self.item} → {self.product}"


class UGCSchedule(models.Model):
    """A moderator's plan to publish an approved item in a placement at a given time.

    The `ugc.publish_scheduled` beat job publishes due entries through `ugc_publish`, so the
    rights gate is checked at that moment; an entry it cannot publish fails with the reason.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHED = "published", "Published"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    item = models.ForeignKey(UGCItem, on_delete=models.CASCADE, related_name="schedules")
    placement = models.CharField(max_length=20, choices=Placement.choices)
    publish_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.SCHEDULED, db_index=True
    )
    outcome = models.TextField(blank=True, help_text="What the job did, or why it could not.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    # Placement "collection": the collection the item goes into when it is published.
    collection = models.ForeignKey(
        "ugc.UGCCollection", null=True, blank=True, on_delete=models.PROTECT,
        related_name="schedules",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["publish_at", "pk"]
        verbose_name = "UGC publishing schedule"
        constraints = [
            models.UniqueConstraint(
                fields=["item", "placement"],
                condition=Q(status="scheduled"),
                name="ugc_schedule_one_pending_per_placement",
                violation_error_message="This item is already scheduled in this placement.",
            ),
            models.CheckConstraint(
                condition=Q(collection__isnull=True) | Q(placement="collection"),
                name="ugc_schedule_collection_only_in_collection_placement",
                violation_error_message="Only the collection placement names a collection.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["publish_at"],
                condition=Q(status="scheduled"),
                name="ugc_schedule_due",
            )
        ]

    def __str__(self):
        return f"{self.item} in {self.get_placement_display()} at {self.publish_at:%Y-%m-%d %H:%M}"


from ugc.collection_models import UGCCollection, UGCCollectionEntry  # noqa: E402,F401
from ugc.review_models import Review, ReviewEvent, ReviewMedia  # noqa: E402,F401 - issue 18
from ugc.social_models import RightsRequest, SocialPost  # noqa: E402,F401 - their own module
