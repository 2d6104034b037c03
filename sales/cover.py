"""Days of cover (issue 19): reads only.

Per variant:
- sold over the last 7 and 28 days: units on lines of orders paid in that window (cancelled
  and unpaid orders never count), net of the units refunded on those same lines, whenever the
  refund came (a sale refunded is not a sale);
- velocity: those units a day (7-day and 28-day);
- days left: free stock (on hand minus units sold and not yet shipped) divided by the faster
  of the two velocities, so a spike this week is not averaged away; none when nothing sells;
- reorder: days left below the product's `reorder_days` (or REORDER_DAYS).
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from catalog.models import Variant
from sales.models import Order, OrderLine, RefundLine

NOT_SALES = [Order.Status.PENDING, Order.Status.CANCELLED]


@dataclass
class Cover:
    variant_id: int
    product_id: int
    sku: str
    product: str
    option: str
    stock: int
    sold_7: int
    sold_28: int
    velocity_7: Decimal
    velocity_28: Decimal
    days_left: Decimal | None
    threshold: int
    reorder: bool

    def as_row(self) -> list:
        return [
            self.sku, self.product, self.option, self.stock, self.sold_7, self.sold_28,
            self.velocity_7, self.velocity_28,
            "" if self.days_left is None else self.days_left, self.threshold,
            "yes" if self.reorder else "no",
        ]  # fmt: skip


CSV_HEADER = [
    "sku", "product", "option", "free_stock", "sold_7d", "sold_28d", "per_day_7d",
    "per_day_28d", "days_left", "reorder_below_days", "reorder",
]  # fmt: skip


def _per_day(units: int, days: int) -> Decimal:
    return (Decimal(units) / days).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def net_sold(variant_ids=None, *, now=None) -> dict[int, tuple[int, int]]:
    """{variant id: (net units sold in 7 days, in 28 days)}."""
    now = now or timezone.now()
    week, month = now - timedelta(days=7), now - timedelta(days=28)
    lines = OrderLine.objects.filter(
        variant__isnull=False, order__paid_at__gte=month, order__paid_at__lte=now
    ).exclude(order__status__in=NOT_SALES)
    refunds = RefundLine.objects.filter(
        line__variant__isnull=False, line__order__paid_at__gte=month, line__order__paid_at__lte=now
    ).exclude(line__order__status__in=NOT_SALES)
    if variant_ids is not None:
        lines = lines.filter(variant_id__in=variant_ids)
        refunds = refunds.filter(line__variant_id__in=variant_ids)
    sold = {
        row["variant_id"]: [row["week"] or 0, row["month"] or 0]
        for row in lines.values("variant_id").annotate(
            week=Sum("quantity", filter=Q(order__paid_at__gte=week)), month=Sum("quantity")
        )
    }
    for row in refunds.values("line__variant_id").annotate(
        week=Sum("quantity", filter=Q(line__order__paid_at__gte=week)), month=Sum("quantity")
    ):
        counts = sold.setdefault(row["line__variant_id"], [0, 0])
        counts[0] -= row["week"] or 0
        counts[1] -= row["month"] or 0
    return {pk: (max(0, w), max(0, m)) for pk, (w, m) in sold.items()}


def _cover(variant: Variant, sold: tuple[int, int]) -> Cover:
    week, month = sold
    velocity_7, velocity_28 = _per_day(week, 7), _per_day(month, 28)
    free = max(0, variant.stock_on_hand - variant.stock_committed)
    rate = max(Decimal(week) / 7, Decimal(month) / 28)
    days = None if rate == 0 else (Decimal(free) / rate).quantize(Decimal("0.1"))
    threshold = variant.product.reorder_days
    if threshold is None:
        threshold = settings.REORDER_DAYS
    return Cover(
        variant_id=variant.pk, product_id=variant.product_id, sku=variant.sku,
        product=variant.product.title, option=variant.option_label, stock=free,
        sold_7=week, sold_28=month, velocity_7=velocity_7, velocity_28=velocity_28,
        days_left=days, threshold=threshold, reorder=days is not None and days < threshold,
    )  # fmt: skip


def product_cover(product_id: int, *, now=None) -> list[Cover]:
    variants = list(
        Variant.objects.filter(product_id=product_id)
        .select_related("product")
        .order_by("position", "pk")
    )
    sold = net_sold([v.pk for v in variants], now=now)
    return [_cover(v, sold.get(v.pk, (0, 0))) for v in variants]


def low_stock(*, now=None, limit: int = 1000) -> list[Cover]:
    """Active variants to reorder, fewest days left first."""
    sold = net_sold(now=now)
    variants = (
        Variant.objects.filter(pk__in=list(sold), active=True, product__active=True)
        .select_related("product")
        .order_by("pk")
    )
    flagged = [c for c in (_cover(v, sold[v.pk]) for v in variants) if c.reorder]
    flagged.sort(key=lambda c: (c.days_left, c.sku))
    return flagged[:limit]
