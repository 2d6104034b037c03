"""What the credit earns: rule matching, versions and the notice period, the base in JPY,
USD and KWD with Decimal and half-up rounding per line, partial refunds at the frozen rate,
and every posting checked by the ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from attribution.services import attribution_decide
from creators import commission_rules as rules
from creators import services as creator_services
from sales import ledger
from sales.ledger_models import Commission, LedgerAccount
from sales.models import Refund, RefundLine
from tests.attribution.factories import (
    CreatorFactory,
    GroupFactory,
    ProgramFactory,
    click,
    make_order,
    program_with,
    publish,
)
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ledger_stays_sound():
    yield
    result = ledger.verify()
    assert result["ok"], result["problems"]


def credit(creator, **fields):
    at = fields.get("placed_at") or timezone.now()
    made = click(creator, at=at - timedelta(hours=1))
    return make_order(click_id=str(made.click_id), **fields)


def pending(creator, currency):
    return ledger.balance(ledger.creator_account(creator.pk, LedgerAccount.Kind.PENDING, currency))


@pytest.mark.parametrize(
    ("currency", "lines", "expected"),
    [
        ("JPY", [("Y", 1, "1999")], [200]),  # ¥199.9 → ¥200, half-up
        ("USD", [("U", 3, "3.35")], [101]),  # $1.005 → $1.01
        ("KWD", [("K", 1, "12.345")], [1235]),  # 1.2345 KWD → 1.235 KWD
        ("USD", [("A", 1, "0.05"), ("B", 1, "0.05")], [1, 1]),  # per line: 0.005 → 0.01 each
    ],
)
def test_ten_percent_in_each_currencys_minor_units(currency, lines, expected):
    maya = CreatorFactory(handle="maya")
    program_with("10", currency=currency, creators=[maya])
    order = credit(maya, lines=lines, currency=currency)
    attribution = attribution_decide(order_id=order.pk)
    made = list(Commission.objects.filter(order=order).order_by("line_id"))
    assert [c.amount for c in made] == expected
    assert attribution.commission_total == sum(expected) == pending(maya, currency)
    assert all(c.currency == currency for c in made)
    assert made[0].rule["description"].startswith("10 % of the base under rule 1")


def test_a_partial_refund_takes_back_pro_rata_at_the_frozen_rate():
    maya = CreatorFactory(handle="maya")
    program, group = program_with("10", currency="KWD", creators=[maya])
    order = credit(maya, lines=[("A", 1, "12.345"), ("B", 2, "5.000")], currency="KWD")
    attribution_decide(order_id=order.pk)
    # The rate is raised afterwards: the order keeps the rate it earned at.
    publish(group, [{"kind": "percent", "percent": Decimal("20")}])
    refund = Refund.objects.create(
        order=order,
        channel=order.channel,
        external_id="re-1",
        currency="KWD",
        total=Decimal("5.000"),
    )
    line_b = order.lines.get(sku="B")
    RefundLine.objects.create(
        refund=refund, line=line_b, sku="B", quantity=1, amount=Decimal("5.000")
    )
    from sales import commissions

    assert commissions.commissions_reverse_for_refund(refund_id=refund.pk) == 500
    b = Commission.objects.get(order=order, line=line_b)
    assert (b.amount, b.reversed, b.net) == (1000, 500, 500)
    assert pending(maya, "KWD") == 1235 + 500


def test_rules_match_product_collection_customer_country_and_value_first_match_wins():
    maya = CreatorFactory(handle="maya")
    program = ProgramFactory(currency="EUR")
    group = GroupFactory(program=program)
    hoodie = ProductFactory(title="Cloud Knit Hoodie")
    serum = ProductFactory(title="Glow Serum", brand="Lumen Lab")
    lumen = creator_services.collection_create(name="Lumen", slug="lumen", brands="Lumen Lab")
    publish(
        group,
        [
            {
                "kind": "percent",
                "percent": Decimal("30"),
                "customer": "new",
                "product_ids": [hoodie.pk],
            },
            {
                "kind": "percent",
                "percent": Decimal("20"),
                "collection_ids": [lumen.pk],
                "countries": "DE, AT",
            },
            {"kind": "flat_unit", "flat_amount": Decimal("1.50"), "min_order_value": Decimal("50")},
            {"kind": "percent", "percent": Decimal("5")},
        ],
        now=timezone.now() - timedelta(days=1),
    )
    creator_services.membership_set(creator_id=maya.pk, group_id=group.pk)
    products = {"H": hoodie, "S": serum}
    # A returning customer in DE: the hoodie skips rule 1 (new only) and takes rule 3 (order
    # over 50 EUR: 1.50 per unit); the serum takes rule 2 (its brand's collection, in DE).
    make_order(email_hash="r" * 64, currency="EUR", placed_at=timezone.now() - timedelta(days=30))
    order = credit(
        maya,
        lines=[("H", 2, "59.00"), ("S", 1, "24.99")],
        currency="EUR",
        country="DE",
        email_hash="r" * 64,
        products=products,
    )
    attribution = attribution_decide(order_id=order.pk)
    by_sku = {c.line.sku: c for c in Commission.objects.filter(order=order)}
    assert (by_sku["H"].amount, by_sku["H"].rule["position"]) == (300, 3)
    assert (by_sku["S"].amount, by_sku["S"].rule["position"]) == (500, 2)  # 4.998 → 5.00
    assert attribution.customer_returning
    assert by_sku["H"].rule["customer"] == "returning"


def test_a_flat_amount_per_order_is_earned_once_and_a_cap_is_split_back_over_lines():
    maya = CreatorFactory(handle="maya")
    program = ProgramFactory(currency="USD")
    group = GroupFactory(program=program)
    publish(
        group,
        [{"kind": "percent", "percent": Decimal("50"), "cap": Decimal("10.00")}],
        now=timezone.now() - timedelta(days=1),
    )
    creator_services.membership_set(creator_id=maya.pk, group_id=group.pk)
    order = credit(maya, lines=[("A", 1, "30.00"), ("B", 1, "10.00")])
    assert attribution_decide(order_id=order.pk).commission_total == 1000
    amounts = sorted(Commission.objects.filter(order=order).values_list("amount", flat=True))
    assert amounts == [250, 750]  # 15.00 + 5.00 capped to 10.00, in proportion

    leo = CreatorFactory(handle="leo")
    flat_group = GroupFactory(program=program)
    publish(
        flat_group,
        [{"kind": "flat_order", "flat_amount": Decimal("4.00")}],
        now=timezone.now() - timedelta(days=1),
    )
    creator_services.membership_set(creator_id=leo.pk, group_id=flat_group.pk)
    order = credit(leo, lines=[("A", 1, "30.00"), ("B", 2, "10.00")])
    attribution_decide(order_id=order.pk)
    (only,) = Commission.objects.filter(order=order)
    assert (only.line_id, only.amount, only.base) == (None, 400, 5000)


def test_flat_amounts_never_convert_currencies():
    maya = CreatorFactory(handle="maya")
    program = ProgramFactory(currency="USD")
    group = GroupFactory(program=program)
    publish(
        group,
        [{"kind": "flat_unit", "flat_amount": Decimal("2.00")}],
        now=timezone.now() - timedelta(days=1),
    )
    creator_services.membership_set(creator_id=maya.pk, group_id=group.pk)
    order = credit(maya, lines=[("A", 1, "1000")], currency="JPY")
    attribution = attribution_decide(order_id=order.pk)
    assert attribution.commission_total == 0
    assert "No rule matched" in attribution.commission_note


def test_an_order_placed_before_a_rate_cut_earns_the_old_rate_and_a_raise_applies_at_once(settings):
    settings.COMMISSION_DECREASE_NOTICE_DAYS = 30
    maya = CreatorFactory(handle="maya")
    program, group = program_with("10", creators=[maya])
    now = timezone.now()
    cut = publish(group, [{"kind": "percent", "percent": Decimal("5")}], now=now)
    assert cut.lowers and cut.effective_at == now + timedelta(days=30)
    assert "rule 1 went from 10.0000 to 5" in cut.note
    before_notice = credit(maya, lines=[("A", 1, "100.00")], placed_at=now + timedelta(days=10))
    after_notice = credit(maya, lines=[("A", 1, "100.00")], placed_at=now + timedelta(days=31))
    for order in (before_notice, after_notice):
        order.paid_at = order.placed_at
        order.save()
    assert attribution_decide(order_id=before_notice.pk).commission_total == 1000
    assert attribution_decide(order_id=after_notice.pk).commission_total == 500
    raise_ = publish(
        group, [{"kind": "percent", "percent": Decimal("15")}], now=now + timedelta(days=40)
    )
    assert not raise_.lowers and raise_.effective_at == now + timedelta(days=40)


def test_a_creators_override_comes_before_the_group_rules():
    maya, leo = CreatorFactory(handle="maya"), CreatorFactory(handle="leo")
    program, group = program_with("10", creators=[maya, leo])
    publish(
        group,
        [{"kind": "percent", "percent": Decimal("25")}],
        creator=maya,
        now=timezone.now() - timedelta(days=1),
    )
    for creator, expected in ((maya, 2500), (leo, 1000)):
        order = credit(creator, lines=[("A", 1, "100.00")])
        assert attribution_decide(order_id=order.pk).commission_total == expected


def test_published_versions_never_change_and_bad_rules_say_why():
    from core.errors import ApplicationError

    program, group = program_with("10")
    published = group.rulesets.get()
    with pytest.raises(ApplicationError) as exc:
        creator_services.rule_save(ruleset_id=published.pk, kind="percent", percent=Decimal(1))
    assert exc.value.code == "invalid_transition"
    draft = creator_services.ruleset_draft(group_id=group.pk)
    assert draft.version == 2 and draft.rules.count() == 1  # a copy of version 1
    with pytest.raises(ApplicationError) as exc:
        creator_services.rule_save(ruleset_id=draft.pk, kind="percent", percent=Decimal(120))
    assert "percent" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        creator_services.rule_save(
            ruleset_id=draft.pk, kind="percent", percent=Decimal(5), countries="Germany"
        )
    assert "countries" in exc.value.fields
    assert draft.rules.count() == 1


def test_the_preview_sentence():
    program, group = program_with("10", currency="EUR")
    hoodie = ProductFactory(title="Cloud Knit Hoodie")
    facts = rules.OrderFacts(
        currency="EUR",
        placed_at=timezone.now(),
        country="de",
        returning=True,
        lines=[
            rules.LineFacts(
                line_id=None,
                product_id=hoodie.pk,
                title=hoodie.title,
                quantity=2,
                unit_price=Decimal("42.00"),
            )
        ],
    )
    ids = rules.rulesets_in_force(group_id=group.pk, creator_id=None, at=timezone.now())
    assert rules.preview_sentence(facts=facts, program=program, ruleset_ids=ids) == (
        "An order of 2 × Cloud Knit Hoodie for a returning customer in DE would earn €8.40 "
        "under rule 1."
    )


def test_the_base_leaves_out_tax_shipping_and_discounts_as_the_program_says():
    program = ProgramFactory()
    facts = rules.OrderFacts(
        currency="USD",
        placed_at=timezone.now(),
        subtotal=Decimal("120.00"),
        discounts=Decimal("30.00"),
        shipping=Decimal("10.00"),
        tax=Decimal("20.00"),
        total=Decimal("100.00"),  # tax included in prices: 120 - 30 + 10
        lines=[
            rules.LineFacts(
                None,
                None,
                "A",
                1,
                Decimal("80.00"),
                discount=Decimal("10.00"),
                tax=Decimal("12.00"),
            ),
            rules.LineFacts(None, None, "B", 1, Decimal("40.00"), tax=Decimal("8.00")),
        ],
    )
    # Order-level discount 20.00 over paid 70 : 40; tax included, removed; no shipping.
    a, b = rules.bases(facts, program)
    assert (round(a, 4), round(b, 4)) == (Decimal("45.2727"), Decimal("24.7273"))
    program.base_less_shipping = False
    program.base_less_discounts = False
    a, b = rules.bases(facts, program)
    assert (round(a, 4), round(b, 4)) == (Decimal("74.3636"), Decimal("35.6364"))


def test_a_credit_that_moves_reverses_the_old_commission_and_posts_the_new_one():
    maya, leo = CreatorFactory(handle="maya"), CreatorFactory(handle="leo")
    program_with("10", creators=[maya, leo])
    order = credit(maya, lines=[("A", 1, "50.00")])
    first = attribution_decide(order_id=order.pk)
    assert pending(maya, "USD") == 500
    late = click(leo, ago=timedelta(minutes=5))
    order.click_id = str(late.click_id)  # the channel corrected the click
    order.save()
    moved = attribution_decide(order_id=order.pk, reason="Fixed mapping.")
    assert (moved.version, moved.creator.handle, moved.commission_total) == (2, "leo", 500)
    assert pending(maya, "USD") == 0 and pending(leo, "USD") == 500
    assert first.revisions.count() == 2


def test_an_unpaid_or_cancelled_order_is_credited_but_earns_nothing():
    maya = CreatorFactory(handle="maya")
    program_with("10", creators=[maya])
    order = credit(maya, status="cancelled")
    attribution = attribution_decide(order_id=order.pk)
    assert attribution.creator == maya and attribution.commission_total == 0
    assert not Commission.objects.filter(order=order).exists()
