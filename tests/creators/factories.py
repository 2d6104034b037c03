"""Factories and builders for the creator portal's tests: programs with terms, a licence and
published rules; creators with accounts; orders credited through attribution."""

import uuid
from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from creators import accounts
from creators import services as creator_services
from creators.models import (
    CommissionRule,
    Creator,
    CreatorAccount,
    CreatorGroup,
    Program,
    RuleSet,
)
from links.models import ClickEvent, ShortLink
from sales.models import Order, OrderLine
from tests.catalog.factories import ProductFactory
from tests.sales.factories import SalesChannelFactory

PASSWORD = "a-long-creator-password-42"


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program

    name = factory.Sequence(lambda n: f"Program {n}")
    slug = factory.Sequence(lambda n: f"program-{n}")
    currency = "USD"


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CreatorGroup

    program = factory.SubFactory(ProgramFactory)
    name = factory.Sequence(lambda n: f"Group {n}")
    slug = factory.Sequence(lambda n: f"group-{n}")
    hold_days = 30


class CreatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Creator

    name = factory.Sequence(lambda n: f"Creator {n}")
    handle = factory.Sequence(lambda n: f"portal-creator{n}")
    email = factory.Sequence(lambda n: f"portal-creator{n}@example.com")
    affiliate_code = factory.Sequence(lambda n: f"PORTAL{n}")


def program_with(
    *,
    percent="10",
    mode=CreatorGroup.ApplicationMode.OPEN,
    terms="Be nice.",
    licence=True,
    **fields,
):
    """A program with published terms, one group paying `percent`, and a content licence."""
    program = ProgramFactory(**fields)
    group = GroupFactory(program=program, application_mode=mode)
    if terms:
        creator_services.program_terms_publish(program_id=program.pk, text=terms)
    # A published version, written directly: `ruleset_draft`/`ruleset_publish` lock with an
    # ordering PostgreSQL refuses until the attribution branch's fix lands.
    ruleset = RuleSet.objects.create(
        group=group,
        version=1,
        status=RuleSet.Status.PUBLISHED,
        published_at=timezone.now() - timedelta(days=365),
        effective_at=timezone.now() - timedelta(days=365),
    )
    CommissionRule.objects.create(
        ruleset=ruleset, position=1, kind="percent", percent=Decimal(percent)
    )
    if licence:
        creator_services.content_licence_publish(
            program_id=program.pk, text="You let us show it.", channels=["site", "social"]
        )
    return program, group


def creator_account(group=None, *, email=None, password=PASSWORD, **fields) -> Creator:
    """A creator with a portal account (and a membership in `group`)."""
    creator = CreatorFactory(**fields)
    email = email or creator.email
    user = get_user_model().objects.create_user(
        username=f"creator-{creator.pk}", email=email, password=password
    )
    CreatorAccount.objects.create(creator=creator, user=user)
    if group is not None:
        creator_services.membership_set(creator_id=creator.pk, group_id=group.pk)
    return creator


def log_in(client, creator: Creator) -> None:
    client.force_login(creator.account.user, backend="creators.portal.auth.CreatorEmailBackend")


def link_for(creator, product=None, **fields) -> ShortLink:
    product = product or ProductFactory()
    return ShortLink.objects.create(
        product=product, creator=creator, code=f"L{uuid.uuid4().hex[:8]}", **fields
    )


def click(link, *, ago=timedelta(hours=1), bot=False, **fields) -> ClickEvent:
    return ClickEvent.objects.create(
        click_id=uuid.uuid4(),
        link=link,
        creator=link.creator,
        product=link.product,
        clicked_at=timezone.now() - ago,
        is_bot=bot,
        **fields,
    )


def paid_order(
    *, product=None, price="100.00", codes=(), click_id="", currency="USD", placed_at=None
) -> Order:
    channel = SalesChannelFactory(currency=currency)
    placed_at = placed_at or timezone.now() - timedelta(minutes=5)
    order = Order.objects.create(
        channel=channel,
        external_id=f"o-{uuid.uuid4().hex[:10]}",
        status=Order.Status.PAID,
        currency=currency,
        subtotal=Decimal(price),
        total=Decimal(price),
        placed_at=placed_at,
        paid_at=placed_at,
        discount_codes=list(codes),
        click_id=click_id,
        customer_email_hash=accounts.keyed_hash("customer-email", f"{uuid.uuid4()}@shopper.test"),
    )
    OrderLine.objects.create(
        order=order,
        sku="SKU-1",
        title=product.title if product else "Thing",
        quantity=1,
        unit_price=Decimal(price),
        total=Decimal(price),
        product=product,
    )
    return order
