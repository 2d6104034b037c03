import uuid

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from catalog.models import Product, Variant
from creators.models import Creator
from links.codes import validate_code

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


class AllowedDomain(models.Model):
    """A domain the merchant lets short links send shoppers to (their shop, a marketplace)."""

    domain = models.CharField(
        max_length=253, help_text="Host name, e.g. shop.example.com (stored in punycode)."
    )
    include_subdomains = models.BooleanField(
        default=False, help_text="Also allow any host under this domain."
    )
    ports = models.CharField(
        max_length=100,
        blank=True,
        help_text="Ports links may name besides the scheme's own (443 for https, 80 for http), "
        "comma separated: 8443, 8080. Empty: the scheme's port only.",
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain"],
                name="links_alloweddomain_domain_unique",
                violation_error_message="This domain is already allowed.",
            )
        ]

    def __str__(self):
        return f"*.{self.domain}" if self.include_subdomains else self.domain


class AllowedDomainChange(models.Model):
    """The audit trail of the open-redirect allowlist: who added, changed or removed what."""

    class Action(models.TextChoices):
        ADDED = "added", "Added"
        CHANGED = "changed", "Changed"
        REMOVED = "removed", "Removed"

    domain = models.CharField(max_length=253)
    action = models.CharField(max_length=10, choices=Action.choices)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self):
        return f"{self.domain} {self.action} at {self.at:%Y-%m-%d %H:%M}"


class Campaign(models.Model):
    """A campaign template: the UTM defaults its links start from."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    utm_source = models.CharField("UTM source", max_length=100, blank=True)
    utm_medium = models.CharField("UTM medium", max_length=100, blank=True)
    utm_campaign = models.CharField("UTM campaign", max_length=100, blank=True)
    utm_content = models.CharField("UTM content", max_length=100, blank=True)
    utm_term = models.CharField("UTM term", max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"],
                name="links_campaign_slug_unique",
                violation_error_message="Another campaign has this slug.",
            )
        ]

    def __str__(self):
        return self.name


class Destination(models.Model):
    """Where shoppers go: a product (or one variant of it) or an allowed external URL."""

    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    variant = models.ForeignKey(
        Variant, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Optional: preselect this variant on the product page.",
    )  # fmt: skip
    url = models.CharField(
        "external URL", max_length=2048, blank=True,
        help_text="Only hosts on the allowed destination domains.",
    )  # fmt: skip

    class Meta:
        abstract = True

    @classmethod
    def destination_constraint(cls, name: str) -> models.CheckConstraint:
        return models.CheckConstraint(
            condition=(Q(product__isnull=False) & Q(url=""))
            | (Q(product__isnull=True) & Q(variant__isnull=True) & ~Q(url="")),
            name=name,
            violation_error_message="A link goes to a product or to an external URL: choose one.",
        )

    @property
    def destination_label(self) -> str:
        if self.variant_id:
            return f"{self.product} · {self.variant.sku}"
        return str(self.product) if self.product_id else self.url


class ShortLink(Destination):
    class Status(models.TextChoices):  # derived, for filters and the API
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        SCHEDULED = "scheduled", "Scheduled"
        EXPIRED = "expired", "Expired"

    code = models.CharField(
        max_length=50,
        blank=True,
        validators=[validate_code],
        help_text="3–50 letters, digits, - or _. Leave empty for a random 7-character code.",
    )
    title = models.CharField(
        max_length=200, blank=True,
        help_text="Card title for an external destination when it has no stored preview.",
    )  # fmt: skip
    creator = models.ForeignKey(
        Creator, null=True, blank=True, on_delete=models.PROTECT, related_name="links"
    )
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="links"
    )
    utm_source = models.CharField("UTM source", max_length=100, blank=True)
    utm_medium = models.CharField("UTM medium", max_length=100, blank=True)
    utm_campaign = models.CharField("UTM campaign", max_length=100, blank=True)
    utm_content = models.CharField("UTM content", max_length=100, blank=True)
    utm_term = models.CharField("UTM term", max_length=100, blank=True)
    extra_params = models.JSONField(
        default=dict, blank=True, help_text='More query parameters, e.g. {"lang": "fr"}.'
    )
    active = models.BooleanField(default=True, db_index=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    fallback_url = models.CharField(
        max_length=2048, blank=True, help_text="Where expired links go (else a 410 page)."
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("code"),
                name="links_shortlink_code_ci_unique",
                violation_error_message="This code is taken.",
            ),
            Destination.destination_constraint("links_shortlink_one_destination"),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(expires_at__isnull=True)
                | Q(expires_at__gt=models.F("starts_at")),
                name="links_shortlink_expires_after_start",
                violation_error_message="The expiry must be after the start.",
            ),
        ]
        indexes = [
            models.Index(fields=["creator", "-created_at"], name="links_shortlink_creator"),
        ]

    def __str__(self):
        return f"/p/{self.code}"

    def get_absolute_url(self):
        return f"/p/{self.code}"


class RoutingRule(Destination):
    """Send matching shoppers elsewhere. Rules run in order; the first match wins.

    Every condition that is set must hold (they are AND-ed); at least one must be set.
    """

    class OS(models.TextChoices):
        IOS = "ios", "iOS"
        ANDROID = "android", "Android"
        DESKTOP = "desktop", "Desktop"

    class InApp(models.TextChoices):
        TIKTOK = "tiktok", "TikTok"
        INSTAGRAM = "instagram", "Instagram"
        FACEBOOK = "facebook", "Facebook"
        SNAPCHAT = "snapchat", "Snapchat"
        PINTEREST = "pinterest", "Pinterest"
        X = "x", "X (Twitter)"

    link = models.ForeignKey(ShortLink, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    countries = models.CharField(
        max_length=200, blank=True, help_text="ISO country codes, comma separated: US, CA."
    )
    languages = models.CharField(
        max_length=200, blank=True, help_text="Preferred language, comma separated: fr, de-CH."
    )
    device_os = models.CharField("device OS", max_length=10, choices=OS.choices, blank=True)
    in_app = models.CharField("in-app browser", max_length=10, choices=InApp.choices, blank=True)
    query_param = models.CharField(max_length=60, blank=True)
    query_value = models.CharField(
        max_length=200, blank=True, help_text="Empty: the parameter only has to be present."
    )
    active_from = models.DateTimeField(null=True, blank=True)
    active_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["link", "position", "pk"]
        constraints = [Destination.destination_constraint("links_routingrule_one_destination")]

    def __str__(self):
        return f"rule {self.position} of {self.link}"


class SplitArm(Destination):
    """One side of an A/B split: shoppers no rule matched are split by weight, stickily."""

    link = models.ForeignKey(ShortLink, on_delete=models.CASCADE, related_name="split_arms")
    label = models.CharField(max_length=40)
    weight = models.PositiveSmallIntegerField(default=50)

    class Meta:
        ordering = ["link", "pk"]
        constraints = [
            Destination.destination_constraint("links_splitarm_one_destination"),
            models.CheckConstraint(
                condition=Q(weight__gte=1) & Q(weight__lte=1000),
                name="links_splitarm_weight_range",
                violation_error_message="A weight is between 1 and 1000.",
            ),
            models.UniqueConstraint(
                fields=["link", "label"],
                name="links_splitarm_label_unique",
                violation_error_message="Each arm of a split needs its own label.",
            ),
        ]

    def __str__(self):
        return f"{self.label} ({self.weight})"


class ClickEvent(models.Model):
    """One visit through a short link. Append-only, written in batches by the drain job."""

    click_id = models.UUIDField(default=uuid.uuid4)
    # No single-column indexes on link and creator: the (link, time) and (creator, time)
    # indexes below serve those lookups, and every index slows the drain's inserts.
    link = models.ForeignKey(
        ShortLink, on_delete=models.PROTECT, related_name="clicks", db_index=False
    )
    creator = models.ForeignKey(
        Creator, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_index=False,
    )  # fmt: skip
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    clicked_at = models.DateTimeField()
    route = models.CharField(
        max_length=60, blank=True, help_text="default, rule:<id> or ab:<label>"
    )
    country = models.CharField(max_length=2, blank=True)
    device_type = models.CharField(max_length=10, blank=True)
    os = models.CharField("OS", max_length=40, blank=True)
    browser = models.CharField(max_length=60, blank=True)
    in_app = models.CharField(max_length=10, blank=True)
    referrer_host = models.CharField(max_length=253, blank=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)
    utm_term = models.CharField(max_length=100, blank=True)
    is_qr = models.BooleanField(default=False)
    is_bot = models.BooleanField(default=False)
    is_unique = models.BooleanField(default=False)
    # Never the raw IP: its /24 (IPv4) or /48 (IPv6) network, and a keyed hash of the visitor
    # whose key changes every day, so visitors cannot be followed across days.
    network = models.CharField(max_length=43, blank=True)
    visitor_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-clicked_at"]
        constraints = [
            models.UniqueConstraint(fields=["click_id"], name="links_clickevent_click_id_unique")
        ]
        indexes = [
            models.Index(fields=["link", "clicked_at"], name="links_click_link_time"),
            models.Index(fields=["creator", "clicked_at"], name="links_click_creator_time"),
            # Clicks arrive in time order: a BRIN index serves time ranges across all links
            # for a fraction of a B-tree's size and insert cost.
            BrinIndex(fields=["clicked_at"], name="links_click_time_brin"),
        ]

    def __str__(self):
        return str(self.click_id)


class LinkDailyStats(models.Model):
    """Per link and day: counted by the drain job from the clicks it actually inserted."""

    link = models.ForeignKey(ShortLink, on_delete=models.CASCADE, related_name="daily_stats")
    day = models.DateField()
    clicks = models.PositiveIntegerField(default=0)
    unique_clicks = models.PositiveIntegerField(default=0)
    bot_hits = models.PositiveIntegerField(default=0)
    qr_scans = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["link", "day"], name="links_dailystats_link_day_unique")
        ]

    def __str__(self):
        return f"{self.link} on {self.day}"
