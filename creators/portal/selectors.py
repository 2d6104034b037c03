"""Reads for the creator portal's pages: one creator's clicks, orders, earnings, links,
codes and content, from the apps that own them (links, sales, attribution, ugc).

The portal is presentation (ARCHITECTURE.md: presentation may read every app), so these
reads live with it rather than in `creators/selectors.py`, which may not import the apps
above creators. Every function takes the creator and reads only what is theirs; pages that
take an id look it up through these, so another creator's id is simply not found (404).
No shopper's personal data is read: orders give their date, products and amounts only.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, OuterRef, Prefetch, Q, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from attribution.models import Attribution, FraudSignal
from core.money import format_money, from_minor
from creators.models import (
    ContentLicence,
    Creator,
    DiscountCode,
    GroupMembership,
)
from links.models import ClickEvent, LinkDailyStats, ShortLink
from links.selectors import link_click_counts
from sales.ledger_models import Commission, LedgerAccount, LedgerEntry
from sales.models import Order
from sales.payout_models import Payout, PayoutDetails, TaxForm
from ugc.models import UGCItem, UGCMetricDaily, UGCProductMap

CREDITED_ORDER_STATUSES = (
    Order.Status.PAID,
    Order.Status.FULFILLED,
    Order.Status.PARTIALLY_REFUNDED,
    Order.Status.REFUNDED,
)


def money(minor: int, currency: str) -> str:
    return format_money(from_minor(minor, currency), currency)


# -- programs -------------------------------------------------------------------------------


def memberships(creator: Creator):
    return list(
        GroupMembership.objects.filter(creator=creator, status="active", program__active=True)
        .select_related("program", "group")
        .order_by("program__name")
    )


def current_licences(program_ids) -> dict[int, ContentLicence]:
    """The newest content licence of each program."""
    found = {}
    for licence in ContentLicence.objects.filter(program_id__in=list(program_ids)).order_by(
        "program_id", "-version"
    ):
        found.setdefault(licence.program_id, licence)
    return found


# -- home -----------------------------------------------------------------------------------


@dataclass
class Period:
    label: str
    start: datetime
    end: datetime
    clicks: int = 0
    orders: int = 0
    earned: dict = field(default_factory=dict)  # currency -> minor units earned
    paid: dict = field(default_factory=dict)  # currency -> minor units paid out

    @property
    def conversion(self) -> str:
        if not self.clicks:
            return "–"
        return f"{100 * self.orders / self.clicks:.1f} %"


def month_start(day: datetime) -> datetime:
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def periods(now: datetime) -> list[Period]:
    """This month and last month (UTC)."""
    this = month_start(now.astimezone(UTC))
    last = month_start(this - timedelta(days=1))
    return [Period("This month", this, now), Period("Last month", last, this)]


def _clicks(creator: Creator, start, end) -> int:
    return ClickEvent.objects.filter(
        creator=creator, clicked_at__gte=start, clicked_at__lt=end, is_bot=False
    ).count()


def _credited(creator: Creator):
    return Attribution.objects.filter(creator=creator, order__status__in=CREDITED_ORDER_STATUSES)


def fill_period(creator: Creator, period: Period) -> Period:
    period.clicks = _clicks(creator, period.start, period.end)
    period.orders = (
        _credited(creator).filter(placed_at__gte=period.start, placed_at__lt=period.end).count()
    )
    for row in (
        Commission.objects.filter(
            creator=creator, created_at__gte=period.start, created_at__lt=period.end
        )
        .values("currency")
        .annotate(total=Sum("amount"), back=Sum("reversed"))
        .order_by("currency")
    ):
        period.earned[row["currency"]] = row["total"] - row["back"]
    for row in (
        LedgerEntry.objects.filter(
            account__creator=creator,
            account__kind=LedgerAccount.Kind.PAID,
            side=LedgerEntry.Side.CREDIT,
            transaction__occurred_at__gte=period.start,
            transaction__occurred_at__lt=period.end,
        )
        .values("currency")
        .annotate(total=Sum("amount"))
        .order_by("currency")
    ):
        period.paid[row["currency"]] = row["total"]
    return period


def balances(creator: Creator) -> dict[str, dict[str, int]]:
    """currency -> {pending, available, in_payout, paid, receivable} in minor units."""
    found: dict[str, dict[str, int]] = {}
    for account in LedgerAccount.objects.filter(owner="creator", creator=creator).order_by(
        "currency", "kind"
    ):
        found.setdefault(account.currency, {})[account.kind] = account.balance
    return found


def daily_series(creator: Creator, *, days: int, today: date) -> list[dict]:
    """Human clicks (from the daily stats) and credited orders per day, oldest first."""
    first = today - timedelta(days=days - 1)
    clicks = dict(
        LinkDailyStats.objects.filter(link__creator=creator, day__gte=first, day__lte=today)
        .values("day")
        .annotate(total=Sum("clicks"))
        .values_list("day", "total")
    )
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    orders = dict(
        _credited(creator)
        .filter(placed_at__gte=start)
        .annotate(day=TruncDate("placed_at", tzinfo=UTC))
        .values("day")
        .annotate(total=Count("pk"))
        .values_list("day", "total")
    )
    return [
        {"day": d, "clicks": clicks.get(d, 0), "orders": orders.get(d, 0)}
        for d in (first + timedelta(days=i) for i in range(days))
    ]


def top_links(creator: Creator, *, since: date, limit: int = 5):
    return list(
        ShortLink.objects.filter(creator=creator)
        .select_related("product")
        .annotate(
            period_clicks=Coalesce(
                Sum("daily_stats__clicks", filter=Q(daily_stats__day__gte=since)), 0
            )
        )
        .filter(period_clicks__gt=0)
        .order_by("-period_clicks", "pk")[:limit]
    )


def top_content(creator: Creator, *, since: date, limit: int = 3):
    return list(
        UGCItem.objects.filter(creator=creator)
        .annotate(
            period_clicks=Coalesce(Sum("metrics__clicks", filter=Q(metrics__day__gte=since)), 0),
            period_impressions=Coalesce(
                Sum("metrics__impressions", filter=Q(metrics__day__gte=since)), 0
            ),
        )
        .filter(Q(period_clicks__gt=0) | Q(period_impressions__gt=0))
        .order_by("-period_clicks", "-period_impressions", "pk")[:limit]
    )


@dataclass
class Attention:
    kind: str
    text: str
    url: str


def attention(creator: Creator, *, now: datetime, money_waiting: bool) -> list[Attention]:
    """What needs the creator: held commissions, rejected submissions, rejected code
    requests, missing payout details."""
    items = []
    held = Commission.objects.filter(creator=creator, status=Commission.Status.HELD).count()
    if held:
        items.append(
            Attention(
                "held",
                f"{held} commission{'s' if held > 1 else ''} on hold for review: see why.",
                "portal:earnings",
            )
        )
    rejected = UGCItem.objects.filter(
        creator=creator,
        status=UGCItem.Status.REJECTED,
        updated_at__gte=now - timedelta(days=30),
    ).count()
    if rejected:
        items.append(
            Attention(
                "rejected",
                f"{rejected} submission{'s' if rejected > 1 else ''} not accepted: read why.",
                "portal:content",
            )
        )
    codes = DiscountCode.objects.filter(
        creator=creator, status=DiscountCode.Status.REJECTED, created_at__gte=now - timedelta(30)
    ).count()
    if codes:
        items.append(Attention("code", "A code you asked for was not approved.", "portal:codes"))
    if money_waiting and not payout_details_on_file(creator):
        items.append(
            Attention(
                "payout",
                "Add your payout details and tax form so that we can pay you what you earn.",
                "portal:payouts",
            )
        )
    return items


def payout_details_on_file(creator: Creator) -> bool:
    """Whether the shop has all it needs to pay the creator: method, account, country and
    the tax form (`PayoutDetails.complete`, what a payout run checks)."""
    return PayoutDetails.objects.filter(creator=creator, complete=True).exists()


# -- links ----------------------------------------------------------------------------------


def links(creator: Creator):
    """The creator's links with their total human clicks, newest first (a fixed number of
    queries whatever their number)."""
    return (
        ShortLink.objects.filter(creator=creator)
        .select_related("product", "variant")
        .annotate(total_clicks=Coalesce(Sum("daily_stats__clicks"), 0))
        .order_by("-created_at", "-pk")
    )


def link(creator: Creator, link_id: int) -> ShortLink | None:
    return links(creator).filter(pk=link_id).first()


GROUPS = {"day": "Day", "country": "Country", "device": "Device", "source": "Source"}


def link_breakdown(short_link: ShortLink, *, since: datetime) -> dict[str, list[dict]]:
    """Clicks of a link since `since` by day, country, device and source (utm_source, else
    the in-app browser or the referring site)."""
    found = {
        name: [r for r in link_click_counts(short_link, group_by=name, since=since) if r["clicks"]]
        for name in ("day", "country", "device")
    }
    sources = (
        ClickEvent.objects.filter(link=short_link, clicked_at__gte=since, is_bot=False)
        .values("utm_source", "in_app", "referrer_host")
        .annotate(clicks=Count("pk"), unique_clicks=Count("pk", filter=Q(is_unique=True)))
        .order_by()
    )
    merged: dict[str, dict] = {}
    for row in sources:
        key = row["utm_source"] or row["in_app"] or row["referrer_host"] or "direct"
        slot = merged.setdefault(key, {"key": key, "clicks": 0, "unique_clicks": 0})
        slot["clicks"] += row["clicks"]
        slot["unique_clicks"] += row["unique_clicks"]
    found["source"] = sorted(merged.values(), key=lambda r: (-r["clicks"], r["key"]))
    return found


# -- codes ----------------------------------------------------------------------------------


def codes(creator: Creator):
    """The creator's discount codes with how many credited orders used each."""
    uses = (
        Attribution.objects.filter(creator=creator, discount_code__iexact=OuterRef("code"))
        .order_by()
        .values("creator")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        DiscountCode.objects.filter(creator=creator)
        .select_related("program")
        .annotate(uses=Coalesce(Subquery(uses), 0))
        .order_by("-created_at", "-pk")
    )


# -- content --------------------------------------------------------------------------------


def content(creator: Creator):
    return (
        UGCItem.objects.filter(creator=creator)
        .select_related("rejection_reason", "rights")
        .prefetch_related(
            Prefetch("product_maps", queryset=UGCProductMap.objects.select_related("product"))
        )
        .order_by("-created_at", "-pk")
    )


def content_item(creator: Creator, item_id: int) -> UGCItem | None:
    return content(creator).filter(pk=item_id).first()


def content_metrics(item: UGCItem) -> dict:
    return UGCMetricDaily.objects.filter(item=item).aggregate(
        impressions=Coalesce(Sum("impressions"), 0), clicks=Coalesce(Sum("clicks"), 0)
    )


CREATOR_STATUS = {
    UGCItem.Status.QUEUED: "Waiting for review",
    UGCItem.Status.REVIEWING: "Being reviewed",
    UGCItem.Status.APPROVED: "Approved, publishing soon",
    UGCItem.Status.PUBLISHED: "Published",
    UGCItem.Status.REJECTED: "Not accepted",
    UGCItem.Status.ARCHIVED: "Taken down",
}


def content_status(item: UGCItem) -> str:
    rights = getattr(item, "rights", None)
    if rights is not None and rights.revoked_at and item.status != UGCItem.Status.REJECTED:
        return "Consent withdrawn"
    return CREATOR_STATUS.get(item.status, item.get_status_display())


# -- earnings -------------------------------------------------------------------------------


@dataclass
class Earning:
    commission: Commission
    product: str
    amount: str
    reversed: str
    net: str
    status: str
    explanation: str
    hold_note: str


HOLD_WORDS = {
    Commission.Status.PENDING: "Pending",
    Commission.Status.HELD: "On hold for review",
    Commission.Status.AVAILABLE: "Available",
    Commission.Status.IN_PAYOUT: "In a payout",
    Commission.Status.PAID: "Paid",
    Commission.Status.REVERSED: "Reversed",
}


def earnings(creator: Creator, *, limit: int = 200) -> list[Earning]:
    """Every commission with its order date, product, amounts, status, why it was credited
    (worded for the creator) and when its hold ends or why it is held. Three queries."""
    rows = list(
        Commission.objects.filter(creator=creator)
        .select_related("order", "line__product")
        .order_by("-order__placed_at", "-pk")[:limit]
    )
    attribution_ids = {c.attribution_id for c in rows if c.attribution_id}
    explained = dict(
        Attribution.objects.filter(pk__in=attribution_ids, creator=creator).values_list(
            "pk", "creator_explanation"
        )
    )
    signals: dict[int, list[str]] = {}
    for signal in FraudSignal.objects.filter(
        attribution_id__in=attribution_ids, creator=creator
    ).order_by("pk"):
        signals.setdefault(signal.attribution_id, []).append(signal.creator_text)
    found = []
    for commission in rows:
        line = commission.line
        product = (
            (line.product.title if line and line.product_id else (line.title or line.sku))
            if line
            else "The whole order"
        )
        hold_note = ""
        if commission.status == Commission.Status.PENDING:
            hold_note = (
                f"Held until {commission.hold_until:%d %b %Y}, in case the order is returned."
            )
        elif commission.status == Commission.Status.HELD:
            texts = signals.get(commission.attribution_id) or []
            hold_note = "We are checking this order before it counts: " + (
                " ".join(texts) if texts else "it needs a second look."
            )
        elif commission.status == Commission.Status.REVERSED:
            hold_note = (
                "The order was refunded or cancelled, or the commission did not pass review."
            )
        found.append(
            Earning(
                commission=commission,
                product=product,
                amount=money(commission.amount, commission.currency),
                reversed=money(commission.reversed, commission.currency)
                if commission.reversed
                else "",
                net=money(commission.net, commission.currency),
                status=HOLD_WORDS.get(commission.status, commission.status),
                explanation=explained.get(commission.attribution_id, ""),
                hold_note=hold_note,
            )
        )
    return found


def program_by_slug(slug: str):
    from creators.models import Program

    return Program.objects.filter(slug=slug).first()


# -- the data export ------------------------------------------------------------------------


def export(creator: Creator) -> dict:
    """Everything the portal holds about the creator (their "download my data")."""
    account = getattr(creator, "account", None)
    return {
        "exported_at": timezone.now(),
        "creator": {
            "name": creator.name,
            "handle": creator.handle,
            "email": creator.email,
            "affiliate_code": creator.affiliate_code,
            "status": creator.status,
            "created_at": creator.created_at,
        },
        "account": {
            "login_email": account.user.email,
            "country": account.country,
            "handles": account.handles(),
            "notifications": {
                "content": account.notify_content,
                "earnings": account.notify_earnings,
            },
            "created_at": account.created_at,
        }
        if account
        else None,
        "programs": [
            {"program": m.program.name, "group": m.group.name, "joined_at": m.joined_at}
            for m in memberships(creator)
        ],
        "applications": [
            {
                "program": a.program.name,
                "status": a.status,
                "terms_version": a.terms_version,
                "terms_accepted_at": a.terms_accepted_at,
                "name": a.name,
                "email": a.email,
                "handles": a.handles(),
                "country": a.country,
                "audience_size": a.audience_size,
                "why": a.why,
                "answer": a.answer,
                "decision_reason": a.decision_reason,
                "created_at": a.created_at,
            }
            for a in creator.applications.select_related("program").order_by("pk")
        ],
        "links": [
            {
                "code": item.code,
                "destination": item.destination_label,
                "utm_source": item.utm_source,
                "active": item.active,
                "created_at": item.created_at,
                "clicks": item.total_clicks,
            }
            for item in links(creator)
        ],
        "discount_codes": [
            {
                "code": c.code,
                "program": c.program.name,
                "status": c.status,
                "active": c.active,
                "uses": c.uses,
                "reason": c.decision_reason,
            }
            for c in codes(creator)
        ],  # fmt: skip
        "content": [
            {
                "id": item.pk,
                "caption": item.caption,
                "media_type": item.media_type,
                "status": content_status(item),
                "created_at": item.created_at,
                "products": [m.product.title for m in item.product_maps.all()],
                "rights": {
                    "channels": item.rights.allowed_channels,
                    "licence": item.rights.licence_type,
                    "granted_at": item.rights.granted_at,
                    "expires_at": item.rights.expires_at,
                    "withdrawn_at": item.rights.revoked_at,
                }
                if getattr(item, "rights", None)
                else None,
            }
            for item in content(creator)
        ],
        "commissions": [
            {
                "order_date": e.commission.order.placed_at,
                "product": e.product,
                "currency": e.commission.currency,
                "amount": str(from_minor(e.commission.amount, e.commission.currency)),
                "reversed": str(from_minor(e.commission.reversed, e.commission.currency)),
                "status": e.commission.status,
                "why": e.explanation,
                "hold": e.hold_note,
            }
            for e in earnings(creator, limit=100_000)
        ],
        "balances": {
            currency: {k: str(from_minor(v, currency)) for k, v in kinds.items()}
            for currency, kinds in balances(creator).items()
        },
        "payout_details": _payout_details_export(creator),
        "payouts": [
            {
                "created_at": p.created_at,
                "currency": p.currency,
                "amount": str(from_minor(p.amount, p.currency)),
                "status": p.status,
                "method": p.method,
                "provider_ref": p.provider_ref,
                "paid_at": p.paid_at,
            }
            for p in Payout.objects.filter(creator=creator).order_by("created_at", "pk")
        ],
        "tax_forms": [
            {"uploaded_at": t.uploaded_at, "kind": t.kind, "file_name": t.original_name}
            for t in TaxForm.objects.filter(creator=creator).order_by("uploaded_at", "pk")
        ],
    }


def _payout_details_export(creator: Creator) -> dict | None:
    details = PayoutDetails.objects.filter(creator=creator).first()
    if details is None:
        return None
    data = details.data
    return {
        "method": data.get("method", ""),
        "account": data.get("account", ""),
        "country": data.get("country", ""),
        "tax_form_received": bool(data.get("tax_form_received")),
        "updated_at": details.updated_at,
    }


# -- product samples (issue 18) --------------------------------------------------------------


def content_back(request) -> list[UGCItem]:
    """The content a sample brought back: the creator's items mapped to the product, sent
    after the shop approved the request."""
    if request.status != "approved" or request.decided_at is None:
        return []
    return list(
        UGCItem.objects.filter(
            creator_id=request.creator_id,
            product_maps__product_id=request.product_id,
            created_at__gte=request.decided_at,
        )
        .distinct()
        .order_by("-created_at")[:20]
    )


def product_requests(creator) -> list[tuple]:
    """The creator's product requests, newest first, each with the content that came back."""
    from creators.models import ProductRequest

    found = ProductRequest.objects.filter(creator=creator).select_related("product")[:100]
    return [(request, content_back(request)) for request in found]
