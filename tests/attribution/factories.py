"""Factories and builders for attribution tests: programs with published rules, orders with
lines, clicks on creators' links."""

import uuid
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from creators import services as creator_services
from creators.models import Creator, CreatorGroup, DiscountCode, Program
from links.models import ClickEvent, ShortLink
from sales.models import Order, OrderLine
from tests.catalog.factories import ProductFactory
from tests.links.factories import CreatorFactory  # noqa: F401 - re-exported
from tests.sales.factories import SalesChannelFactory


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program

    name = factory.Sequence(lambda n: f"Program {n}")
    slug = factory.Sequence(lambda n: f"program-{n}")
    currency = "USD"
    is_default = True


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CreatorGroup

    program = factory.SubFactory(ProgramFactory)
    name = factory.Sequence(lambda n: f"Group {n}")
    slug = factory.Sequence(lambda n: f"group-{n}")
    hold_days = 30


def publish(group, rules, *, creator=None, now=None):
    """A published version of `group`'s rules: [{field: value, "product_ids": [...]}]."""
    draft = creator_services.ruleset_draft(group_id=group.pk, creator_id=creator and creator.pk)
    for rule in list(draft.rules.all()):
        creator_services.rule_delete(ruleset_id=draft.pk, rule_id=rule.pk)
    for position, fields in enumerate(rules, start=1):
        creator_services.rule_save(ruleset_id=draft.pk, position=position, **fields)
    return creator_services.ruleset_publish(ruleset_id=draft.pk, now=now)


def program_with(percent="10", *, currency="USD", creators=(), **program_fields):
    """A default program with one group paying `percent` of the base, creators in it."""
    program = ProgramFactory(currency=currency, **program_fields)
    group = GroupFactory(program=program)
    publish(
        group,
        [{"kind": "percent", "percent": Decimal(percent)}],
        now=timezone.now() - timedelta(days=365),
    )
    for creator in creators:
        creator_services.membership_set(creator_id=creator.pk, group_id=group.pk)
    return program, group


def code_for(creator, program, code="MAYA10", **fields):
    return DiscountCode.objects.create(code=code, creator=creator, program=program, **fields)


def link_for(creator: Creator | None, product=None) -> ShortLink:
    product = product or ProductFactory()
    return ShortLink.objects.create(
        product=product, creator=creator, code=f"L{uuid.uuid4().hex[:8]}"
    )


def click(creator=None, *, link=None, ago=timedelta(days=1), at=None, bot=False, **fields):
    link = link or link_for(creator)
    return ClickEvent.objects.create(
        click_id=uuid.uuid4(),
        link=link,
        creator=creator,
        product=link.product,
        clicked_at=at or timezone.now() - ago,
        is_bot=bot,
        **fields,
    )


def make_order(
    lines=(("A", 1, "100.00"),),
    *,
    currency="USD",
    placed_at=None,
    codes=(),
    click_id="",
    visitor_click_id="",
    email_hash="",
    status=Order.Status.PAID,
    products=None,
    **fields,
):
    """lines: [(sku, quantity, unit price as text)]; totals add up, no tax or shipping."""
    channel = SalesChannelFactory(currency=currency)
    placed_at = placed_at or timezone.now()
    subtotal = sum(Decimal(p) * q for _, q, p in lines)
    order = Order.objects.create(
        channel=channel,
        external_id=f"o-{uuid.uuid4().hex[:10]}",
        status=status,
        currency=currency,
        subtotal=subtotal,
        total=subtotal + fields.pop("extra_total", 0),
        placed_at=placed_at,
        paid_at=placed_at if status != Order.Status.PENDING else None,
        discount_codes=list(codes),
        click_id=click_id,
        visitor_click_id=visitor_click_id,
        customer_email_hash=email_hash,
        **fields,
    )
    for sku, quantity, price in lines:
        product = (products or {}).get(sku)
        OrderLine.objects.create(
            order=order,
            sku=sku,
            title=f"Thing {sku}",
            quantity=quantity,
            unit_price=Decimal(price),
            total=Decimal(price) * quantity,
            product=product,
        )
    return order
