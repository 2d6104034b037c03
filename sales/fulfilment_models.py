"""Fulfilment (issue 19): parcels with a carrier and tracking number, the lines and quantities
each holds, their push back to the channel the order came from, and their delivery.

Stock defence (issue 19): throttling rules on a network that hoards reservations, and the
alerts (with their evidence) the anomaly job raises for the merchant.

Workflows live in `sales/fulfilment.py` and `sales/defence.py`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = [
    "Fulfilment",
    "FulfilmentLine",
    "FulfilmentEvent",
    "ReservationThrottle",
    "StockAlert",
]


class Fulfilment(models.Model):
    """One parcel of an order: some quantity of some lines, a carrier and a tracking number."""

    class Source(models.TextChoices):
        CONSOLE = "console", "Console"
        CSV = "csv", "CSV upload"
        API = "api", "API"
        CHANNEL = "channel", "The channel's webhook"

    class Status(models.TextChoices):
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"

    class Push(models.TextChoices):
        NOT_NEEDED = "not_needed", "Not needed (the channel has it)"
        PENDING = "pending", "Waiting to be sent"
        PUSHED = "pushed", "Accepted by the channel"
        FAILED = "failed", "Failed, retried with backoff"
        REFUSED = "refused", "Refused by the channel"

    order = models.ForeignKey("sales.Order", on_delete=models.CASCADE, related_name="fulfilments")
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(
        max_length=255, blank=True, help_text="The channel's fulfilment or package id."
    )
    carrier = models.CharField(max_length=40, help_text="A carrier code (sales/carriers.py).")
    tracking_number = models.CharField(max_length=100)
    tracking_url = models.URLField(max_length=500, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.SHIPPED, db_index=True
    )
    shipped_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    tracking_checked_at = models.DateTimeField(null=True, blank=True)
    tracking_status = models.CharField(max_length=40, blank=True)
    push_state = models.CharField(
        max_length=12, choices=Push.choices, default=Push.NOT_NEEDED, db_index=True
    )
    push_message = models.TextField(blank=True)
    push_attempts = models.PositiveIntegerField(default=0)
    push_next_at = models.DateTimeField(null=True, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "shipped_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "external_id"],
                condition=~Q(external_id=""),
                name="sales_fulfilment_external_unique",
            ),
            models.UniqueConstraint(
                fields=["order", "carrier", "tracking_number"],
                name="sales_fulfilment_tracking_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["push_next_at"],
                condition=Q(push_state__in=["pending", "failed"]),
                name="sales_fulfilment_push_due",
            ),
            models.Index(
                fields=["tracking_checked_at"],
                condition=Q(status="shipped"),
                name="sales_fulfilment_in_transit",
            ),
        ]

    def __str__(self):
        return f"{self.carrier.upper()} {self.tracking_number}"


class FulfilmentLine(models.Model):
    fulfilment = models.ForeignKey(Fulfilment, on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(
        "sales.OrderLine", on_delete=models.CASCADE, related_name="fulfilment_lines"
    )
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["fulfilment", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="sales_fulfilmentline_quantity_gte_1"
            ),
            models.UniqueConstraint(
                fields=["fulfilment", "line"], name="sales_fulfilmentline_once"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.line.sku}"


class FulfilmentEvent(models.Model):
    """Append-only audit of a parcel: created, pushed, refused, delivered."""

    fulfilment = models.ForeignKey(Fulfilment, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=20)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["fulfilment", "at", "pk"]

    def __str__(self):
        return f"{self.action}: {self.reason[:60]}"


class ReservationThrottle(models.Model):
    """A rule the anomaly job (or the merchant) put on one network: while active, its
    reservations expire sooner and it may hold fewer at once."""

    network = models.CharField(max_length=64, help_text="A /24 (IPv4) or /64 (IPv6) network.")
    max_active = models.PositiveIntegerField()
    ttl_seconds = models.PositiveIntegerField()
    reason = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["network", "expires_at"], name="sales_throttle_net_exp")]

    def __str__(self):
        return f"{self.network}: ≤{self.max_active} held, {self.ttl_seconds}s"

    @property
    def active(self) -> bool:
        return self.lifted_at is None and self.expires_at > timezone.now()


class StockAlert(models.Model):
    """What the anomaly job saw, for the merchant: a rule that tripped and its evidence."""

    class Kind(models.TextChoices):
        NETWORK_HOARDING = "network_hoarding", "A network reserves many products, pays none"
        PRODUCT_EXPIRIES = "product_expiries", "A product's reservations expire unpaid"

    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    product = models.ForeignKey(
        "catalog.Product", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    network = models.CharField(max_length=64, blank=True)
    message = models.TextField()
    evidence = models.JSONField(default=dict)
    throttle = models.ForeignKey(
        ReservationThrottle, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.message[:80]
