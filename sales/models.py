"""Sales: channels, webhook deliveries, orders, refunds and stock reservations.

Workflows (storing and processing deliveries, the order state machine, refunds, reservations,
the checkout) live in `sales/services.py`; each provider's signatures and payloads in
`sales/providers/`. Stock quantities live on `catalog.Variant` (see `catalog/stock.py`).
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from catalog.models import Product, Variant
from core.crypto import EncryptedTextField
from core.money import CURRENCY_CHOICES, format_money, is_exact, minor_units

MONEY = {"max_digits": 18, "decimal_places": 4}


def new_channel_token() -> str:
    return secrets.token_urlsafe(18)


def new_status_token() -> str:
    """The shopper's order page token: 32 random bytes, unguessable."""
    return secrets.token_urlsafe(32)


class Provider(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    STRIPE = "stripe", "Stripe"
    TIKTOK_SHOP = "tiktok_shop", "TikTok Shop"
    STANDARD = "standard", "Standard Webhooks"


class SalesChannel(models.Model):
    """Where orders come from: a Shopify shop, a Stripe account, a TikTok Shop, a custom
    checkout that sends Standard Webhooks. Its webhook URL carries an unguessable token."""

    provider = models.CharField(max_length=20, choices=Provider.choices)
    name = models.CharField(max_length=120)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD")
    token = models.CharField(max_length=40, unique=True, default=new_channel_token, editable=False)
    active = models.BooleanField(default=True)
    # Provider ids.
    shop_domain = models.CharField(
        max_length=255, blank=True, help_text="Shopify: the shop's myshopify.com domain."
    )
    stripe_account = models.CharField(
        max_length=64, blank=True, help_text="Stripe: the account id (acct_…), if known."
    )
    app_key = models.CharField(max_length=64, blank=True, help_text="TikTok Shop: the app key.")
    shop_id = models.CharField(max_length=64, blank=True, help_text="TikTok Shop: the shop id.")
    shop_cipher = models.CharField(
        max_length=128, blank=True, help_text="TikTok Shop: the shop cipher the order API needs."
    )
    # Secrets, encrypted at rest. Two may be active at once so that a merchant can rotate.
    secret = EncryptedTextField(
        blank=True,
        help_text="The webhook signing secret (Shopify: the app's client secret; Stripe: "
        "whsec_…; TikTok Shop: the app secret; Standard Webhooks: whsec_…).",
    )
    previous_secret = EncryptedTextField(blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    api_key = EncryptedTextField(
        blank=True, help_text="Stripe: the secret API key (sk_…) that creates Checkout Sessions."
    )
    access_token = EncryptedTextField(
        blank=True, help_text="TikTok Shop: the shop's access token for the order API."
    )
    checkout = models.BooleanField(
        default=False,
        help_text="The product pages' Buy button pays through this channel (Stripe only; one).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkout"],
                condition=Q(checkout=True),
                name="sales_channel_one_checkout",
                violation_error_message="Another channel already runs the checkout.",
            ),
            models.CheckConstraint(
                condition=Q(checkout=False) | Q(provider="stripe"),
                name="sales_channel_checkout_is_stripe",
                violation_error_message="Only a Stripe channel can run the checkout.",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_provider_display()})"

    def webhook_path(self) -> str:
        return reverse("sales:webhook", kwargs={"provider": self.provider, "token": self.token})

    def secrets(self) -> list[str]:
        """The active webhook secrets, newest first."""
        return [s for s in (self.secret, self.previous_secret) if s]

    def clean(self):
        if self.checkout and self.provider != Provider.STRIPE:
            raise ValidationError({"checkout": "Only a Stripe channel can run the checkout."})


class WebhookDelivery(models.Model):
    """One request to /webhooks/<provider>/<token>/, stored as it came before anything else.

    Accepted deliveries (signature valid, body parsed, an id found) are unique per channel
    and delivery id (and Shopify's event id): a forged one, never accepted, cannot take the
    id of a real one. Rejected deliveries keep a truncated body and are pruned.
    """

    class Signature(models.TextChoices):
        VALID = "valid", "Valid"
        INVALID = "invalid", "Invalid"
        MISSING = "missing", "Missing"
        MALFORMED = "malformed", "Malformed header"
        STALE = "stale", "Timestamp outside the tolerance"
        NO_CHANNEL = "no_channel", "Unknown channel"
        NO_SECRET = "no_secret", "Channel has no secret"

    class Status(models.TextChoices):
        REJECTED = "rejected", "Rejected"
        RECEIVED = "received", "Received"
        WAITING = "waiting", "Waiting (the API's credentials cannot be used yet)"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (nothing to do)"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(
        SalesChannel, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    provider = models.CharField(max_length=20, choices=Provider.choices)
    delivery_id = models.CharField(max_length=255, blank=True)
    event_id = models.CharField(
        max_length=255, blank=True, help_text="Shopify's X-Shopify-Event-Id (one per event)."
    )
    topic = models.CharField(max_length=120, blank=True)
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    body_size = models.PositiveIntegerField(default=0)
    body_truncated = models.BooleanField(default=False)
    signature = models.CharField(max_length=12, choices=Signature.choices)
    accepted = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, db_index=True)
    reason = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    replays = models.PositiveIntegerField(default=0)
    order = models.ForeignKey(
        "Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    erased_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When its body was erased because it held a customer's data (a redaction).",
    )

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "delivery_id"],
                condition=Q(accepted=True),
                name="sales_delivery_accepted_unique",
            ),
            models.UniqueConstraint(
                fields=["channel", "event_id"],
                condition=Q(accepted=True) & ~Q(event_id=""),
                name="sales_delivery_event_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "-received_at"], name="sales_delivery_channel_recv"),
            models.Index(
                fields=["provider", "received_at"],
                condition=Q(accepted=False),
                name="sales_delivery_rejected",
            ),
        ]

    def __str__(self):
        return f"{self.get_provider_display()} {self.topic or '?'} {self.delivery_id or '#'}"


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        FULFILLED = "fulfilled", "Fulfilled"
        CANCELLED = "cancelled", "Cancelled"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"

    channel = models.ForeignKey(SalesChannel, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=120, blank=True, help_text="The provider's order name.")
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    subtotal = models.DecimalField(**MONEY, default=0)
    discounts = models.DecimalField(**MONEY, default=0)
    shipping = models.DecimalField(**MONEY, default=0)
    tax = models.DecimalField(**MONEY, default=0)
    total = models.DecimalField(**MONEY, default=0)
    discount_codes = models.JSONField(default=list, blank=True)
    landing_url = models.TextField(blank=True)
    referring_site = models.TextField(blank=True)
    click_id = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="slclid carried to the checkout."
    )
    visitor_click_id = models.CharField(
        max_length=100, blank=True, help_text="The click in the shopper's attribution cookie."
    )
    customer_email_hash = models.CharField(max_length=64, blank=True, db_index=True)
    country = models.CharField(max_length=2, blank=True)
    payment_fingerprint_hash = models.CharField(max_length=64, blank=True)
    # Out-of-order protection: the provider's own updated time (and version where it has one).
    provider_updated_at = models.DateTimeField(null=True, blank=True)
    provider_version = models.BigIntegerField(null=True, blank=True)
    placed_at = models.DateTimeField(default=timezone.now, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    oversold = models.BooleanField(
        default=False, help_text="Sold on the channel with too little stock here."
    )
    reservation = models.OneToOneField(
        "Reservation", null=True, blank=True, on_delete=models.SET_NULL, related_name="order"
    )
    status_token = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False,
        default=new_status_token,
        help_text="The shopper's order page: /orders/<token>/ (unguessable).",
    )  # fmt: skip
    redacted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the customer's data was erased (a redaction request). Amounts, lines "
        "and the ledger stay; later updates never bring the customer's data back.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # What a redaction clears: everything on the order that is about the customer.
    PERSONAL_FIELDS = (
        "customer_email_hash", "landing_url", "referring_site", "country",
        "payment_fingerprint_hash",
    )  # fmt: skip

    class Meta:
        ordering = ["-placed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="sales_order_external_unique"
            ),
            models.CheckConstraint(
                condition=Q(subtotal__gte=0)
                & Q(discounts__gte=0)
                & Q(shipping__gte=0)
                & Q(tax__gte=0)
                & Q(total__gte=0),
                name="sales_order_amounts_gte_0",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "-placed_at"], name="sales_order_channel_placed"),
            models.Index(fields=["status", "-placed_at"], name="sales_order_status_placed"),
        ]

    def __str__(self):
        return f"{self.name or self.external_id} ({self.channel.name})"

    def clean(self):
        errors = {}
        if self.currency not in (dict(CURRENCY_CHOICES)):
            errors["currency"] = [f"{self.currency!r} is not an ISO 4217 currency."]
        else:
            for field in ("subtotal", "discounts", "shipping", "tax", "total"):
                value = getattr(self, field)
                if value is not None and not is_exact(value, self.currency):
                    digits = minor_units(self.currency)
                    errors[field] = [
                        f"{self.currency} allows {digits} decimal place"
                        f"{'' if digits == 1 else 's'}; {value} has more."
                    ]
        if errors:
            raise ValidationError(errors)

    def display(self, field: str) -> str:
        return format_money(getattr(self, field), self.currency)


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    external_id = models.CharField(max_length=255, blank=True)
    sku = models.CharField(max_length=255, blank=True, db_index=True)
    variant = models.ForeignKey(
        Variant, null=True, blank=True, on_delete=models.SET_NULL, related_name="order_lines"
    )
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="order_lines"
    )
    title = models.CharField(max_length=255, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(**MONEY, default=0)
    discount = models.DecimalField(**MONEY, default=0)
    tax = models.DecimalField(**MONEY, default=0)
    total = models.DecimalField(**MONEY, default=0)
    # Units of this line held in catalog stock: committed while unshipped, then shipped.
    stock_committed = models.PositiveIntegerField(default=0)
    stock_shipped = models.PositiveIntegerField(default=0)
    shortfall = models.PositiveIntegerField(
        default=0, help_text="Units sold on the channel that stock here could not cover."
    )

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="sales_line_quantity_gte_1"),
        ]
        indexes = [
            models.Index(
                fields=["sku"], condition=Q(variant__isnull=True), name="sales_line_unmapped"
            )
        ]

    def __str__(self):
        return f"{self.quantity} × {self.sku or self.title}"


class UnmappedLine(OrderLine):
    """Order lines whose SKU matches no variant: the console's list for merchants to map."""

    class Meta:
        proxy = True
        verbose_name = "unmapped order line"


class OrderEvent(models.Model):
    """Append-only audit of an order: every status change and what else happened to it."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="Empty for deliveries and jobs.",
    )  # fmt: skip
    delivery = models.ForeignKey(
        WebhookDelivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=30)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["order", "at", "pk"]
        indexes = [models.Index(fields=["order", "at"], name="sales_orderevent_order_at")]

    def __str__(self):
        return f"{self.order_id}: {self.action} {self.from_status or '∅'} → {self.to_status}"


class Refund(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="refunds")
    channel = models.ForeignKey(SalesChannel, on_delete=models.PROTECT, related_name="refunds")
    external_id = models.CharField(max_length=255)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    shipping = models.DecimalField(**MONEY, default=0)
    total = models.DecimalField(**MONEY, default=0)
    reason = models.TextField(blank=True)
    refunded_at = models.DateTimeField(default=timezone.now)
    delivery = models.ForeignKey(
        WebhookDelivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "refunded_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="sales_refund_external_unique"
            ),
            models.CheckConstraint(
                condition=Q(total__gte=0) & Q(shipping__gte=0), name="sales_refund_amounts_gte_0"
            ),
        ]

    def __str__(self):
        return f"Refund {self.external_id} of {format_money(self.total, self.currency)}"


class RefundLine(models.Model):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(
        OrderLine, null=True, blank=True, on_delete=models.SET_NULL, related_name="refund_lines"
    )
    sku = models.CharField(max_length=255, blank=True)
    quantity = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(**MONEY, default=0)

    class Meta:
        ordering = ["refund", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="sales_refundline_amount_gte_0")
        ]

    def __str__(self):
        return f"{self.quantity} × {self.sku} ({self.amount})"


class PendingOrderEvent(models.Model):
    """A refund or cancellation that arrived before its order; applied when the order does."""

    class Kind(models.TextChoices):
        REFUND = "refund", "Refund"
        CANCEL = "cancel", "Cancellation"

    channel = models.ForeignKey(SalesChannel, on_delete=models.CASCADE, related_name="+")
    order_external_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.CharField(max_length=255, help_text="The refund id, or 'cancel'.")
    payload = models.JSONField()
    delivery = models.ForeignKey(
        WebhookDelivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "order_external_id", "kind", "key"],
                name="sales_pending_event_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["channel", "order_external_id"],
                condition=Q(applied_at__isnull=True),
                name="sales_pending_waiting",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.key} for order {self.order_external_id}"


class Reservation(models.Model):
    """Units of one variant held for a checkout in progress (see catalog/stock.py)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMMITTED = "committed", "Committed (paid)"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"

    key = models.CharField(max_length=100, unique=True, help_text="The idempotency key.")
    channel = models.ForeignKey(
        SalesChannel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    expires_at = models.DateTimeField()
    checkout_session_id = models.CharField(max_length=255, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    click_id = models.CharField(max_length=100, blank=True)
    visitor_click_id = models.CharField(max_length=100, blank=True)
    landing_url = models.TextField(blank=True)
    referring_site = models.TextField(blank=True)
    # Stock defence (issue 19): who holds it, as a keyed hash of the visitor's cookie, and the
    # network (/24 or /64) it came from; never the full address.
    visitor = models.CharField(max_length=64, blank=True)
    network = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="sales_reservation_quantity_gte_1"
            )
        ]
        indexes = [
            models.Index(
                fields=["network", "created_at"],
                condition=~Q(network=""),
                name="sales_reservation_network",
            ),
            models.Index(
                fields=["visitor"],
                condition=Q(status="active") & ~Q(visitor=""),
                name="sales_reservation_visitor",
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active"),
                name="sales_reservation_active_exp",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.variant.sku} ({self.get_status_display()})"


class ReservationEvent(models.Model):
    """Append-only audit of a reservation's moves."""

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["reservation", "at", "pk"]

    def __str__(self):
        return f"{self.action} {self.from_status or '∅'} → {self.to_status}"


from sales.fulfilment_models import *  # noqa: E402,F403 - fulfilment and stock defence
from sales.ledger_models import *  # noqa: E402,F403 - the ledger's models, in their own module
from sales.payout_models import *  # noqa: E402,F403 - payouts, in their own module
from sales.reconciliation_models import *  # noqa: E402,F403 - reconciliation, in its own module
