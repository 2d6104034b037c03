from django.conf import settings
from django.db import models


class LinkPreview(models.Model):
    """What a URL looks like when shared: its metadata, card images and fetch state."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        BLOCKED = "blocked", "Blocked"

    url = models.CharField(max_length=2048, help_text="Normalised: the key previews share.")
    final_url = models.CharField(max_length=2048, blank=True)
    canonical_url = models.CharField(max_length=2048, blank=True)
    title = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    image_url = models.CharField(max_length=2048, blank=True)
    image = models.FileField(upload_to="previews/", blank=True, help_text="1200×630 card")
    image_small = models.FileField(upload_to="previews/", blank=True, help_text="600×315 card")
    site_name = models.CharField(max_length=200, blank=True)
    type = models.CharField(max_length=60, blank=True)
    price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    availability = models.CharField(max_length=60, blank=True)
    brand = models.CharField(max_length=200, blank=True)
    sku = models.CharField("SKU", max_length=100, blank=True)
    gtin = models.CharField("GTIN", max_length=14, blank=True)
    favicon_url = models.CharField(max_length=2048, blank=True)
    oembed_html = models.TextField(blank=True, help_text="The provider's embed markup (untrusted).")
    oembed_provider = models.CharField(max_length=200, blank=True)
    locale = models.CharField(max_length=20, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    error = models.CharField(max_length=500, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    next_refresh_at = models.DateTimeField(null=True, blank=True)
    etag = models.CharField(max_length=300, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    raw = models.JSONField(default=dict, blank=True, help_text="Everything extracted, by source.")
    # What the merchant wrote for the card, kept apart from what was scraped: a refresh
    # never touches these, and cards and unfurls show them before the scraped values.
    title_override = models.CharField("title shown", max_length=300, blank=True)
    description_override = models.TextField("description shown", blank=True)
    image_override = models.FileField(
        upload_to="previews/", blank=True, help_text="1200×630 card from the merchant's image"
    )
    image_override_small = models.FileField(upload_to="previews/", blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    overridden_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["url"], name="previews_linkpreview_url_unique"),
        ]
        indexes = [
            models.Index(fields=["status", "next_refresh_at"], name="previews_refresh_due"),
        ]

    def __str__(self):
        return self.title or self.url

    @property
    def card_title(self) -> str:
        return self.title_override or self.title

    @property
    def card_description(self) -> str:
        return self.description_override or self.description

    @property
    def card_image(self):
        """The large card image: the merchant's, else the one made from the page's."""
        return self.image_override or self.image

    @property
    def card_image_small(self):
        return self.image_override_small if self.image_override else self.image_small

    @property
    def has_override(self) -> bool:
        return bool(self.title_override or self.description_override or self.image_override)

    @property
    def host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.final_url or self.url).hostname or ""
