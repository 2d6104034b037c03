"""Reads of sales for the console, the API, pages and dashboards."""

import base64
import json
from datetime import UTC

from django.db.models import Count, Exists, Prefetch, Q, Sum

from sales.models import (
    Commission,
    Order,
    OrderEvent,
    OrderLine,
    PendingOrderEvent,
    Provider,
    Refund,
    SalesChannel,
    WebhookDelivery,
)


def checkout_exists():
    """An `Exists` to annotate products with: the shop has a checkout (one query less)."""
    return Exists(SalesChannel.objects.filter(checkout=True, active=True))


def orders_for_list():
    """Orders with their channel, line counts and unmapped lines, in one query."""
    return (
        Order.objects.select_related("channel")
        .annotate(
            line_count=Count("lines", distinct=True),
            unmapped_count=Count("lines", filter=Q(lines__variant__isnull=True), distinct=True),
        )
        .order_by("-placed_at", "-pk")
    )


def order_detail():
    """Orders with everything their page and the API show, in a fixed number of queries."""
    return Order.objects.select_related("channel", "reservation").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("variant", "product")),
        Prefetch("refunds", queryset=Refund.objects.prefetch_related("lines")),
        Prefetch("events", queryset=OrderEvent.objects.select_related("actor")),
        Prefetch(
            "deliveries",
            queryset=WebhookDelivery.objects.defer("body").order_by("received_at", "pk"),
        ),
    )


def unmapped_skus():
    """SKUs of order lines that map to no variant, with how many lines and units wait."""
    return (
        OrderLine.objects.filter(variant__isnull=True)
        .exclude(sku="")
        .values("sku")
        .annotate(lines=Count("pk"), units=Sum("quantity"), orders=Count("order", distinct=True))
        .order_by("-lines", "sku")
    )


def units_committed_for_shop(*, shop_domain: str, variant_id: int, placed_until=None) -> int:
    """Units of a variant committed to unshipped orders of a Shopify shop (its channels, or
    Shopify channels that name no shop), of orders placed by `placed_until` if given."""
    shop = Q(order__channel__shop_domain__iexact=shop_domain) | Q(order__channel__shop_domain="")
    lines = OrderLine.objects.filter(
        shop, variant_id=variant_id, order__channel__provider=Provider.SHOPIFY
    )
    if placed_until is not None:
        lines = lines.filter(order__placed_at__lte=placed_until)
    total = lines.aggregate(units=Sum("stock_committed")).get("units")
    return int(total or 0)


def last_deliveries(channel_id: int, limit: int = 10):
    return WebhookDelivery.objects.filter(channel_id=channel_id).defer("body")[:limit]


def deliveries_waiting(*, provider: str, shop_id: str, limit: int = 1000) -> list[int]:
    """Deliveries of a shop's channels waiting for credentials (see `sales.credentials`)."""
    return list(
        WebhookDelivery.objects.filter(
            accepted=True,
            status=WebhookDelivery.Status.WAITING,
            channel__provider=provider,
            channel__shop_id=shop_id,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


# ---------------------------------------------------------------------------------------
# One customer's data (privacy requests: what is held, what a redaction erases)
# ---------------------------------------------------------------------------------------


def customer_orders(*, email_hash: str = "", shop_domain: str = "", shopify_order_ids=()):
    """The orders of one customer: those whose `customer_email_hash` is theirs (from every
    channel: Shoploop is one merchant's backoffice), and the Shopify orders of `shop_domain`
    named by id (Shopify's requests list them; a redacted order no longer has the hash)."""
    match = Q(pk__in=[])
    if email_hash:
        match |= Q(customer_email_hash=email_hash)
    ids = sorted({str(i).strip() for i in shopify_order_ids if str(i).strip()})
    if ids:
        shop = Q(channel__shop_domain__iexact=shop_domain) | Q(channel__shop_domain="")
        match |= Q(channel__provider=Provider.SHOPIFY, external_id__in=ids) & shop
    return Order.objects.filter(match).order_by("pk")


def deliveries_of_orders(order_ids) -> set[int]:
    """Webhook deliveries that built or changed these orders (the order's own, its refunds',
    its audit rows', and refunds or cancellations that waited for it)."""
    order_ids = list(order_ids)
    if not order_ids:
        return set()
    ids = set(WebhookDelivery.objects.filter(order_id__in=order_ids).values_list("pk", flat=True))
    for model in (Refund, OrderEvent):
        ids |= set(
            model.objects.filter(order_id__in=order_ids, delivery__isnull=False).values_list(
                "delivery_id", flat=True
            )
        )
    waited = Q(pk__in=[])
    for channel_id, external_id in Order.objects.filter(pk__in=order_ids).values_list(
        "channel_id", "external_id"
    ):
        waited |= Q(channel_id=channel_id, order_external_id=external_id)
    ids |= set(
        PendingOrderEvent.objects.filter(waited, delivery__isnull=False).values_list(
            "delivery_id", flat=True
        )
    )
    return ids


def deliveries_mentioning(email: str, *, chunk: int = 500) -> set[int]:
    """Deliveries not linked to an order (failed, ignored, waiting, rejected) whose stored
    body holds `email`, whatever its case. Read in chunks; run by jobs, never by a page."""
    needle = (email or "").strip().lower().encode()
    if not needle:
        return set()
    found = set()
    rows = (
        WebhookDelivery.objects.filter(order__isnull=True, erased_at__isnull=True)
        .order_by("pk")
        .values_list("pk", "body")
    )
    for pk, body in rows.iterator(chunk_size=chunk):
        if body and needle in bytes(body).lower():
            found.add(pk)
    return found


def _plain(value):
    return None if value is None else str(value)


def _body(delivery) -> object:
    raw = bytes(delivery.body)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {"base64": base64.b64encode(raw).decode()}


def customer_data(*, order_ids, delivery_ids=()) -> dict:
    """What sales holds about one customer, for a data request's export: each order with its
    lines, refunds, attribution and audit, and every stored delivery that carried their data
    (the raw bodies as the providers sent them)."""
    orders = (
        order_detail()
        .filter(pk__in=list(order_ids))
        .prefetch_related(
            Prefetch("commissions", queryset=Commission.objects.select_related("creator"))
        )
        .order_by("pk")
    )
    linked = deliveries_of_orders(order_ids) | set(delivery_ids)
    deliveries = (
        WebhookDelivery.objects.filter(pk__in=linked, erased_at__isnull=True)
        .select_related("channel")
        .order_by("received_at", "pk")
    )
    return {
        "orders": [
            {
                "channel": {"name": o.channel.name, "provider": o.channel.provider},
                "external_id": o.external_id,
                "name": o.name,
                "status": o.status,
                "currency": o.currency,
                "subtotal": _plain(o.subtotal),
                "discounts": _plain(o.discounts),
                "shipping": _plain(o.shipping),
                "tax": _plain(o.tax),
                "total": _plain(o.total),
                "discount_codes": o.discount_codes,
                "landing_url": o.landing_url,
                "referring_site": o.referring_site,
                "country": o.country,
                "customer_email_hash": o.customer_email_hash,
                "payment_fingerprint_hash": o.payment_fingerprint_hash,
                "placed_at": _plain(o.placed_at),
                "paid_at": _plain(o.paid_at),
                "cancelled_at": _plain(o.cancelled_at),
                "fulfilled_at": _plain(o.fulfilled_at),
                "delivered_at": _plain(o.delivered_at),
                "redacted_at": _plain(o.redacted_at),
                "lines": [
                    {
                        "sku": line.sku,
                        "title": line.title,
                        "quantity": line.quantity,
                        "unit_price": _plain(line.unit_price),
                        "discount": _plain(line.discount),
                        "tax": _plain(line.tax),
                        "total": _plain(line.total),
                    }
                    for line in o.lines.all()
                ],
                "refunds": [
                    {
                        "external_id": refund.external_id,
                        "total": _plain(refund.total),
                        "shipping": _plain(refund.shipping),
                        "reason": refund.reason,
                        "refunded_at": _plain(refund.refunded_at),
                        "lines": [
                            {"sku": rl.sku, "quantity": rl.quantity, "amount": _plain(rl.amount)}
                            for rl in refund.lines.all()
                        ],
                    }
                    for refund in o.refunds.all()
                ],
                "attribution": {
                    "click_id": o.click_id,
                    "visitor_click_id": o.visitor_click_id,
                    "credited_creators": sorted({c.creator.handle for c in o.commissions.all()}),
                },
                "history": [
                    {
                        "at": _plain(e.at),
                        "action": e.action,
                        "from": e.from_status,
                        "to": e.to_status,
                        "reason": e.reason,
                    }
                    for e in o.events.all()
                ],
            }
            for o in orders
        ],
        "deliveries": [
            {
                "provider": d.provider,
                "channel": d.channel.name if d.channel_id else "",
                "topic": d.topic,
                "received_at": _plain(d.received_at),
                "body": _body(d),
            }
            for d in deliveries
        ],
    }


# --- ledger, payouts and statements (issue 14) -------------------------------------------------

CREATOR_KINDS = ("pending", "available", "in_payout", "paid", "receivable")


def creator_balances(*, currency: str = "", search: str = "", creator_id: int | None = None):
    """One row per creator and currency: each account's balance (minor units) and what is
    payable (available minus receivable). One query, whatever the number of rows."""
    from django.db.models import F

    from sales.ledger_models import LedgerAccount

    rows = LedgerAccount.objects.filter(owner=LedgerAccount.Owner.CREATOR)
    if currency:
        rows = rows.filter(currency=currency)
    if creator_id:
        rows = rows.filter(creator_id=creator_id)
    if search:
        rows = rows.filter(
            Q(creator__handle__icontains=search) | Q(creator__name__icontains=search)
        )
    return (
        rows.values("creator_id", "creator__handle", "creator__name", "currency")
        .annotate(
            **{kind: Sum("balance", filter=Q(kind=kind), default=0) for kind in CREATOR_KINDS}
        )  # fmt: skip
        .annotate(payable=F("available") - F("receivable"))
        .order_by("creator__handle", "currency")
    )


def ledger_totals() -> list[dict]:
    """Per currency: the merchant's commission expense (its shards summed), what it owes
    creators (commission payable: their pending, available and in-payout accounts), what was
    paid out, and what creators owe back."""
    from sales.ledger_models import LedgerAccount

    totals: dict[str, dict] = {}
    for row in (
        LedgerAccount.objects.values("currency", "kind").annotate(total=Sum("balance"))
        .order_by("currency", "kind")
    ):  # fmt: skip
        entry = totals.setdefault(row["currency"], dict.fromkeys(
            ("expense", "payable", "pending", "available", "in_payout", "paid", "receivable"), 0
        ))  # fmt: skip
        kind = row["kind"]
        if kind == "commission_expense":
            entry["expense"] += row["total"]
        else:
            entry[kind] += row["total"]
            if kind in ("pending", "available", "in_payout"):
                entry["payable"] += row["total"]
    return [{"currency": c, **t} for c, t in sorted(totals.items())]


def last_verification():
    from sales.ledger_models import LedgerVerification

    return LedgerVerification.objects.order_by("-ran_at", "-pk").first()


def payout_runs_for_list():
    """Runs with their payout count and total, in one query."""
    from django.db.models import Count

    from sales.payout_models import PayoutRun

    return PayoutRun.objects.select_related("created_by", "approved_by").annotate(
        payout_count=Count("payouts"),
        total=Sum("payouts__amount", default=0),
        paid_total=Sum("payouts__amount", filter=Q(payouts__status="paid"), default=0),
    ).order_by("-created_at", "-pk")  # fmt: skip


def payout_run_totals(runs) -> list[dict]:
    """Totals per currency of the given runs: made, in flight, paid, failed (minor units)."""
    from sales.payout_models import Payout

    totals: dict[str, dict] = {}
    rows = (
        Payout.objects.filter(run__in=runs).values("currency", "status")
        .annotate(total=Sum("amount"), count=Count("pk")).order_by("currency")
    )  # fmt: skip
    for row in rows:
        entry = totals.setdefault(row["currency"], {"total": 0, "in_flight": 0, "paid": 0,
                                                    "failed": 0, "payouts": 0})  # fmt: skip
        entry["payouts"] += row["count"]
        if row["status"] == "cancelled":
            continue
        entry["total"] += row["total"]
        if row["status"] == "paid":
            entry["paid"] += row["total"]
        elif row["status"] == "failed":
            entry["failed"] += row["total"]
        else:
            entry["in_flight"] += row["total"]
    return [{"currency": c, **t} for c, t in sorted(totals.items())]


def payout_detail():
    """Payouts with what their page and the API show, in a fixed number of queries."""
    from sales.payout_models import Payout, PayoutCommission, PayoutEvent

    return Payout.objects.select_related("run", "creator").prefetch_related(
        Prefetch("items", queryset=PayoutCommission.objects.select_related(
            "commission__order", "commission__line")),
        Prefetch("events", queryset=PayoutEvent.objects.select_related("actor")),
    )  # fmt: skip


STATEMENT_LABELS = {
    "commission": "Commission earned",
    "release": "Hold ended: now available",
    "reversal": "Commission reversed (refund or cancellation)",
    "clawback": "Clawback: owed back after payout",
    "fraud_reduce": "Reduced on review",
    "payout": "Payout started",
    "payout_paid": "Payout paid",
    "payout_failed": "Payout failed or cancelled: money back",
    "netting": "Clawback netted",
    "adjustment": "Adjustment",
}


def statement(*, creator_id: int, currency: str, start, end) -> dict:
    """A creator's statement in one currency between `start` (inclusive) and `end`
    (exclusive), as posted: the opening balance of each account, one line per transaction
    (its movement on each account, signed so that + is more owed to the creator and, for
    `receivable`, more owed back), the closing balances, and a summary."""
    from sales.ledger_models import LedgerAccount, LedgerEntry

    accounts = {a.pk: a for a in LedgerAccount.objects.filter(
        owner=LedgerAccount.Owner.CREATOR, creator_id=creator_id, currency=currency)}  # fmt: skip
    opening = dict.fromkeys(CREATOR_KINDS, 0)
    for account in accounts.values():  # at most five: one lookup each, by version
        last = (
            LedgerEntry.objects.filter(account=account, transaction__created_at__lt=start)
            .order_by("-account_version").values_list("balance_after", flat=True).first()
        )  # fmt: skip
        opening[account.kind] = last or 0
    entries = (
        LedgerEntry.objects.filter(account_id__in=accounts, transaction__created_at__gte=start,
                                   transaction__created_at__lt=end)
        .select_related("transaction__order", "transaction__commission__line")
        .order_by("transaction__created_at", "transaction_id", "pk")
    )  # fmt: skip
    lines: list[dict] = []
    running = dict(opening)
    for entry in entries:
        txn = entry.transaction
        if not lines or lines[-1]["transaction_id"] != txn.pk:
            order = txn.order
            line = txn.commission.line if txn.commission_id and txn.commission.line_id else None
            lines.append({
                "transaction_id": txn.pk, "at": txn.created_at, "kind": txn.kind,
                "label": STATEMENT_LABELS.get(txn.kind, txn.kind),
                "order": (order.name or order.external_id) if order else "",
                "sku": line.sku if line else "", "memo": txn.memo,
                "commission_id": txn.commission_id,
                "moves": dict.fromkeys(CREATOR_KINDS, 0),
            })  # fmt: skip
        kind = accounts[entry.account_id].kind
        grows = (entry.side == "debit") == (kind == "receivable")
        lines[-1]["moves"][kind] += entry.amount if grows else -entry.amount
        running[kind] = entry.balance_after
    summary = {
        "earned": sum(x["moves"]["pending"] for x in lines if x["kind"] == "commission"),
        "reversed": -sum(x["moves"]["pending"] + x["moves"]["available"] for x in lines
                         if x["kind"] in ("reversal", "fraud_reduce")),
        "clawed_back": sum(x["moves"]["receivable"] for x in lines if x["kind"] == "clawback"),
        "paid_out": sum(x["moves"]["paid"] for x in lines if x["kind"] == "payout_paid"),
        "adjusted": sum(x["moves"]["available"] - x["moves"]["receivable"] for x in lines
                        if x["kind"] == "adjustment" and not x["commission_id"]),
    }  # fmt: skip
    return {
        "creator_id": creator_id, "currency": currency, "start": start, "end": end,
        "opening": opening, "lines": lines, "closing": running,
        "payable": running["available"] - running["receivable"], "summary": summary,
    }  # fmt: skip


def statement_link(*, creator_id: int, currency: str, month, fmt: str = "html") -> str:
    """A signed link to a creator's statement for one month (HTML or CSV), for the portal and
    emails: it works for STATEMENT_LINK_MAX_AGE seconds, for that creator and month only."""
    from django.core import signing
    from django.urls import reverse

    from core.absolute_urls import absolute_url

    token = signing.dumps({"c": creator_id, "cur": currency, "m": month.strftime("%Y-%m")},
                          salt="sales.statement")  # fmt: skip
    return absolute_url(reverse("sales:statement", kwargs={"token": token, "fmt": fmt}))


def reconciliation_report(channel_id: int) -> dict:
    """What a channel's statements and Shoploop disagree about, and what was resolved.

    Lines missing in Shoploop, amount and currency mismatches, duplicates (open, to resolve);
    orders paid, refunds made and (for Stripe) payouts sent within the period the statements
    cover that no line shows and nobody set aside (missing at the provider); lines resolved
    by a person (who, when, why); and how many matched."""
    from django.db.models import Max, Min

    from sales.payout_models import Payout
    from sales.reconciliation_models import ProviderTransaction, ReconciliationDismissal

    T = ProviderTransaction.Status
    lines = ProviderTransaction.objects.filter(channel_id=channel_id).select_related(
        "order", "refund", "payout", "resolved_by", "first_import"
    ).order_by("occurred_at", "pk")  # fmt: skip
    bounds = lines.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    first, last = bounds["first"], bounds["last"]
    grouped = {status: [] for status in T.values}
    for line in lines:
        grouped[line.status].append(line)
    report = {
        "period": (first, last),
        "missing_in_shoploop": grouped[T.MISSING],
        "amount_mismatches": grouped[T.AMOUNT_MISMATCH],
        "currency_mismatches": grouped[T.CURRENCY_MISMATCH],
        "duplicates": grouped[T.DUPLICATE],
        "resolved": grouped[T.LINKED] + grouped[T.IGNORED] + grouped[T.REFUND_CREATED],
        "matched": len(grouped[T.MATCHED]),
        "not_applicable": len(grouped[T.NOT_APPLICABLE]),
        "orders_missing": [], "refunds_missing": [], "payouts_missing": [],
        "dismissed": list(ReconciliationDismissal.objects.filter(channel_id=channel_id)
                          .select_related("order", "refund", "payout", "actor")),
    }  # fmt: skip
    if first is None:
        return report
    dismissed = ReconciliationDismissal.objects.filter(channel_id=channel_id)
    shown = ProviderTransaction.objects.filter(channel_id=channel_id)
    report["orders_missing"] = list(
        Order.objects.filter(channel_id=channel_id, paid_at__gte=first, paid_at__lte=last)
        .exclude(pk__in=shown.filter(kind="charge", order__isnull=False).values("order_id"))
        .exclude(pk__in=dismissed.filter(order__isnull=False).values("order_id"))
        .order_by("paid_at", "pk")
    )  # fmt: skip
    report["refunds_missing"] = list(
        Refund.objects.filter(channel_id=channel_id, refunded_at__gte=first,
                              refunded_at__lte=last)
        .exclude(pk__in=shown.filter(refund__isnull=False).values("refund_id"))
        .exclude(pk__in=dismissed.filter(refund__isnull=False).values("refund_id"))
        .select_related("order").order_by("refunded_at", "pk")
    )  # fmt: skip
    if SalesChannel.objects.filter(pk=channel_id, provider="stripe").exists():
        report["payouts_missing"] = list(
            Payout.objects.filter(method="stripe", status__in=["sent", "paid"],
                                  sent_at__gte=first, sent_at__lte=last)
            .exclude(pk__in=shown.filter(payout__isnull=False).values("payout_id"))
            .exclude(pk__in=dismissed.filter(payout__isnull=False).values("payout_id"))
            .select_related("creator").order_by("sent_at", "pk")
        )  # fmt: skip
    return report


# --- the creator portal's Payouts page (issue 15): a creator's own payouts and papers ---------


def creator_held_for_review(*, creator_id: int) -> dict[str, int]:
    """currency -> what of the creator's `pending` balance is held for review (fraud holds),
    in minor units: the commissions' net, as the ledger posted it."""
    from django.db.models import F

    rows = (
        Commission.objects.filter(creator_id=creator_id, status=Commission.Status.HELD)
        .values("currency")
        .annotate(total=Sum(F("amount") - F("reversed")))
        .order_by("currency")
    )
    return {row["currency"]: row["total"] for row in rows}


def creator_payouts(*, creator_id: int):
    """The creator's payouts, newest first, with their run's date (one query)."""
    from sales.payout_models import Payout

    return (
        Payout.objects.filter(creator_id=creator_id)
        .exclude(status=Payout.Status.CANCELLED)
        .order_by("-created_at", "-pk")
    )


def statement_months(*, creator_id: int, limit: int = 24) -> list[dict]:
    """The months (newest first) in which the creator's ledger moved, per currency: the
    periods their statements cover."""
    from django.db.models.functions import TruncMonth

    from sales.ledger_models import LedgerEntry

    rows = (
        LedgerEntry.objects.filter(account__owner="creator", account__creator_id=creator_id)
        .annotate(month=TruncMonth("transaction__created_at", tzinfo=UTC))
        .values("account__currency", "month")
        .distinct()
        .order_by("-month", "account__currency")[:limit]
    )
    return [{"currency": r["account__currency"], "month": r["month"].date()} for r in rows]


def creator_tax_forms(*, creator_id: int):
    from sales.payout_models import TaxForm

    return TaxForm.objects.filter(creator_id=creator_id).order_by("-uploaded_at", "-pk")


def creator_payout_details(*, creator_id: int):
    from sales.payout_models import PayoutDetails

    return PayoutDetails.objects.filter(creator_id=creator_id).first()


# --- fulfilment (issue 19) -------------------------------------------------------------------

STATE_LABELS = {
    "placed": "We have your order.",
    "partly_shipped": "Part of your order has shipped.",
    "shipped": "Your order has shipped.",
    "delivered": "Your order was delivered.",
    "cancelled": "This order was cancelled.",
}


def order_status_page(token: str) -> dict | None:
    """What the shopper's order page shows: no customer data, only what was bought, the
    parcels and their tracking."""
    from sales import carriers
    from sales.fulfilment_models import Fulfilment

    order = Order.objects.filter(status_token=token).first() if token else None
    if order is None:
        return None
    lines = list(order.lines.order_by("pk"))
    parcels = list(
        Fulfilment.objects.filter(order=order)
        .prefetch_related("lines__line")
        .order_by("shipped_at", "pk")
    )
    shipped: dict[int, int] = {}
    for parcel in parcels:
        parcel.carrier_name = carriers.name(parcel.carrier)
        parcel.items = [
            {"quantity": item.quantity, "title": item.line.title or item.line.sku}
            for item in parcel.lines.all()
        ]
        for item in parcel.lines.all():
            shipped[item.line_id] = shipped.get(item.line_id, 0) + item.quantity
    for line in lines:
        line.shipped = min(line.quantity, shipped.get(line.pk, 0))
    if order.status == "cancelled":
        state = "cancelled"
    elif order.delivered_at:
        state = "delivered"
    elif order.fulfilled_at or (lines and all(x.shipped >= x.quantity for x in lines)):
        state = "shipped"
    elif parcels:
        state = "partly_shipped"
    else:
        state = "placed"
    return {
        "order": order,
        "lines": lines,
        "parcels": parcels,
        "state": state,
        "state_label": STATE_LABELS[state],
    }
