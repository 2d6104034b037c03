"""Rollups: the dashboard's numbers per hour, day and month, built from the facts.

Facts stay where they are (clicks in `links`, orders and refunds in `sales`, commissions in
the ledger). `analytics.rollups` folds them into `Rollup` rows; dashboards read only these.

A row is one bucket (an hour, a day or a month of the merchant's time zone,
`DASHBOARD_TIME_ZONE`) of one dimension value (a link, a creator, a country, ...) in one
currency ("" for rows that hold only clicks). Money is in the currency's minor units. Refunds
and commission reversals and clawbacks are negative amounts in the bucket where they
happened, so a sum over any range is that range's net.

Month rows and week rows (the days 1-7, 8-14, 15-21 and 22-28 of a month) are the sums of
their days' rows, quarter rows the sums of their months' rows, kept in step by the fold (the
same transaction that writes the days), so that a long range reads a row per value per whole
quarter or month, a row per whole week of a month at its ragged edges, and daily rows only
for the few days left.
"""

from django.db import models
from django.db.models import Q


class Rollup(models.Model):
    class Grain(models.TextChoices):
        HOUR = "h", "Hour"
        DAY = "d", "Day"
        MONTH = "m", "Month"
        WEEK = "w", "Week of a month"  # days 1-7, 8-14, 15-21 or 22-28
        QUARTER = "q", "Quarter"

    class Dim(models.TextChoices):
        TOTAL = "total", "Everything"
        LINK = "link", "Link"
        CREATOR = "creator", "Creator"
        CONTENT = "content", "Content"
        PRODUCT = "product", "Product"
        PREVIEW = "preview", "External preview"
        CHANNEL = "channel", "Sales channel"
        COUNTRY = "country", "Country"
        DEVICE = "device", "Device"
        SOURCE = "source", "Source"

    grain = models.CharField(max_length=1, choices=Grain.choices)
    dim = models.CharField(max_length=10, choices=Dim.choices)
    key = models.CharField(max_length=500, blank=True, help_text="The value: an id, a code.")
    currency = models.CharField(max_length=3, blank=True)
    bucket = models.DateTimeField(
        help_text="The start of the hour, or of the local day, week of a month, month or quarter."
    )
    clicks = models.BigIntegerField(default=0, help_text="Human clicks.")
    unique_clicks = models.BigIntegerField(default=0)
    bot_clicks = models.BigIntegerField(default=0, help_text="Bots and link unfurls.")
    orders = models.BigIntegerField(default=0)
    revenue = models.BigIntegerField(default=0, help_text="Order totals, minor units.")
    refunds = models.BigIntegerField(default=0, help_text="Refunds, negative minor units.")
    commission = models.BigIntegerField(
        default=0, help_text="Commission earned less reversals and clawbacks, minor units."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "dim", "key", "currency", "bucket"],
                name="analytics_rollup_unique",
            ),
            models.CheckConstraint(
                condition=Q(refunds__lte=0), name="analytics_rollup_refunds_lte_0"
            ),
        ]
        indexes = [
            # The top tables: every value of one dimension over a range of days.
            models.Index(fields=["grain", "dim", "bucket"], name="analytics_rollup_dim_time"),
        ]

    def __str__(self):
        where = f"{self.dim}={self.key or '*'} {self.currency}"
        return f"{where} {self.grain}@{self.bucket:%Y-%m-%d %H:%M}"

    @property
    def net_revenue(self) -> int:
        return self.revenue + self.refunds


class RollupWatermark(models.Model):
    """How far each fact stream has been folded in: the last click id and ledger transaction
    id, and the time up to which orders, refunds and attributions were looked at."""

    name = models.CharField(max_length=40, unique=True)
    last_id = models.BigIntegerField(default=0)
    last_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.name}: {self.last_id} / {self.last_at}"
