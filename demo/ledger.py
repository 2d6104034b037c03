"""Demo ledger for `seed_demo`: payout details and a tax form for the demo creators, and demo
orders that arrive through the demo custom checkout's signed Standard Webhooks (the path real
orders take), each credited by the real attribution service (`attribution_decide`) through one
precedence rule:

- Maya's code (with her click, so no code-leakage signal), paid 40 days ago: released, and paid
  out by hand in a payout run made by `admin` and approved by `demo-finance` (four eyes);
- a click Leo's link carried into the checkout, 35 days ago: released, **available** to pay;
- the attribution cookie's click (Maya's link, the checkout carried no click), 2 days ago:
  **pending** (its hold runs 30 days);
- a UGC card's link (`utm_content=ugc-<id>`): the content's creator, **pending**; made once the
  demo UGC exists (`seed_content_order`, after `seed_ugc`);
- a click on Leo's link by a shopper whose email is Leo's own: the fraud check finds a
  self-referral and the commission is **held** in the review queue
  (/admin/attribution/heldcommission/).

The console then has balances in every state, a paid run with its audit trail, a held
commission to review, statements, and enough to make and approve another payout run. Running
it twice changes nothing (the deliveries, decisions and the run are keyed)."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile

from attribution.services import attribution_decide
from catalog.models import Variant
from creators import services as creator_services
from creators.models import Creator, DiscountCode, Program
from demo.portal import demo_program
from demo.sales import DEMO_SECRETS
from sales import commissions, payouts, services
from sales.models import Commission, Order, PayoutDetails, PayoutRun, SalesChannel, TaxForm
from testservers import webhooks

DETAILS = {
    "maya-makes": {"method": "manual", "account": "FR76 3000 6000 0112 3456 7890 189",
                   "country": "FR"},
    "leo-lifts": {"method": "paypal", "account": "leo-lifts@example.com", "country": "GB"},
}  # fmt: skip
DAY = 86400


@dataclass(frozen=True)
class DemoOrder:
    external_id: str
    handle: str
    quantity: int
    age: int  # seconds since the order was placed (and paid)
    code: bool = False  # the creator's discount code was used
    click: bool = False  # the checkout carried the creator's click id
    cookie: bool = False  # the attribution cookie's click (the visitor's last click)
    email: str = ""  # the shopper's email


ORDERS = [
    DemoOrder("demo-ledger-1", "maya-makes", 7, 40 * DAY, code=True, click=True),
    DemoOrder("demo-ledger-2", "leo-lifts", 20, 35 * DAY, click=True),
    DemoOrder("demo-ledger-3", "maya-makes", 2, 2 * DAY, cookie=True),
    DemoOrder("demo-ledger-5", "leo-lifts", 1, 3600, click=True, email="leo-lifts@example.com"),
]
CONTENT_ORDER = "demo-ledger-4"  # credited through a UGC card (`seed_content_order`)
EXTERNAL_IDS = [o.external_id for o in ORDERS] + [CONTENT_ORDER]
PAID_RUN_KEY = "demo-ledger-run-1"
# A one-page PDF standing in for a creator's tax form (the portal and the console show it).
DEMO_TAX_FORM = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
    b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
DEMO_FINANCE = "demo-finance"  # approves the runs `admin` makes (four eyes)


def seed_ledger() -> dict:
    creators = {c.handle: c for c in Creator.objects.filter(handle__in=DETAILS)}
    channel = _channel()
    variants = _variants()
    if len(creators) < len(DETAILS) or channel is None or len(variants) < 2:
        return {}
    for handle, details in DETAILS.items():
        if not PayoutDetails.objects.filter(creator=creators[handle]).exists():
            # Seeded data: nobody to tell by email (and `make run` stays quiet).
            payouts.payout_details_set(creator_id=creators[handle].pk, tax_form_received=True,
                                       notify=False, **details)  # fmt: skip
        if not TaxForm.objects.filter(creator=creators[handle]).exists():
            upload = ContentFile(DEMO_TAX_FORM, name="tax-form.pdf")
            payouts.tax_form_upload(creator_id=creators[handle].pk, upload=upload)
    program, group = demo_program()
    for creator in creators.values():
        if not creator.memberships.filter(group=group).exists():
            creator_services.membership_set(creator_id=creator.pk, group_id=group.pk)
    codes = {handle: _code(creator, program) for handle, creator in creators.items()}
    first, second, *recent = ORDERS
    _credit(channel, first, variants[0], codes, creators)
    commissions.commissions_release_due()  # its hold ended 10 days ago
    _pay_maya()
    _credit(channel, second, variants[1], codes, creators)
    commissions.commissions_release_due()  # available: the next run pays it
    for n, spec in enumerate(recent):
        _credit(channel, spec, variants[n % 2], codes, creators)
    return summary()


def seed_content_order() -> bool:
    """The order credited through a demo UGC card (a creator's published content): made once
    the demo UGC exists. Returns whether it exists."""
    from ugc.models import UGCItem

    channel, variants = _channel(), _variants()
    item = (
        UGCItem.objects.filter(creator__handle__in=DETAILS, status=UGCItem.Status.PUBLISHED)
        .order_by("pk")
        .first()
    )
    if item is None or channel is None or not variants:
        return False
    landing = f"https://shop.example.com/feed?utm_source=shoploop&utm_content=ugc-{item.pk}"
    order = _order(channel, CONTENT_ORDER, variants[0], 1, age=DAY, landing_url=landing)
    attribution_decide(order_id=order.pk, reason="Demo order.")
    return True


def summary() -> dict:
    """The demo orders' commissions by status, and how each order was credited."""
    from attribution.models import Attribution

    made = Commission.objects.filter(order__external_id__in=EXTERNAL_IDS)
    by_status = {status: made.filter(status=status).count() for status in Commission.Status}
    rules = dict(
        Attribution.objects.filter(order__external_id__in=EXTERNAL_IDS).values_list(
            "order__external_id", "rule"
        )
    )
    return {"commissions": made.count(), "rules": rules, **by_status}


def _channel():
    return SalesChannel.objects.filter(provider="standard", name="Demo custom checkout").first()


def _variants():
    # Well-stocked USD products, dearest first: big enough orders to reach the minimum payout.
    return list(Variant.objects.filter(currency="USD", stock_on_hand__gte=30)
                .order_by("-price", "pk")[:2])  # fmt: skip


def _credit(channel, spec: DemoOrder, variant, codes, creators) -> Order:
    creator = creators[spec.handle]
    placed = time.time() - spec.age
    click = _click(creator, spec.external_id, at=placed - 3600) if spec.click or spec.cookie else ""
    order = _order(
        channel, spec.external_id, variant, spec.quantity, age=spec.age,
        code=codes[spec.handle] if spec.code else "",
        click_id=click if spec.click else "", visitor_click_id=click if spec.cookie else "",
        email=spec.email,
    )  # fmt: skip
    attribution_decide(order_id=order.pk, reason="Demo order.")
    return order


def _pay_maya() -> None:
    """Maya's available commission paid out by hand: a run made by `admin`, approved by
    `demo-finance`, exported, and marked paid with the bank's reference (once)."""
    run = PayoutRun.objects.filter(key=PAID_RUN_KEY).first()
    if run is not None:
        return
    admin = User.objects.filter(username="admin").first()
    finance = demo_finance()
    run = payouts.payout_run_create(
        currency="USD", actor=admin, key=PAID_RUN_KEY, note="Demo: Maya's first payout."
    )
    if run is None:
        return
    payouts.payout_run_approve(run_id=run.pk, actor=finance, note="Demo: checked.")
    for payout in run.payouts.order_by("pk"):
        payouts.payout_send(payout_id=payout.pk)  # a manual payout: exported to pay by hand
        payouts.payout_confirm(payout_id=payout.pk, source="manual", actor=finance,
                               reference=f"DEMO-SEPA-{payout.pk:06d}")  # fmt: skip


def _code(creator: Creator, program: Program) -> str:
    """The creator's own code (their affiliate code) in the demo program, made once."""
    existing = DiscountCode.objects.filter(creator=creator, program=program).first()
    if existing is not None:
        return existing.code
    creator_services.discount_code_create(
        code=creator.affiliate_code, creator_id=creator.pk, program_id=program.pk
    )
    return creator.affiliate_code


def _click(creator: Creator, order_id: str, *, at: float) -> str:
    """A shopper's click on one of the creator's demo links an hour before the order (the
    checkout or the attribution cookie carries its id)."""
    from links import clicks
    from links.models import ClickEvent, ShortLink

    link = ShortLink.objects.filter(creator=creator).order_by("pk").first()
    marker = f"demo-{order_id}"
    existing = ClickEvent.objects.filter(link=link, utm_term=marker).first() if link else None
    if link is None or existing is not None:
        return existing.click_id.hex if existing else ""
    click_id = clicks.new_click_id()
    clicks.store([{
        "click_id": click_id, "link_id": link.pk, "creator_id": creator.pk,
        "product_id": link.product_id, "ts": at, "route": "default",
        "country": "US", "device_type": "mobile", "os": "iOS", "browser": "Mobile Safari",
        "in_app": "tiktok", "referrer_host": "www.tiktok.com", "utm_source": "tiktok",
        "utm_medium": "creator", "utm_campaign": "", "utm_content": "", "utm_term": marker,
        "is_qr": False, "is_bot": False, "network": "203.0.113.0/24",
        "visitor_hash": marker, "is_unique": True,
    }])  # fmt: skip
    return click_id


def _order(channel, order_id, variant, quantity, *, age: int, code="", click_id="",
           visitor_click_id="", email="", landing_url="") -> Order:  # fmt: skip
    existing = Order.objects.filter(channel=channel, external_id=order_id).first()
    if existing is not None:
        return existing
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - age))
    total = str(variant.price * quantity)
    data = {"id": order_id, "name": f"#{order_id}", "status": "paid", "currency": "USD",
            "subtotal": total, "total": total, "placed_at": at, "paid_at": at,
            "updated_at": at, "version": 1, "discount_codes": [code] if code else [],
            "click_id": click_id, "visitor_click_id": visitor_click_id,
            "landing_url": landing_url,
            "lines": [{"id": f"{order_id}-1", "sku": variant.sku, "title": str(variant),
                       "quantity": quantity, "unit_price": str(variant.price)}]}  # fmt: skip
    if email:
        data["email"] = email
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = webhooks.body_of({"type": "order.paid", "timestamp": now, "data": data})
    headers = webhooks.standard_headers(secret=DEMO_SECRETS["standard"], body=body,
                                        msg_id=f"msg_{order_id}")  # fmt: skip
    receipt = services.delivery_receive(provider="standard", token=channel.token, body=body,
                                        headers=headers)  # fmt: skip
    if receipt.delivery_id:
        services.delivery_process(delivery_id=receipt.delivery_id)  # now, not after commit
    return Order.objects.get(channel=channel, external_id=order_id)


def demo_finance() -> User:
    """A Finance user (password as the demo admin's) to approve the runs `admin` makes."""
    user = User.objects.filter(username=DEMO_FINANCE).first()
    if user is None:
        user = User.objects.create_user(
            username=DEMO_FINANCE,
            password=settings.DEMO_ADMIN_PASSWORD,
            first_name="Demo",
            last_name="Finance",
            is_staff=True,
        )
        group = Group.objects.filter(name="Finance").first()
        if group:
            user.groups.add(group)
    return user
