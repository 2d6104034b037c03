"""Attribution: who an order is credited to and why, fraud signals, and the conversions
outbox.

- `Attribution`: at most one per order (a unique constraint), made and replaced only by
  `attribution.services.attribution_decide`, which locks the order row. Every decision, the
  first and each replacement, is kept as an `AttributionRevision` with its inputs: the rule
  that matched, every candidate with why it won, lost or was not eligible, and the policy
  version.
- `CustomerLock`: the creator a customer (hashed email) is locked to under a program's
  lifetime lock; inserted first, so two orders racing make one lock.
- `FraudSignal`: one signal with its evidence, worded for the merchant and for the creator.
  A signal holds the commission for review; it never drops it.
- `ConversionDestination` / `ConversionEvent`: the outbox of conversions sent server to
  server (TikTok Events API, Meta Conversions API), one event per order and destination.
- `HeldCommission`: the fraud review queue in the console (a proxy of the ledger's
  commissions held for review).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.crypto import EncryptedTextField
from creators.models import Creator, CreatorGroup, Program
from sales.models import Commission, Order, Refund


class Attribution(models.Model):
    class Rule(models.TextChoices):
        LIFETIME_LOCK = "lifetime_lock", "Lifetime customer lock"
        CODE = "code", "Discount code"
        ORDER_CLICK = "order_click", "Click carried by the order"
        COOKIE_CLICK = "cookie_click", "Visitor's last click (cookie)"
        CONTENT = "content", "Content touch (UGC card)"
        NONE = "none", "Not credited"

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="attribution")
    creator = models.ForeignKey(
        Creator, null=True, blank=True, on_delete=models.PROTECT, related_name="attributions"
    )
    rule = models.CharField(max_length=15, choices=Rule.choices, db_index=True)
    program = models.ForeignKey(
        Program,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Whose attribution policy decided.",
    )
    policy = models.JSONField(default=dict, help_text="The policy and its version, frozen.")
    click_id = models.UUIDField(null=True, blank=True)
    discount_code = models.CharField(max_length=100, blank=True)
    ugc_item_id = models.BigIntegerField(null=True, blank=True)
    # The UGC item the order came through (utm_content=ugc-<id> on its click or landing page),
    # whoever won the credit, and where the item was shown (`ugc_placement` on the landing
    # page): what the UGC placement report counts as a purchase.
    content_item_id = models.BigIntegerField(null=True, blank=True)
    content_placement = models.CharField(max_length=20, blank=True)
    late_click_id = models.CharField(
        max_length=100, blank=True, help_text="A click id that arrived after the order."
    )
    candidates = models.JSONField(default=list)
    explanation = models.TextField(help_text="Why, for the merchant.")
    creator_explanation = models.TextField(blank=True, help_text="Why, for the creator.")
    customer_returning = models.BooleanField(default=False)
    customer_email_hash = models.CharField(max_length=64, blank=True)
    visitor_key = models.CharField(
        max_length=100, blank=True, help_text="The cookie's click id: one visitor's orders."
    )
    commission_program = models.ForeignKey(
        Program, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    group = models.ForeignKey(
        CreatorGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    commission_total = models.BigIntegerField(default=0, help_text="Minor units, as posted.")
    commission_currency = models.CharField(max_length=3, blank=True)
    commission_note = models.TextField(blank=True)
    review_reason = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    placed_at = models.DateTimeField(help_text="The order's time (copied for the checks).")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-decided_at", "-pk"]
        indexes = [
            models.Index(
                fields=["customer_email_hash", "placed_at"],
                condition=~Q(customer_email_hash=""),
                name="attr_customer_time",
            ),
            models.Index(
                fields=["visitor_key", "placed_at"],
                condition=~Q(visitor_key=""),
                name="attr_visitor_time",
            ),
            models.Index(fields=["creator", "-decided_at"], name="attr_creator_time"),
            models.Index(
                fields=["content_item_id"],
                condition=Q(content_item_id__isnull=False),
                name="attr_content_item",
            ),
        ]

    def __str__(self):
        who = f"@{self.creator.handle}" if self.creator_id else "nobody"
        return f"Order #{self.order_id} → {who} ({self.get_rule_display()})"


class AttributionRevision(models.Model):
    """Append-only: every decision made for an order, the first and each replacement."""

    attribution = models.ForeignKey(Attribution, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    creator = models.ForeignKey(
        Creator, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule = models.CharField(max_length=15, choices=Attribution.Rule.choices)
    policy = models.JSONField(default=dict)
    candidates = models.JSONField(default=list)
    explanation = models.TextField()
    commission_total = models.BigIntegerField(default=0)
    reason = models.TextField(blank=True, help_text="Why the decision was (re)made.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["attribution", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["attribution", "version"], name="attr_revision_version_unique"
            )
        ]

    def __str__(self):
        return f"v{self.version}: {self.get_rule_display()}"


class CustomerLock(models.Model):
    """Under a lifetime lock, the creator who first brought a customer (by hashed email)."""

    customer_hash = models.CharField(max_length=64, unique=True)
    creator = models.ForeignKey(Creator, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"customer → @{self.creator.handle}"


class FraudSignal(models.Model):
    class Kind(models.TextChoices):
        SELF_REFERRAL = "self_referral", "Self-referral"
        CODE_LEAKAGE = "code_leakage", "Code leakage"
        CLICK_SPIKE = "click_spike", "Click spike"
        REPEAT_ORDERS = "repeat_orders", "Repeat orders from one visitor"
        SHARED_PAYOUT = "shared_payout", "Payout method shared with another creator"
        DISPOSABLE_EMAIL = "disposable_email", "Disposable email domain"

    attribution = models.ForeignKey(Attribution, on_delete=models.CASCADE, related_name="signals")
    version = models.PositiveIntegerField(help_text="The decision it was found for.")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+")
    creator = models.ForeignKey(Creator, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    evidence = models.JSONField(default=dict)
    merchant_text = models.TextField()
    creator_text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["attribution", "version", "kind"], name="attr_signal_once_per_decision"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} on order #{self.order_id}"


class ConversionDestination(models.Model):
    """Where conversions go, with the merchant's credentials (encrypted at rest)."""

    class Kind(models.TextChoices):
        TIKTOK = "tiktok", "TikTok Events API"
        META = "meta", "Meta Conversions API"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=120)
    active = models.BooleanField(default=True)
    pixel_id = models.CharField(
        max_length=64, help_text="TikTok: the pixel code; Meta: the pixel (dataset) id."
    )
    access_token = EncryptedTextField(help_text="The Events API / Conversions API access token.")
    test_event_code = models.CharField(
        max_length=64, blank=True, help_text="Sends to the destination's test events tool."
    )
    consent_required = models.BooleanField(
        default=True,
        help_text="Send only orders whose shopper consented to ad measurement (recommended in "
        "the EU). Off: send hashed identifiers regardless; IP address and user agent still go "
        "only with consent.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"


class ConversionEvent(models.Model):
    """One event for one destination: made when an order is paid, sent by a job with
    exponential backoff and jitter that respects `Retry-After`."""

    class Kind(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        REFUND = "refund", "Refund"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed for good"
        SKIPPED = "skipped", "Skipped"

    destination = models.ForeignKey(
        ConversionDestination, on_delete=models.PROTECT, related_name="events"
    )
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+")
    refund = models.ForeignKey(
        Refund, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PURCHASE)
    key = models.CharField(max_length=120, help_text="purchase, or refund:<id>.")
    event_id = models.CharField(max_length=120, help_text="The order's id: dedupes the pixel.")
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "order", "key"], name="attr_conversion_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="attr_conversion_due",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} of order #{self.order_id} to {self.destination}"


class HeldCommission(Commission):
    """Commissions held for review: the console's fraud review queue."""

    class Meta:
        proxy = True
        verbose_name = "commission held for review"
        verbose_name_plural = "fraud review queue"
