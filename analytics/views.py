"""The console's dashboards: the home page and the per link, creator, content and product
pages. Everything shown comes from the rollups (`analytics.selectors`); each table can be
downloaded as CSV (`?csv=<table>`, same range)."""

import csv
from dataclasses import dataclass, field

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode

from analytics import charts, selectors
from analytics.selectors import RANGES, Range, Row
from catalog.models import Product
from core.errors import ApplicationError
from core.money import currencies_are_mixed, format_money, from_minor
from creators.models import Creator
from links.models import ShortLink
from previews.models import LinkPreview
from sales.models import SalesChannel
from ugc.models import UGCItem

PERMISSION = "analytics.view_rollup"
HOME_TABLES = [
    ("link", "Top links"),
    ("creator", "Top creators"),
    ("content", "Top content"),
    ("preview", "Top external previews"),
    ("product", "Top products"),
    ("channel", "Revenue by channel"),
    ("country", "By country"),
    ("device", "By device"),
    ("source", "By source"),
]
ENTITIES = {
    "link": (ShortLink, "Link"),
    "creator": (Creator, "Creator"),
    "content": (UGCItem, "Content"),
    "product": (Product, "Product"),
}


def can_view(request) -> bool:
    return request.user.is_active and request.user.has_perm(PERMISSION)


# -- formatting ---------------------------------------------------------------------------


def money(amounts: dict[str, int]) -> str:
    """Minor units per currency, each in its own currency: `US$12.00 · €3.50`."""
    if not amounts:
        return "–"
    mixed = currencies_are_mixed(amounts)
    return " · ".join(
        format_money(from_minor(amount, currency), currency, unambiguous=mixed)
        for currency, amount in sorted(amounts.items())
    )


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


def change(now: float, before: float) -> str:
    if not before:
        return "new" if now else ""
    return f"{100 * (now - before) / before:+.0f} %"


# -- the range control --------------------------------------------------------------------


def period_of(request) -> Range:
    try:
        return selectors.parse_range(request.GET)
    except ApplicationError as error:
        messages.error(request, f"{error.message} Showing {RANGES[selectors.DEFAULT_RANGE]}.")
        return selectors.parse_range({})


def range_links(request, period: Range) -> list[dict]:
    return [
        {"key": key, "label": label, "url": "?" + urlencode({"range": key}),
         "active": key == period.key}
        for key, label in RANGES.items() if key != "custom"
    ]  # fmt: skip


# -- what a page shows ----------------------------------------------------------------------


@dataclass
class Table:
    name: str
    title: str
    rows: list[Row]
    csv_url: str = ""
    max_clicks: int = 0
    first_column: str = ""
    cells: list = field(default_factory=list)


def kpis(series: selectors.Series) -> list[dict]:
    """The period's numbers beside the previous period's."""

    def money_of(metric_fn, previous=False):
        return {c: metric_fn(c, previous) for c in series.currencies}

    def net(c, previous):
        return series.total("revenue", previous=previous, currency=c) + series.total(
            "refunds", previous=previous, currency=c
        )

    def commission(c, previous):
        return series.total("commission", previous=previous, currency=c)

    clicks = series.total("clicks")
    clicks_before = series.total("clicks", previous=True)
    orders = sum(series.total("orders", currency=c) for c in series.currencies)
    orders_before = sum(
        series.total("orders", previous=True, currency=c) for c in series.currencies
    )
    net_now, net_before = money_of(net), money_of(net, True)
    per_click = {c: round(v / clicks) for c, v in net_now.items()} if clicks else {}
    return [
        {"label": "Clicks", "value": f"{clicks:,}", "change": change(clicks, clicks_before),
         "note": f"{series.total('unique_clicks'):,} unique · "
                 f"{series.total('bot_clicks'):,} bots and unfurls"},
        {"label": "Orders", "value": f"{orders:,}", "change": change(orders, orders_before),
         "note": f"previous period {orders_before:,}"},
        {"label": "Net revenue", "value": money(net_now),
         "change": _money_change(net_now, net_before), "note": "refunds subtracted"},
        {"label": "Conversion rate", "value": percent(orders, clicks),
         "note": f"previous period {percent(orders_before, clicks_before)}"},
        {"label": "Commission", "value": money(money_of(commission)),
         "note": "earned less reversals and clawbacks"},
        {"label": "Revenue per click", "value": money(per_click), "note": "net revenue ÷ clicks"},
    ]  # fmt: skip


def _money_change(now: dict, before: dict) -> str:
    if len(now) != 1:
        return ""
    (currency,) = now
    return change(now[currency], before.get(currency, 0))


def funnel(series: selectors.Series) -> list[dict]:
    clicks = series.total("clicks")
    orders = sum(series.total("orders", currency=c) for c in series.currencies)
    net = {
        c: series.total("revenue", currency=c) + series.total("refunds", currency=c)
        for c in series.currencies
    }
    commission = {c: series.total("commission", currency=c) for c in series.currencies}
    return [
        {"label": "Clicks", "value": f"{clicks:,}", "rate": ""},
        {"label": "Orders", "value": f"{orders:,}", "rate": percent(orders, clicks)},
        {"label": "Net revenue", "value": money(net), "rate": ""},
        {"label": "Commission", "value": money(commission), "rate": ""},
    ]


def chart_set(series: selectors.Series, period: Range) -> list[dict]:
    """Clicks, orders and net revenue (in the main currency) over time, previous dashed."""
    out = []

    def add(title, metric_of, fmt):
        out.append({
            "title": title,
            "svg": charts.line_chart(
                title=title, buckets=series.buckets, hourly=series.hourly, fmt=fmt,
                current=[metric_of(row) for row in series.current],
                previous=[metric_of(row) for row in series.previous],
            ),
        })  # fmt: skip

    add("Clicks", lambda row: row.get(("clicks", ""), 0), lambda v: f"{v:,.0f}")
    add(
        "Orders",
        lambda row: sum(v for (m, _c), v in row.items() if m == "orders"),
        lambda v: f"{v:,.1f}".rstrip("0").rstrip("."),
    )
    if series.currencies:
        main = max(series.currencies, key=lambda c: series.total("revenue", currency=c))
        add(
            f"Net revenue ({main})",
            lambda row: row.get(("revenue", main), 0) + row.get(("refunds", main), 0),
            lambda v: format_money(from_minor(int(v), main), main),
        )
    return out


def label_rows(tables: dict[str, list[Row]]) -> None:
    """Names and console links for every row (one query per kind of name)."""

    def ids(dim):
        return [int(r.key) for r in tables.get(dim, []) if r.key.isdigit()]

    def admin_url(name, pk):
        try:
            return reverse(name, args=[pk])
        except NoReverseMatch:
            return ""

    links = {
        link.pk: link
        for link in ShortLink.objects.filter(pk__in=ids("link")).select_related("product")
    }
    creators = dict(Creator.objects.filter(pk__in=ids("creator")).values_list("pk", "handle"))
    products = dict(Product.objects.filter(pk__in=ids("product")).values_list("pk", "title"))
    contents = {item.pk: str(item) for item in UGCItem.objects.filter(pk__in=ids("content"))}
    channels = dict(SalesChannel.objects.filter(pk__in=ids("channel")).values_list("pk", "name"))
    urls = [r.key for r in tables.get("preview", [])]
    previews = dict(
        LinkPreview.objects.filter(url__in=urls).values_list("url", "title") if urls else []
    )
    for dim, rows in tables.items():
        for row in rows:
            pk = int(row.key) if row.key.isdigit() else None
            if dim == "link" and pk in links:
                link = links[pk]
                row.label = f"/p/{link.code} → {link.destination_label}"
                row.url = reverse("analytics:link", args=[pk])
            elif dim == "creator" and pk in creators:
                row.label, row.url = f"@{creators[pk]}", reverse("analytics:creator", args=[pk])
            elif dim == "product" and pk in products:
                row.label, row.url = products[pk], reverse("analytics:product", args=[pk])
            elif dim == "content" and pk in contents:
                row.label, row.url = contents[pk], reverse("analytics:content", args=[pk])
            elif dim == "channel" and pk in channels:
                row.label = channels[pk]
                row.url = admin_url("admin:sales_saleschannel_change", pk)
            elif dim == "preview":
                row.label = previews.get(row.key) or row.key
            else:
                row.label = {"-": "Unknown"}.get(row.key, row.key)
            if dim != "link" and not row.label:
                row.label = f"#{row.key} (deleted)"


def table_cells(table: Table) -> None:
    table.max_clicks = max([r.clicks for r in table.rows] or [0])
    for row in table.rows:
        table.cells.append({
            "row": row,
            "bar": charts.bar(row.clicks, table.max_clicks),
            "conversion": percent(row.orders, row.clicks),
            "net": money({c: m["net"] for c, m in row.money.items()}),
            "commission": money({c: m["commission"] for c, m in row.money.items()}),
        })  # fmt: skip


def csv_response(name: str, table: Table, period: Range) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"{name}-{period.first:%Y%m%d}-{period.last:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([table.first_column or "value", "key", "clicks", "unique clicks",
                     "bot clicks", "orders", "currency", "revenue", "refunds", "net revenue",
                     "commission"])  # fmt: skip
    for row in table.rows:
        base = [row.label, row.key, row.clicks, row.unique_clicks, row.bot_clicks, row.orders]
        if not row.money:
            writer.writerow([*base, "", "", "", "", ""])
        for currency, amounts in sorted(row.money.items()):
            writer.writerow([
                *base, currency,
                *(from_minor(amounts[k], currency) for k in ("revenue", "refunds", "net",
                                                            "commission")),
            ])  # fmt: skip
    return response


def day_table(series: selectors.Series, period: Range) -> Table:
    """The series as a table: one row per day (or hour), the CSV of the chart."""
    rows = []
    for bucket, values in zip(series.buckets, series.current, strict=True):
        row = Row(dim="day", key=bucket.strftime("%Y-%m-%d %H:00" if series.hourly else "%Y-%m-%d"))
        row.label = row.key
        row.clicks = values.get(("clicks", ""), 0)
        row.unique_clicks = values.get(("unique_clicks", ""), 0)
        row.bot_clicks = values.get(("bot_clicks", ""), 0)
        for currency in series.currencies:
            row.orders += values.get(("orders", currency), 0)
            revenue = values.get(("revenue", currency), 0)
            refunds = values.get(("refunds", currency), 0)
            commission = values.get(("commission", currency), 0)
            if revenue or refunds or commission:
                row.money[currency] = {
                    "revenue": revenue, "refunds": refunds, "net": revenue + refunds,
                    "commission": commission,
                }  # fmt: skip
        rows.append(row)
    return Table("days", "Hour by hour" if series.hourly else "Day by day", rows,
                 first_column="hour" if series.hourly else "day")  # fmt: skip


def _finish(request, tables: list[Table], period: Range):
    """Cells and CSV links of every table; the CSV itself when one is asked for."""
    query = request.GET.copy()
    for table in tables:
        query["csv"] = table.name
        table.csv_url = "?" + query.urlencode()
        table_cells(table)
    wanted = request.GET.get("csv")
    if wanted:
        for table in tables:
            if table.name == wanted:
                return csv_response(table.name, table, period)
        raise Http404(f"No table {wanted!r} on this page.")
    return None


# -- pages ----------------------------------------------------------------------------------


def home(request, extra_context=None):
    """The console's home: the dashboard for those who may see it, the app list for all."""
    if not can_view(request):
        return admin.site.index(request, extra_context)
    period = period_of(request)
    series = selectors.series(period)
    tops = selectors.top(period, [dim for dim, _ in HOME_TABLES])
    label_rows(tops)
    tables = [Table(dim, title, tops[dim], first_column=dim) for dim, title in HOME_TABLES]
    csv = _finish(request, tables, period)
    if csv:
        return csv
    context = {
        **(extra_context or {}),
        **common(request, period, series),
        "tables": tables,
        "attention": selectors.attention(),
        "owed": [
            {
                "currency": c,
                "pending": money({c: k["pending"]}),
                "available": money({c: k["available"]}),
                "paid": money({c: k["paid"]}),
            }
            for c, k in selectors.commission_owed().items()
        ],  # fmt: skip
    }
    response = admin.site.index(request, context)
    response.template_name = "admin/analytics/home.html"
    return response


def common(request, period: Range, series) -> dict:
    return {
        "period": period,
        "range_links": range_links(request, period),
        "kpis": kpis(series),
        "charts": chart_set(series, period),
        "funnel": funnel(series),
        "time_zone": selectors.zone().key,
    }


def entity(request, dim: str, pk: int):
    """Analytics of one link, creator, content item or product."""
    if not can_view(request):
        raise PermissionDenied
    model, noun = ENTITIES[dim]
    obj = get_object_or_404(model, pk=pk)
    period = period_of(request)
    series = selectors.series(period, dim=dim, keys=[str(pk)])
    tables = [day_table(series, period)]
    if dim != "link":
        link_ids = [str(i) for i in _links_of(dim, pk)]
        rows = selectors.top(period, ["link"], keys=link_ids, limit=100)
        label_rows(rows)
        tables.insert(0, Table("links", "Its links", rows["link"], first_column="link"))
    csv = _finish(request, tables, period)
    if csv:
        return csv
    context = {
        **admin.site.each_context(request),
        **common(request, period, series),
        "title": f"{noun}: {_name(dim, obj)}",
        "subtitle": "Analytics",
        "object": obj,
        "noun": noun,
        "tables": tables,
        "console_url": _console_url(dim, obj),
        "related": _related(dim, obj),
    }
    return TemplateResponse(request, "admin/analytics/entity.html", context)


def _links_of(dim: str, pk: int) -> list[int]:
    if dim == "creator":
        return list(ShortLink.objects.filter(creator_id=pk).values_list("pk", flat=True))
    if dim == "product":
        return list(ShortLink.objects.filter(product_id=pk).values_list("pk", flat=True))
    return list(ShortLink.objects.filter(ugc_item_link__item_id=pk).values_list("pk", flat=True))


def _name(dim: str, obj) -> str:
    if dim == "creator":
        return f"@{obj.handle}"
    if dim == "link":
        return f"/p/{obj.code}"
    return str(obj)


def _console_url(dim: str, obj) -> str:
    names = {
        "link": "admin:links_shortlink_change",
        "creator": "admin:creators_creator_change",
        "content": "admin:ugc_ugcitem_change",
        "product": "admin:catalog_product_change",
    }
    try:
        return reverse(names[dim], args=[obj.pk])
    except NoReverseMatch:
        return ""


def _related(dim: str, obj) -> list[dict]:
    if dim != "link":
        return []
    related = [{"label": f"Destination: {obj.destination_label}", "url": ""}]
    if obj.creator_id:
        related.append({"label": f"Creator @{obj.creator.handle}",
                        "url": reverse("analytics:creator", args=[obj.creator_id])})  # fmt: skip
    if obj.product_id:
        related.append({"label": f"Product {obj.product}",
                        "url": reverse("analytics:product", args=[obj.product_id])})  # fmt: skip
    return related
