"""Reconciliation: what the providers say they paid or charged, against what Shoploop holds.

- `ReconciliationImport`: one file (or API fetch) of a provider's statement for a channel.
  The same file twice is one import (its SHA-256 is unique per channel).
- `ProviderTransaction`: one line of a statement (a charge, a refund, a Stripe transfer to a
  creator, a fee, a bank payout...), unique per channel and its provider-side id: a line seen
  in two files is one row. Matching gives it a status and links it to an order, refund or
  payout; a person resolves what does not match (link, ignore with reason, create the missing
  refund), recorded with who, when and why.
- `ReconciliationDismissal`: an order, refund or payout that the provider's statements do not
  show, set aside by a person with a reason.
Workflows live in `sales/reconciliation.py`; each provider's columns in
`sales/reconciliation_formats/<provider>.py`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.money import CURRENCY_CHOICES, format_money

MONEY = {"max_digits": 18, "decimal_places": 4}

__all__ = ["ProviderTransaction", "ReconciliationDismissal", "ReconciliationImport"]


class StatementSource(models.TextChoices):
    SHOPIFY_PAYMENTS = "shopify_payments", "Shopify Payments payout transactions"
    STRIPE = "stripe", "Stripe balance transactions"
    TIKTOK_SHOP = "tiktok_shop", "TikTok Shop settlement statement"


class ReconciliationImport(models.Model):
    Source = StatementSource

    channel = models.ForeignKey(
        "sales.SalesChannel", on_delete=models.PROTECT, related_name="reconciliation_imports"
    )
    source = models.CharField(max_length=20, choices=StatementSource.choices)
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField(default=0, help_text="Lines in the file.")
    new_rows = models.PositiveIntegerField(default=0, help_text="Lines not seen before.")
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-imported_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "sha256"], name="sales_recon_import_once")
        ]

    def __str__(self):
        return f"{self.get_source_display()}: {self.filename}"


class ProviderTransaction(models.Model):
    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge (an order paid)"
        REFUND = "refund", "Refund"
        TRANSFER = "transfer", "Transfer to a creator"
        BANK_PAYOUT = "bank_payout", "Payout to the merchant's bank"
        FEE = "fee", "Fee"
        ADJUSTMENT = "adjustment", "Adjustment"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        MATCHED = "matched", "Matched"
        MISSING = "missing", "Missing in Shoploop"
        AMOUNT_MISMATCH = "amount_mismatch", "Amount differs"
        CURRENCY_MISMATCH = "currency_mismatch", "Currency differs"
        DUPLICATE = "duplicate", "Duplicate"
        NOT_APPLICABLE = "not_applicable", "Nothing to match (fees, bank payouts)"
        LINKED = "linked", "Linked by hand"
        IGNORED = "ignored", "Ignored"
        REFUND_CREATED = "refund_created", "Missing refund created"

    OPEN = (Status.MISSING, Status.AMOUNT_MISMATCH, Status.CURRENCY_MISMATCH, Status.DUPLICATE)
    RESOLVED = (Status.LINKED, Status.IGNORED, Status.REFUND_CREATED)

    channel = models.ForeignKey(
        "sales.SalesChannel", on_delete=models.PROTECT, related_name="provider_transactions"
    )
    first_import = models.ForeignKey(
        ReconciliationImport, on_delete=models.PROTECT, related_name="transactions"
    )
    external_id = models.CharField(
        max_length=120, help_text="The provider's id of the line (or a hash of it)."
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.DecimalField(**MONEY, help_text="Gross, signed as the provider says.")
    fee = models.DecimalField(**MONEY, default=0)
    net = models.DecimalField(**MONEY, default=0)
    occurred_at = models.DateTimeField()
    order_ref = models.CharField(max_length=255, blank=True)
    refund_ref = models.CharField(max_length=255, blank=True)
    transfer_ref = models.CharField(max_length=255, blank=True)
    description = models.CharField(max_length=500, blank=True)
    raw = models.JSONField(default=dict, help_text="The line as it was in the file.")
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    problem = models.TextField(blank=True, help_text="What does not match, in words.")
    order = models.ForeignKey(
        "sales.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refund = models.ForeignKey(
        "sales.Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payout = models.ForeignKey(
        "sales.Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True, help_text="Why it was resolved so.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["channel", "occurred_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="sales_providertxn_once"
            )
        ]
        indexes = [
            models.Index(fields=["channel", "status"], name="sales_providertxn_status"),
            models.Index(fields=["channel", "order_ref"], name="sales_providertxn_order"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.external_id}"

    @property
    def display_amount(self) -> str:
        return format_money(self.amount, self.currency)


class ReconciliationDismissal(models.Model):
    """An order, refund or payout missing from the provider's statements, set aside."""

    channel = models.ForeignKey("sales.SalesChannel", on_delete=models.PROTECT, related_name="+")
    order = models.OneToOneField(
        "sales.Order", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    refund = models.OneToOneField(
        "sales.Refund", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    payout = models.OneToOneField(
        "sales.Payout", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.TextField()
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(order__isnull=False, refund__isnull=True, payout__isnull=True)
                    | Q(order__isnull=True, refund__isnull=False, payout__isnull=True)
                    | Q(order__isnull=True, refund__isnull=True, payout__isnull=False)
                ),
                name="sales_recon_dismissal_one_thing",
            )
        ]

    def __str__(self):
        return f"Set aside: {self.reason[:60]}"
