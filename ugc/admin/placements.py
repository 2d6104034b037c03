"""Which placement sells: the console report of UGC by placement, and each item's funnel
(view → product click → add to cart → purchase).

Views, clicks and add-to-carts are the feed metrics (`UGCMetricDaily`, per placement);
purchases and revenue are the orders credited through the item (`Attribution.content_*`),
revenue added up per currency, never across currencies.
"""

from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from attribution.selectors import content_purchases
from core.money import format_money
from ugc.models import Placement, UGCItem
from ugc.selectors import placement_funnel

PERIODS = (7, 30, 90)
NO_PLACEMENT = "Not recorded"


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _empty() -> dict:
    return {"impressions": 0, "clicks": 0, "add_to_carts": 0, "orders": 0, "revenue": {}}


def _finish(row: dict) -> dict:
    row["click_rate"] = _rate(row["clicks"], row["impressions"])
    row["cart_rate"] = _rate(row["add_to_carts"], row["clicks"])
    row["purchase_rate"] = _rate(row["orders"], row["add_to_carts"])
    row["revenue_text"] = (
        ", ".join(
            format_money(amount, currency) for currency, amount in sorted(row["revenue"].items())
        )
        or "–"
    )
    return row


def placement_report(*, days: int) -> dict:
    """{"placements": [...], "items": [...]} for the last `days` days."""
    since = timezone.now() - timedelta(days=days)
    by_item: dict[tuple[int, str], dict] = {}
    for row in placement_funnel(since=since.date()):
        entry = by_item.setdefault((row["item_id"], row["placement"]), _empty())
        for field in ("impressions", "clicks", "add_to_carts"):
            entry[field] += row[field] or 0
    for row in content_purchases(since=since):
        entry = by_item.setdefault((row["content_item_id"], row["content_placement"]), _empty())
        entry["orders"] += row["orders"]
        revenue = entry["revenue"]
        revenue[row["currency"]] = revenue.get(row["currency"], Decimal(0)) + (
            row["revenue"] or Decimal(0)
        )
    labels = dict(Placement.choices)
    by_placement: dict[str, dict] = {}
    for (_item_id, placement), entry in by_item.items():
        total = by_placement.setdefault(placement, _empty())
        for field in ("impressions", "clicks", "add_to_carts", "orders"):
            total[field] += entry[field]
        for currency, amount in entry["revenue"].items():
            total["revenue"][currency] = total["revenue"].get(currency, Decimal(0)) + amount
    placements = [
        _finish({**total, "placement": labels.get(placement, NO_PLACEMENT)})
        for placement, total in sorted(by_placement.items(), key=lambda kv: -kv[1]["orders"])
    ]
    items = {item.pk: item for item in UGCItem.objects.filter(pk__in={key[0] for key in by_item})}
    rows = [
        _finish(
            {
                **entry,
                "item": items.get(item_id),
                "item_id": item_id,
                "placement": labels.get(placement, NO_PLACEMENT),
            }
        )  # fmt: skip
        for (item_id, placement), entry in by_item.items()
    ]
    rows.sort(key=lambda r: (-r["orders"], -r["add_to_carts"], -r["clicks"], -r["impressions"]))
    return {"placements": placements, "items": rows[:200]}


def placement_report_view(model_admin, request):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in PERIODS else 30
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "UGC by placement: which placement sells",
        "days": days,
        "periods": PERIODS,
        **placement_report(days=days),
    }
    return TemplateResponse(request, "admin/ugc/placement_report.html", context)
