"""Fraud signals: each found with its evidence and worded for the merchant and the creator.
A signal holds the commission for review (approve, reduce or reject in the console); it never
drops it. Thresholds are settings (README, *Attribution*). Every query is indexed:

- **self-referral**: the order's hashed email, payment fingerprint or the credited click's
  visitor hash matches the creator's own (their email, and `CreatorFingerprint`s);
- **code leakage**: credited by a code with no click from the code's owner carried by the
  order inside the window (the code travelled without them: a coupon site);
- **click spike**: on the credited click's link, at least `FRAUD_SPIKE_MIN_CLICKS` clicks in
  the `FRAUD_SPIKE_WINDOW_MINUTES` before it, `FRAUD_SPIKE_SHARE` or more of them from one
  network or one browser and OS (the (link, time) index);
- **repeat orders**: more than `FRAUD_REPEAT_MAX_ORDERS` orders credited to the creator from
  one visitor (cookie) or one customer within `FRAUD_REPEAT_WINDOW_HOURS`;
- **shared payout method**: the creator's payout account is also another creator's;
- **disposable email**: the shopper's email domain is on the disposable-email-domains list
  (or `FRAUD_DISPOSABLE_DOMAINS_EXTRA`).
"""

from dataclasses import dataclass, field
from datetime import timedelta

from disposable_email_domains import blocklist
from django.conf import settings
from django.db.models import Count, Q

from attribution.customer import Customer
from attribution.models import Attribution, FraudSignal
from attribution.precedence import Candidate
from core.crypto import keyed_hash
from creators.models import Creator, CreatorFingerprint
from links.models import ClickEvent
from sales.models import Order

Kind = FraudSignal.Kind
FP = CreatorFingerprint.Kind


@dataclass
class Finding:
    kind: str
    merchant_text: str
    creator_text: str
    evidence: dict = field(default_factory=dict)


def _self_referral(
    order: Order, creator: Creator, clicks: list[Candidate], own: list[tuple[str, str]]
) -> Finding | None:
    """`own`: the creator's fingerprints, (kind, value hash)."""
    matched = []
    own_email = keyed_hash("customer-email", creator.email.strip().lower()) if creator.email else ""
    if order.customer_email_hash and order.customer_email_hash == own_email:
        matched.append("email")
    visitors = {c.extra.get("visitor_hash") for c in clicks if c.extra.get("visitor_hash")}
    for kind, value_hash in own:
        if (
            (kind == FP.EMAIL and value_hash == order.customer_email_hash)
            or (kind == FP.PAYMENT and value_hash == order.payment_fingerprint_hash)
            or (kind == FP.VISITOR and value_hash in visitors)
        ) and value_hash:
            label = {"email": "email", "payment": "payment card", "visitor": "device"}[kind]
            if label not in matched:
                matched.append(label)
    if not matched:
        return None
    what = " and ".join(matched)
    return Finding(
        Kind.SELF_REFERRAL,
        f"Self-referral: the order's {what} matches @{creator.handle}'s own.",
        f"This order matches your own {what}: your own purchases do not earn commission "
        "unless the merchant approves them.",
        {"matched": matched},
    )


def _code_leakage(winner: Candidate, candidates: list[Candidate], window_days: int):
    if winner.kind != "code":
        return None
    owner_clicks = [
        c
        for c in candidates
        if c.kind in ("order_click", "cookie_click")
        and c.creator_id == winner.creator_id
        and c.eligible
    ]
    if owner_clicks:
        return None
    return Finding(
        Kind.CODE_LEAKAGE,
        f"Code leakage: {winner.code} was used with no click from @{winner.handle} in the "
        f"{window_days}-day window (the code may be posted on a coupon site).",
        f"Your code {winner.code} was used by a shopper who did not come through your links; "
        "the merchant checks such orders before paying.",
        {"code": winner.code, "owner_clicks_in_window": 0, "window_days": window_days},
    )


def _click_spike(winner: Candidate):
    link_id = winner.extra.get("link_id")
    if winner.kind not in ("order_click", "cookie_click") or not link_id or winner.at is None:
        return None
    minutes = settings.FRAUD_SPIKE_WINDOW_MINUTES
    clicks = ClickEvent.objects.filter(
        link_id=link_id,
        clicked_at__gte=winner.at - timedelta(minutes=minutes),
        clicked_at__lte=winner.at,
    )
    total = clicks.count()
    if total < settings.FRAUD_SPIKE_MIN_CLICKS:
        return None
    for label, fields in (("network", ["network"]), ("user agent", ["browser", "os"])):
        top = clicks.values(*fields).annotate(n=Count("pk")).order_by("-n").first()
        if top and top["n"] / total >= settings.FRAUD_SPIKE_SHARE:
            who = " ".join(str(top[f]) or "?" for f in fields)
            return Finding(
                Kind.CLICK_SPIKE,
                f"Click spike: {top['n']} of {total} clicks on the link in the {minutes} "
                f"minutes before this one came from one {label} ({who}).",
                "Your link had an unusual burst of clicks from one source just before this "
                "order; the merchant checks it before paying.",
                {
                    "link_id": link_id,
                    "clicks": total,
                    "window_minutes": minutes,
                    "by": label,
                    "value": who,
                    "count": top["n"],
                },
            )
    return None


def _repeat_orders(order: Order, creator: Creator, visitor_key: str):
    hours = settings.FRAUD_REPEAT_WINDOW_HOURS
    same = Q()
    if visitor_key:
        same |= Q(visitor_key=visitor_key)
    if order.customer_email_hash:
        same |= Q(customer_email_hash=order.customer_email_hash)
    if not same:
        return None
    since = order.placed_at - timedelta(hours=hours)
    earlier = (
        Attribution.objects.filter(
            same, creator=creator, placed_at__gte=since, placed_at__lte=order.placed_at
        )
        .exclude(order=order)
        .count()
    )
    if earlier + 1 <= settings.FRAUD_REPEAT_MAX_ORDERS:
        return None
    return Finding(
        Kind.REPEAT_ORDERS,
        f"Repeat orders: {earlier + 1} orders credited to @{creator.handle} from one visitor "
        f"or customer within {hours} hours.",
        f"Several orders ({earlier + 1}) from the same shopper within {hours} hours; the "
        "merchant checks them before paying.",
        {"orders": earlier + 1, "window_hours": hours},
    )


def _shared_payout(creator: Creator, own: list[tuple[str, str]]):
    mine = [value_hash for kind, value_hash in own if kind == FP.PAYOUT_ACCOUNT]
    if not mine:
        return None  # no payout account known: nothing to share (and nothing to look up)
    others = list(
        CreatorFingerprint.objects.filter(kind=FP.PAYOUT_ACCOUNT, value_hash__in=mine)
        .exclude(creator=creator)
        .values_list("creator__handle", flat=True)[:5]
    )
    if not others:
        return None
    return Finding(
        Kind.SHARED_PAYOUT,
        f"Payout method shared: @{creator.handle}'s payout account is also "
        + ", ".join(f"@{h}" for h in others)
        + "'s.",
        "Your payout account is also used by another creator; the merchant checks this "
        "before paying.",
        {"other_creators": others},
    )


def disposable(email: str) -> bool:
    domain = email.rsplit("@", 1)[-1].strip().lower() if "@" in (email or "") else ""
    if not domain:
        return False
    extra = {d.strip().lower() for d in settings.FRAUD_DISPOSABLE_DOMAINS_EXTRA if d.strip()}
    return domain in blocklist or domain in extra


def _disposable(customer: Customer):
    if not disposable(customer.email):
        return None
    domain = customer.email.rsplit("@", 1)[-1].lower()
    return Finding(
        Kind.DISPOSABLE_EMAIL,
        f"Disposable email: the shopper used a throwaway address at {domain}.",
        "The shopper used a throwaway email address; the merchant checks such orders.",
        {"domain": domain},
    )


def findings(*, order, creator, winner, candidates, window_days, visitor_key, customer):
    """Every signal for crediting `order` to `creator` through `winner`."""
    clicks = [c for c in candidates if c.kind in ("order_click", "cookie_click")]
    # The creator's own fingerprints, read once for the self-referral and payout checks.
    own = list(CreatorFingerprint.objects.filter(creator=creator).values_list("kind", "value_hash"))
    found = [
        _self_referral(order, creator, clicks, own),
        _code_leakage(winner, candidates, window_days),
        _click_spike(winner),
        _repeat_orders(order, creator, visitor_key),
        _shared_payout(creator, own),
        _disposable(customer),
    ]
    return [f for f in found if f is not None]
