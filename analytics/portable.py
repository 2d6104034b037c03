"""The rollups of one window computed in Python, for databases other than PostgreSQL (the
embedded SQLite of `make run`). Same facts, same rules, same rows as the SQL in
`analytics.rollups` (a test computes both on PostgreSQL and compares them); it reads every
fact of the window into memory, which suits a demo, not ten million clicks."""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Q

from analytics.models import Rollup
from attribution.models import Attribution
from core.money import quantize, to_minor
from links.models import ClickEvent, ShortLink
from sales.ledger_models import LedgerAccount, LedgerEntry
from sales.models import Order, OrderLine, Refund, RefundLine
from ugc.models import UGCItemLink

HOURLY_DIMS = {"total", "channel", "country", "device", "source"}  # as analytics.rollups
METRICS = ("clicks", "unique_clicks", "bot_clicks", "orders", "revenue", "refunds", "commission")


def _minor(amount, currency: str) -> int:
    return to_minor(quantize(amount, currency), currency)


class _Rows:
    """Rows being summed: (grain, dim, key, currency, bucket) -> metrics."""

    def __init__(self, tz):
        self.tz = tz
        self.rows = defaultdict(lambda: dict.fromkeys(METRICS, 0))

    def buckets(self, at: datetime) -> list[tuple[str, datetime]]:
        local = at.astimezone(self.tz)
        hour = local.replace(minute=0, second=0, microsecond=0)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return [("h", hour), ("d", day)]

    def add(self, at, currency: str, dims: dict, **metrics) -> None:
        for grain, bucket in self.buckets(at):
            for dim, key in dims.items():
                if key is None or (grain == "h" and dim not in HOURLY_DIMS):
                    continue
                row = self.rows[(grain, dim, str(key), currency, bucket)]
                for metric, value in metrics.items():
                    row[metric] += value


def _source(click) -> str:
    if click is None:
        return None
    return click["utm_source"] or click["referrer_host"] or ("qr" if click["is_qr"] else "direct")


def _order_dims(order, attribution, click, urls) -> dict:
    if click is not None:
        source = _source(click)
    else:
        source = "code" if attribution and attribution["rule"] == "code" else "direct"
    link_id = click["link_id"] if click else None
    return {
        "total": "",
        "link": link_id,
        "creator": attribution["creator_id"] if attribution else None,
        "content": attribution["ugc_item_id"] if attribution else None,
        "preview": (urls.get(link_id) or "")[:500] or None,
        "channel": order["channel_id"] if order else None,
        "country": (order["country"] if order else "") or "-",
        "device": (click["device_type"] if click else "") or "-",
        "source": source,
    }


def window_rows(lo: datetime, hi: datetime, *, ledger_wm: int, tz) -> list[Rollup]:
    rows = _Rows(tz)
    urls = dict(ShortLink.objects.exclude(url="").values_list("pk", "url"))
    items = dict(UGCItemLink.objects.values_list("short_link_id", "item_id"))
    _clicks(rows, lo, hi, urls, items)
    counted = Q(paid_at__isnull=False) & ~Q(status=Order.Status.CANCELLED)
    every_order = {o["pk"]: o for o in Order.objects.values("pk", "channel_id", "country")}
    orders = set(Order.objects.filter(counted).values_list("pk", flat=True))
    attributions = {
        a["order_id"]: a
        for a in Attribution.objects.values(
            "order_id", "creator_id", "ugc_item_id", "click_id", "rule"
        )
    }
    click_ids = [a["click_id"] for a in attributions.values() if a["click_id"]]
    clicks = {
        c["click_id"]: c
        for c in ClickEvent.objects.filter(click_id__in=click_ids).values(
            "click_id", "link_id", "device_type", "utm_source", "referrer_host", "is_qr"
        )
    }

    def dims_of(order_id):
        attribution = attributions.get(order_id)
        click = clicks.get(attribution["click_id"]) if attribution else None
        return _order_dims(every_order.get(order_id), attribution, click, urls)

    window = {"lo": lo, "hi": hi}
    _orders(rows, orders, dims_of, **window)
    _refunds(rows, orders, dims_of, **window)
    _commission(rows, dims_of, ledger_wm=ledger_wm, **window)
    return [
        Rollup(grain=g, dim=d, key=k, currency=c, bucket=b, **metrics)
        for (g, d, k, c, b), metrics in rows.rows.items()
    ]


def _clicks(rows, lo, hi, urls, items) -> None:
    fields = ("link_id", "creator_id", "product_id", "country", "device_type", "utm_source",
              "referrer_host", "is_qr", "is_bot", "is_unique", "clicked_at")  # fmt: skip
    for c in ClickEvent.objects.filter(clicked_at__gte=lo, clicked_at__lt=hi).values(*fields):
        dims = {
            "total": "", "link": c["link_id"], "creator": c["creator_id"],
            "product": c["product_id"], "content": items.get(c["link_id"]),
            "preview": (urls.get(c["link_id"]) or "")[:500] or None,
            "country": c["country"] or "-", "device": c["device_type"] or "-",
            "source": _source(c),
        }  # fmt: skip
        rows.add(
            c["clicked_at"], "", dims,
            clicks=int(not c["is_bot"]), unique_clicks=int(c["is_unique"] and not c["is_bot"]),
            bot_clicks=int(c["is_bot"]),
        )  # fmt: skip


def _orders(rows, orders, dims_of, *, lo, hi) -> None:
    for o in Order.objects.filter(pk__in=orders, placed_at__gte=lo, placed_at__lt=hi).values(
        "pk", "currency", "total", "placed_at"
    ):
        rows.add(o["placed_at"], o["currency"], dims_of(o["pk"]), orders=1,
                 revenue=_minor(o["total"], o["currency"]))  # fmt: skip
    per_product = defaultdict(lambda: [None, None, 0])
    lines = OrderLine.objects.filter(
        order_id__in=orders, order__placed_at__gte=lo, order__placed_at__lt=hi,
        product_id__isnull=False,
    ).values("order_id", "product_id", "total", "order__currency", "order__placed_at")  # fmt: skip
    for line in lines:
        entry = per_product[(line["order_id"], line["product_id"])]
        entry[0], entry[1] = line["order__placed_at"], line["order__currency"]
        entry[2] += line["total"]
    for (_order, product), (at, currency, total) in per_product.items():
        rows.add(at, currency, {"product": product}, orders=1, revenue=_minor(total, currency))


def _refunds(rows, orders, dims_of, *, lo, hi) -> None:
    refunds = Refund.objects.filter(order_id__in=orders, refunded_at__gte=lo, refunded_at__lt=hi)
    for r in refunds.values("order_id", "currency", "total", "refunded_at"):
        rows.add(r["refunded_at"], r["currency"], dims_of(r["order_id"]),
                 refunds=-_minor(r["total"], r["currency"]))  # fmt: skip
    per_product = defaultdict(lambda: [None, None, 0])
    lines = RefundLine.objects.filter(refund__in=refunds, line__product_id__isnull=False).values(
        "refund_id", "line__product_id", "amount", "refund__currency", "refund__refunded_at"
    )
    for line in lines:
        entry = per_product[(line["refund_id"], line["line__product_id"])]
        entry[0], entry[1] = line["refund__refunded_at"], line["refund__currency"]
        entry[2] += line["amount"]
    for (_refund, product), (at, currency, total) in per_product.items():
        rows.add(at, currency, {"product": product}, refunds=-_minor(total, currency))


def _commission(rows, dims_of, *, lo, hi, ledger_wm) -> None:
    entries = LedgerEntry.objects.filter(
        account__kind=LedgerAccount.Kind.COMMISSION_EXPENSE,
        transaction__occurred_at__gte=lo, transaction__occurred_at__lt=hi,
        transaction_id__lte=ledger_wm,
    ).values(
        "transaction_id", "side", "amount", "currency", "transaction__occurred_at",
        "transaction__order_id", "transaction__commission__creator_id",
        "transaction__commission__order_id", "transaction__commission__line__product_id",
        "transaction__commission_id",
    )  # fmt: skip
    entries = list(entries)
    no_commission = [e["transaction_id"] for e in entries if not e["transaction__commission_id"]]
    creators = dict(
        LedgerEntry.objects.filter(
            transaction_id__in=no_commission, account__owner=LedgerAccount.Owner.CREATOR
        ).values_list("transaction_id", "account__creator_id")
    )
    for e in entries:
        amount = e["amount"] if e["side"] == LedgerEntry.Side.DEBIT else -e["amount"]
        order_id = e["transaction__commission__order_id"] or e["transaction__order_id"]
        dims = dims_of(order_id) if order_id else _order_dims(None, None, None, {})
        dims["creator"] = e["transaction__commission__creator_id"] or creators.get(
            e["transaction_id"]
        )
        if e["transaction__commission__line__product_id"]:
            dims["product"] = e["transaction__commission__line__product_id"]
        rows.add(e["transaction__occurred_at"], e["currency"], dims, commission=amount)


def changed_days(model, column: str, condition: Q, tz) -> set:
    """The local days of `column` in the rows matching `condition`."""
    return {
        at.astimezone(tz).date()
        for at in model.objects.filter(condition).values_list(column, flat=True)
        if at is not None
    }


def rebuild_window(lo: datetime, hi: datetime, *, ledger_wm: int, tz) -> None:
    Rollup.objects.filter(grain__in=["h", "d"], bucket__gte=lo, bucket__lt=hi).delete()
    Rollup.objects.bulk_create(window_rows(lo, hi, ledger_wm=ledger_wm, tz=tz), batch_size=500)


def refresh_months(lo: datetime, hi: datetime, *, tz) -> None:
    """The month and week rows of the whole months lo..hi again, as sums of their day rows
    (weeks: the days 1-7, 8-14, 15-21 and 22-28 of a month)."""
    Rollup.objects.filter(grain__in=["m", "w"], bucket__gte=lo, bucket__lt=hi).delete()
    sums = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    days = Rollup.objects.filter(grain="d", bucket__gte=lo, bucket__lt=hi)
    for day in days.values("dim", "key", "currency", "bucket", *METRICS):
        local = day["bucket"].astimezone(tz)
        midnight = {"hour": 0, "minute": 0, "second": 0, "microsecond": 0, "fold": 0}
        starts = [("m", local.replace(day=1, **midnight))]
        if local.day <= 28:
            starts.append(("w", local.replace(day=1 + (local.day - 1) // 7 * 7, **midnight)))
        for grain, start in starts:
            row = sums[(grain, day["dim"], day["key"], day["currency"], start.astimezone(tz))]
            for metric in METRICS:
                row[metric] += day[metric]
    Rollup.objects.bulk_create(
        (
            Rollup(grain=g, dim=d, key=k, currency=c, bucket=b, **metrics)
            for (g, d, k, c, b), metrics in sums.items()
        ),
        batch_size=500,
    )


def refresh_quarters(lo: datetime, hi: datetime, *, tz) -> None:
    """The quarter rows of the whole quarters lo..hi again, as sums of their month rows."""
    Rollup.objects.filter(grain="q", bucket__gte=lo, bucket__lt=hi).delete()
    sums = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    months = Rollup.objects.filter(grain="m", bucket__gte=lo, bucket__lt=hi)
    for month in months.values("dim", "key", "currency", "bucket", *METRICS):
        local = month["bucket"].astimezone(tz)
        start = local.replace(month=local.month - (local.month - 1) % 3, day=1, hour=0,
                              minute=0, second=0, microsecond=0, fold=0)  # fmt: skip
        row = sums[(month["dim"], month["key"], month["currency"], start.astimezone(tz))]
        for metric in METRICS:
            row[metric] += month[metric]
    Rollup.objects.bulk_create(
        (
            Rollup(grain="q", dim=d, key=k, currency=c, bucket=b, **metrics)
            for (d, k, c, b), metrics in sums.items()
        ),
        batch_size=500,
    )


__all__ = ["refresh_months", "refresh_quarters", "rebuild_window", "window_rows", "timedelta"]
