"""Demo ledger for `seed_demo`: payout details and a tax form for the demo creators, and
three orders that arrive through the demo custom checkout's signed Standard Webhooks (the
path real orders take) carrying a demo creator's discount code, credited by attribution as
real ones are (`attribution_decide`): two commissions available to pay, one held for
review. The console then has balances, a held commission to review, statements, tax forms,
and enough to make and approve a payout run. Running it twice changes nothing (the
deliveries and decisions are keyed)."""

import time

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
from sales.models import Commission, Order, PayoutDetails, SalesChannel, TaxForm
from testservers import webhooks

DETAILS = {
    "maya-makes": {"method": "manual", "account": "FR76 3000 6000 0112 3456 7890 189",
                   "country": "FR"},
    "leo-lifts": {"method": "paypal", "account": "leo-lifts@example.com", "country": "GB"},
}  # fmt: skip
# (order id, creator handle, quantity, why it is held for review or "")
ORDERS = [
    ("demo-ledger-1", "maya-makes", 7, ""),
    ("demo-ledger-2", "leo-lifts", 20, ""),
    ("demo-ledger-3", "maya-makes", 1, "Self-referral: the order's email hash is Maya's own"),
]
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
    channel = SalesChannel.objects.filter(provider="standard", name="Demo custom checkout").first()
    # Well-stocked USD products, dearest first: big enough orders that a run pays both.
    variants = list(Variant.objects.filter(currency="USD", stock_on_hand__gte=30)
                    .order_by("-price", "pk")[:2])  # fmt: skip
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
    for n, (order_id, handle, quantity, review) in enumerate(ORDERS):
        click = _click(creators[handle], order_id)
        order = _order(channel, order_id, variants[n % 2], quantity, codes[handle], click)
        attribution_decide(order_id=order.pk, reason="Demo order.")
        if review:
            for commission in Commission.objects.filter(order=order, status="pending"):
                commissions.commission_hold(commission_id=commission.pk, reason=review)
    commissions.commissions_release_due(now=_after_holds())
    demo_finance()
    made = Commission.objects.filter(order__external_id__in=[o[0] for o in ORDERS])
    return {"commissions": made.count(),
            "available": made.filter(status=Commission.Status.AVAILABLE).count(),
            "held": made.filter(status=Commission.Status.HELD).count()}  # fmt: skip


def _code(creator: Creator, program: Program) -> str:
    """The creator's own code (their affiliate code) in the demo program, made once."""
    existing = DiscountCode.objects.filter(creator=creator, program=program).first()
    if existing is not None:
        return existing.code
    creator_services.discount_code_create(
        code=creator.affiliate_code, creator_id=creator.pk, program_id=program.pk
    )
    return creator.affiliate_code


def _after_holds():
    """A moment past the demo orders' holds, so their commissions are available to pay."""
    from datetime import timedelta

    from django.utils import timezone

    latest = Commission.objects.filter(order__external_id__in=[o[0] for o in ORDERS])
    until = max((c.hold_until for c in latest), default=timezone.now())
    return max(until, timezone.now()) + timedelta(seconds=1)


def _click(creator: Creator, order_id: str) -> str:
    """A shopper's click on one of the creator's demo links an hour before the order (the
    order carries its id, as a checkout does): their code was used by someone they sent."""
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
        "product_id": link.product_id, "ts": time.time() - 3600, "route": "default",
        "country": "US", "device_type": "mobile", "os": "iOS", "browser": "Mobile Safari",
        "in_app": "tiktok", "referrer_host": "www.tiktok.com", "utm_source": "tiktok",
        "utm_medium": "creator", "utm_campaign": "", "utm_content": "", "utm_term": marker,
        "is_qr": False, "is_bot": False, "network": "203.0.113.0/24",
        "visitor_hash": marker, "is_unique": True,
    }])  # fmt: skip
    return click_id


def _order(channel, order_id, variant, quantity, code, click_id) -> Order:
    existing = Order.objects.filter(channel=channel, external_id=order_id).first()
    if existing is not None:
        return existing
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    total = str(variant.price * quantity)
    data = {"id": order_id, "name": f"#{order_id}", "status": "paid", "currency": "USD",
            "subtotal": total, "total": total, "placed_at": now, "paid_at": now,
            "updated_at": now, "version": 1, "discount_codes": [code], "click_id": click_id,
            "lines": [{"id": f"{order_id}-1", "sku": variant.sku, "title": str(variant),
                       "quantity": quantity, "unit_price": str(variant.price)}]}  # fmt: skip
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
