"""Product requests (issue 18): a creator asks the shop for a product sample to make content
with; the merchant approves or declines it in the console. The content that comes back is the
creator's UGC mapped to that product after the approval (read by the portal and the console;
creators sits below ugc and never reads it). Writes are in `creators/samples.py`."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Product, Variant
from creators.models import Creator


class ProductRequest(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", "Waiting for the shop"
        APPROVED = "approved", "Approved: the sample is on its way"
        DECLINED = "declined", "Declined"

    creator = models.ForeignKey(Creator, on_delete=models.CASCADE, related_name="product_requests")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="sample_requests")
    variant = models.ForeignKey(
        Variant, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(max_length=1000, help_text="What the creator plans to make.")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.REQUESTED, db_index=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, help_text="Shown to the creator.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["creator", "product"],
                condition=Q(status="requested"),
                name="creators_productrequest_one_open",
                violation_error_message="You have asked for this product already.",
            )
        ]

    def __str__(self):
        return f"{self.creator} asks for {self.product}"
