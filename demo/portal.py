"""The creator portal's demo for `seed_demo`: a program creators can apply to, and a demo
creator login (Maya, `maya-makes@example.com`, with the demo admin's password) whose portal
already has links, a discount code, content, a month of clicks, orders credited to her and
earnings (pending and available). Stable ids make a second run change nothing.

Orders are written as a channel would have delivered them, then credited through
`attribution_decide`, which posts the commissions to the ledger (`sales.commissions`).
"""

import io
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from attribution.services import attribution_decide
from catalog.models import Product
from core.crypto import keyed_hash
from creators import services as creator_services
from creators.models import (
    CommissionRule,
    Creator,
    CreatorAccount,
    CreatorGroup,
    DiscountCode,
    Program,
    RuleSet,
)
from links import clicks as click_store
from links.models import ShortLink
from sales import commissions
from sales.models import Order, OrderLine, SalesChannel
from ugc import services as ugc_services
from ugc.models import UGCItem

PROGRAM_SLUG = "creators-club"
DEMO_CREATOR_HANDLE = "maya-makes"
DEMO_CREATOR_EMAIL = "maya-makes@example.com"
DEMO_CODE = "MAYA10"
TERMS = (
    "1. Share honest opinions and say that you earn a commission (#ad).\n"
    "2. You earn 10 % of what the shopper paid for the products (after discounts, tax and "
    "shipping), held 30 days in case of returns.\n"
    "3. No paid search on our brand, no coupon sites.\n"
    "4. Either side may end this at any time; what you earned stays yours."
)
LICENCE = (
    "You allow the shop to show the photo or video you submit on its site and social "
    "accounts, with your handle, for as long as you do not withdraw your consent. You keep "
    "the copyright. You confirm that everyone shown agreed to it."
)


@dataclass
class PortalDemo:
    program: Program
    creator: Creator
    email: str
    created: bool


def demo_program() -> tuple[Program, CreatorGroup]:
    """The demo program, its terms, licence, group and published rates (made once)."""
    program = Program.objects.filter(slug=PROGRAM_SLUG).first()
    if program is None:
        program = creator_services.program_create(
            name="Creators Club", slug=PROGRAM_SLUG, currency="USD",
            description="Earn 10 % on every order you bring, with your links and your code.",
            is_default=not Program.objects.filter(is_default=True).exists(),
        )  # fmt: skip
        creator_services.program_terms_publish(program_id=program.pk, text=TERMS)
        creator_services.content_licence_publish(
            program_id=program.pk, text=LICENCE, channels=["site", "social"]
        )
        creator_services.program_options_save(program_id=program.pk, allow_custom_slugs=True)
    group = program.groups.order_by("position", "pk").first()
    if group is None:
        group = creator_services.group_create(
            program_id=program.pk, name="Core creators", slug="core", hold_days=30,
            application_mode=CreatorGroup.ApplicationMode.OPEN, minimum_payout={"USD": "50.00"},
        )  # fmt: skip
    if not RuleSet.objects.filter(group=group, status=RuleSet.Status.PUBLISHED).exists():
        # Published as `ruleset_publish` would, a year back, so every demo order is covered.
        since = timezone.now() - timedelta(days=365)
        ruleset = RuleSet.objects.create(
            group=group, version=1, status=RuleSet.Status.PUBLISHED, published_at=since,
            effective_at=since, note="Demo rates.",
        )  # fmt: skip
        CommissionRule.objects.create(
            ruleset=ruleset, position=1, name="10 % of the base", kind="percent",
            percent=Decimal(10),
        )  # fmt: skip
    return program, group


def _account(creator: Creator) -> bool:
    if CreatorAccount.objects.filter(creator=creator).exists():
        return False
    user = get_user_model().objects.create_user(
        username=f"creator-{creator.pk}", email=DEMO_CREATOR_EMAIL,
        password=settings.DEMO_ADMIN_PASSWORD,
    )  # fmt: skip
    CreatorAccount.objects.create(
        creator=creator, user=user, handle_tiktok="@maya.makes", handle_instagram="maya.makes",
        country="DE",
    )  # fmt: skip
    return True


def _clicks(creator: Creator, links: list[ShortLink], now: datetime) -> list[tuple]:
    """Six weeks of clicks on her links (and a few bots), stored as the drain stores them."""
    rng = random.Random(15)  # noqa: S311 (demo data)
    rows, ids = [], []
    for days_ago in range(45, -1, -1):
        for _ in range(rng.randint(3, 14)):
            link = rng.choice(links)
            at = now - timedelta(days=days_ago, minutes=rng.randint(1, 600))
            click_id = uuid.uuid5(uuid.NAMESPACE_URL, f"demo-portal-click-{len(rows)}").hex
            bot = rng.random() < 0.05
            rows.append({
                "click_id": click_id, "link_id": link.pk, "creator_id": creator.pk,
                "product_id": link.product_id, "ts": at.timestamp(), "route": "default",
                "country": rng.choice(["DE", "DE", "FR", "US", "GB", "NL"]),
                "device_type": rng.choice(["mobile", "mobile", "mobile", "desktop"]),
                "os": "iOS", "browser": "Mobile Safari",
                "in_app": rng.choice(["tiktok", "tiktok", "instagram", ""]),
                "referrer_host": "", "utm_source": link.utm_source, "utm_medium": "creator",
                "utm_campaign": link.utm_campaign, "utm_content": DEMO_CREATOR_HANDLE,
                "utm_term": "", "is_qr": False, "is_bot": bot, "is_unique": not bot,
                "network": "192.0.2.0/24", "visitor_hash": "",
            })  # fmt: skip
            if not bot:
                ids.append((at, click_id))
    click_store.store(rows)
    return sorted(ids)


def _orders(creator: Creator, links: list[ShortLink], visits: list[tuple], now: datetime):
    """Orders carrying her clicks (two of them with her code), paid, credited to her."""
    channel = SalesChannel.objects.filter(provider="standard").order_by("pk").first()
    if channel is None:
        return 0
    made = 0
    plan = [(40, 0), (33, 1), (12, 2), (6, 0), (3, 1), (1, 2), (0, 0)]
    for n, (days_ago, which) in enumerate(plan):
        external_id = f"demo-portal-{n + 1}"
        if Order.objects.filter(channel=channel, external_id=external_id).exists():
            continue
        link = links[which % len(links)]
        product = link.product
        variant = product.variants.order_by("position", "pk").first()
        price = variant.price if variant else Decimal("20.00")
        currency = variant.currency if variant else "USD"
        placed = now - timedelta(days=days_ago, hours=2)
        before = [click_id for at, click_id in visits if at < placed - timedelta(minutes=30)]
        if not before:
            continue
        with transaction.atomic():
            order = Order.objects.create(
                channel=channel, external_id=external_id, name=f"#D{1000 + n}",
                status=Order.Status.PAID, currency=currency, subtotal=price, total=price,
                placed_at=placed, paid_at=placed,
                discount_codes=[DEMO_CODE] if n % 3 == 1 else [],
                click_id=before[-1],
                customer_email_hash=keyed_hash("customer-email", f"shopper{n}@example.net"),
                country="DE",
            )  # fmt: skip
            OrderLine.objects.create(
                order=order, external_id="1", sku=variant.sku if variant else "DEMO",
                title=product.title, quantity=1, unit_price=price, total=price,
                product=product, variant=variant,
            )  # fmt: skip
        attribution_decide(order_id=order.pk, reason="Demo order.")
        made += 1
    commissions.commissions_release_due(now=now)  # the oldest ones' holds are over
    return made


def _content(creator: Creator, program: Program) -> None:
    """One photo she submitted through the portal, waiting for review."""
    if UGCItem.objects.filter(creator=creator, source=UGCItem.Source.PORTAL).exists():
        return
    from demo.management.commands.seed_demo import product_picture
    from demo.ugc import ugc_picture

    product = Product.objects.filter(title="Glow Serum 30 ml").first()
    licence = program.content_licences.order_by("-version").first()
    if product is None or licence is None:
        return
    picture = ugc_picture(
        product_picture(product.title, (236, 164, 92), "bottle"),
        size=(1080, 1350), colour=(236, 164, 92), handle=creator.handle, seed=1501,
    )  # fmt: skip
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85)
    ugc_services.ugc_portal_submit(
        creator_id=creator.pk,
        media_file=SimpleUploadedFile("glow-routine.jpg", out.getvalue(), "image/jpeg"),
        licence_id=licence.pk, accept_licence=True, product_ids=[product.pk],
        caption="My morning routine with the Glow Serum ✨", network_hash="demo",
    )  # fmt: skip


def seed_portal() -> PortalDemo | None:
    """The demo program and Maya's portal (once)."""
    creator = Creator.objects.filter(handle=DEMO_CREATOR_HANDLE).first()
    if creator is None:
        return None
    program, group = demo_program()
    created = _account(creator)
    creator_services.membership_set(creator_id=creator.pk, group_id=group.pk)
    if not DiscountCode.objects.filter(code__iexact=DEMO_CODE).exists():
        creator_services.discount_code_create(
            code=DEMO_CODE, creator_id=creator.pk, program_id=program.pk
        )
    links = list(
        ShortLink.objects.filter(creator=creator, product__isnull=False, active=True).order_by("pk")
    )
    if created and links:
        now = datetime.now(UTC)
        visits = _clicks(creator, links, now)
        if visits:
            _orders(creator, links, visits, now)
    _content(creator, program)
    return PortalDemo(program=program, creator=creator, email=DEMO_CREATOR_EMAIL, created=created)
