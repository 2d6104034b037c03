"""Payouts: what the merchant pays creators out of their `available` balances.

- `PayoutDetails`: how a creator is paid (method, account, tax form received, country), all
  four encrypted at rest in one Fernet token; only whether they are complete is in clear, so
  that a run can list who is missing without decrypting anyone's.
- `PayoutRun`: one currency, made on a schedule or on demand by one person, approved by
  another before anything is sent; `PayoutRunEvent` is its audit trail.
- `Payout`: one creator's payout in a run. Its money moved `available` -> `in_payout` (net of
  what the creator owed back in `receivable`) in the transaction that made it; `paid` only
  when the provider confirms; a failure or a cancelled run reverses that transaction exactly.
  `PayoutCommission` lists the commissions it covers; `PayoutEvent` is its audit trail.
- `TaxForm`: a tax form a creator uploaded (PDF or image, its type checked from its bytes),
  kept in private storage: no URL, read only by the creator in the portal and by staff who
  may see payout details in the console.
- `PayoutNotification`: a provider's webhook about a payout, unique per provider and event id
  (inserted first: a replay changes nothing).
Workflows live in `sales/payouts.py`.
"""

import json
import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.crypto import EncryptedTextField
from core.money import CURRENCY_CHOICES, format_money, from_minor
from creators.models import Creator

__all__ = [
    "PayoutCommission",
    "PayoutDetails",
    "PayoutEvent",
    "PayoutNotification",
    "Payout",
    "PayoutRun",
    "PayoutRunEvent",
    "TaxForm",
]


class PayoutMethod(models.TextChoices):
    STRIPE = "stripe", "Stripe Connect transfer"
    PAYPAL = "paypal", "PayPal Payouts"
    MANUAL = "manual", "Paid by hand (CSV export)"


class PayoutDetails(models.Model):
    """A creator's payout details. `details` is one encrypted JSON object:
    `{"method", "account", "tax_form_received", "country"}`."""

    Method = PayoutMethod

    creator = models.OneToOneField(Creator, on_delete=models.PROTECT, related_name="payout_details")
    details = EncryptedTextField(help_text="Method, account, tax form received, country.")
    complete = models.BooleanField(
        default=False, help_text="Every detail is given and the tax form was received."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "payout details"
        ordering = ["creator"]

    def __str__(self):
        return f"Payout details of creator #{self.creator_id}"

    @property
    def data(self) -> dict:
        try:
            value = json.loads(self.details or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def masked_account(self) -> str:
        account = str(self.data.get("account") or "")
        if len(account) <= 6:
            return "•" * len(account)
        return f"{account[:3]}…{account[-3:]}"


def private_storage():
    from django.core.files.storage import storages

    return storages["private"]


def tax_form_upload_to(instance, filename) -> str:
    # A random name: the creator's own file name may say who they are.
    return f"tax-forms/{instance.creator_id}/{uuid.uuid4().hex}{PurePath(filename).suffix}"


class TaxForm(models.Model):
    """A tax form (W-9, W-8BEN, a national equivalent) a creator uploaded. The newest is
    the one in force; older ones are kept, as a tax record is."""

    class Kind(models.TextChoices):
        PDF = "pdf", "PDF"
        IMAGE = "image", "Image"

    creator = models.ForeignKey(Creator, on_delete=models.PROTECT, related_name="tax_forms")
    file = models.FileField(upload_to=tax_form_upload_to, storage=private_storage, max_length=300)
    kind = models.CharField(max_length=5, choices=Kind.choices)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=200, blank=True)
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["creator", "-uploaded_at", "-pk"]
        indexes = [models.Index(fields=["creator", "-uploaded_at"], name="sales_taxform_creator")]

    def __str__(self):
        return f"Tax form #{self.pk} of creator #{self.creator_id}"

    @property
    def download_name(self) -> str:
        extension = PurePath(self.file.name).suffix
        return f"tax-form-{self.pk}{extension}"


class PayoutRun(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Awaiting approval"
        SENDING = "sending", "Approved: sending"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    class Schedule(models.TextChoices):
        WEEKLY = "weekly", "Weekly (Mondays)"
        TWICE_MONTHLY = "twice_monthly", "Twice a month (1st and 16th)"
        MONTHLY = "monthly", "Monthly (1st)"
        ON_DEMAND = "on_demand", "On demand"

    key = models.CharField(max_length=120, unique=True, help_text="What makes the run once.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    schedule = models.CharField(max_length=15, choices=Schedule.choices)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    note = models.TextField(blank=True)
    skipped = models.JSONField(
        default=list, blank=True,
        help_text="Creators who reached the minimum but were not paid, and why.",
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text="Empty for a scheduled run.",
    )  # fmt: skip
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("approve_payoutrun", "Can approve payout runs (not one's own)")]
        constraints = [
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | Q(created_by__isnull=True)
                | ~Q(approved_by=F("created_by")),
                name="sales_payoutrun_four_eyes",
                violation_error_message="A run is approved by someone other than its maker.",
            )
        ]

    def __str__(self):
        return f"Payout run #{self.pk} ({self.currency}, {self.get_schedule_display().lower()})"


class PayoutRunEvent(models.Model):
    """Append-only audit of a run: who, when, from, to, why."""

    run = models.ForeignKey(PayoutRun, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "at", "pk"]

    def __str__(self):
        return f"{self.action} {self.from_status or '∅'} → {self.to_status}"


class Payout(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting approval"
        QUEUED = "queued", "Approved: to send"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent: awaiting the provider"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    Method = PayoutMethod

    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="payouts")
    creator = models.ForeignKey(Creator, on_delete=models.PROTECT, related_name="payouts")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    method = models.CharField(max_length=10, choices=PayoutMethod.choices)
    destination = EncryptedTextField(
        help_text="Where it was sent: the details at the time of the run (encrypted)."
    )
    gross = models.BigIntegerField(help_text="Taken from available, in minor units.")
    netted = models.BigIntegerField(default=0, help_text="Clawbacks owed, settled from it.")
    amount = models.BigIntegerField(help_text="Sent to the creator: gross - netted.")
    key = models.CharField(
        max_length=80, unique=True, help_text="The idempotency key the provider sees."
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    provider_ref = models.CharField(
        max_length=120, blank=True, db_index=True,
        help_text="Stripe transfer (tr_…) or PayPal payout item id.",
    )  # fmt: skip
    provider_batch = models.CharField(
        max_length=120, blank=True, help_text="PayPal's payout batch id."
    )
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["run", "creator"], name="sales_payout_one_per_run"),
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(netted__gte=0) & Q(gross=F("amount") + F("netted")),
                name="sales_payout_amounts",
            ),
        ]
        indexes = [
            models.Index(fields=["creator", "-created_at"], name="sales_payout_creator"),
            models.Index(
                fields=["sent_at"],
                condition=Q(status__in=["sending", "sent"]),
                name="sales_payout_in_flight",
            ),
        ]

    def __str__(self):
        return f"Payout #{self.pk}: {self.display_amount} to creator #{self.creator_id}"

    @property
    def display_amount(self) -> str:
        return format_money(from_minor(self.amount, self.currency), self.currency)

    @property
    def destination_data(self) -> dict:
        try:
            value = json.loads(self.destination or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


class PayoutCommission(models.Model):
    """A commission a payout covers, with its net at the time of the run."""

    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="items")
    commission = models.ForeignKey(
        "sales.Commission", on_delete=models.PROTECT, related_name="payout_items"
    )
    amount = models.BigIntegerField(help_text="The commission's net when the run was made.")

    class Meta:
        ordering = ["payout", "commission"]
        constraints = [
            models.UniqueConstraint(
                fields=["payout", "commission"], name="sales_payoutcommission_unique"
            )
        ]

    def __str__(self):
        return f"Commission #{self.commission_id} in payout #{self.payout_id}"


class PayoutEvent(models.Model):
    """Append-only audit of a payout: who or what (webhook, poll, job), when, from, to, why."""

    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, blank=True, help_text="console, api, job, webhook…")
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["payout", "at", "pk"]

    def __str__(self):
        return f"{self.action} {self.from_status or '∅'} → {self.to_status}"


class PayoutNotification(models.Model):
    """A provider's webhook about a payout, stored once per provider event id."""

    class Provider(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        PAYPAL = "paypal", "PayPal"

    provider = models.CharField(max_length=10, choices=Provider.choices)
    event_id = models.CharField(max_length=120)
    event_type = models.CharField(max_length=80)
    payload = models.JSONField()
    payout = models.ForeignKey(
        Payout, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    outcome = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="sales_payoutnotification_unique"
            )
        ]

    def __str__(self):
        return f"{self.get_provider_display()} {self.event_type} {self.event_id}"
