"""Which commission rule applies to an order line, and what it earns. Pure arithmetic over
`OrderFacts` (attribution builds them from an order, the console's preview from a form).

The base, per line, in the order's currency, with `Decimal` (documented in the README):

    base = unit price × quantity                       (what the line sold for)
           − its discount and its share of order-level discounts   if base_less_discounts
           − its tax when prices include tax / + its tax when tax came on top, unless
             base_less_tax (then the base never holds tax)
           + its share of shipping                     unless base_less_shipping

Shares of order-level amounts are in proportion to the lines' prices. Each line's base and
amount are rounded half-up to the currency's minor units (JPY 0, USD 2, KWD 3), line by line.

The rules: the versions in force at the moment the order was placed (a creator's override
first, then the group's), tried in position order; the first rule that matches a line wins.
Percentages apply to the line's base; a flat amount per unit multiplies by the quantity; a
flat amount per order is earned once. Flat amounts, caps and order-value conditions are in
the program's currency: a rule that has one matches only orders in that currency (Shoploop
never converts currencies). A cap limits what one rule earns on one order, split back over
its lines by largest remainder.
"""

import functools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from core.money import allocate, format_money, from_minor, quantize, to_minor
from creators.program_models import CommissionRule, Program, RuleSet

ZERO = Decimal(0)
Kind = CommissionRule.Kind


@dataclass
class LineFacts:
    line_id: int | None
    product_id: int | None
    title: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    brand: str = ""


@dataclass
class OrderFacts:
    currency: str
    placed_at: datetime
    lines: list[LineFacts]
    country: str = ""
    returning: bool = False
    subtotal: Decimal | None = None
    discounts: Decimal = ZERO
    shipping: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal | None = None


@dataclass
class Earned:
    """What one line (or, for a flat amount per order, the order) earns."""

    line_id: int | None
    base: Decimal
    amount: Decimal
    rule: dict
    title: str = ""


@dataclass
class Result:
    currency: str
    earned: list[Earned] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # titles of lines no rule matched

    @property
    def total(self) -> Decimal:
        return sum((e.amount for e in self.earned), ZERO)


# -- the versions in force ------------------------------------------------------------------


def rulesets_in_force(*, group_id: int, creator_id: int | None, at: datetime) -> list[int]:
    """Ids of the versions that apply at `at`: the creator's override (if any), then the
    group's. One indexed query for both: the group's published versions (a handful) newest
    first, the first of each owner kept."""
    owners = Q(creator_id=None) | Q(creator_id=creator_id) if creator_id else Q(creator_id=None)
    newest: dict[int | None, int] = {}
    for pk, owner in (
        RuleSet.objects.filter(
            owners, group_id=group_id, status=RuleSet.Status.PUBLISHED, effective_at__lte=at
        )
        .order_by("-effective_at", "-version")
        .values_list("pk", "creator_id")
    ):
        newest.setdefault(owner, pk)
    owners_first = ([creator_id] if creator_id else []) + [None]  # the override first
    return [newest[owner] for owner in owners_first if owner in newest]


@dataclass(frozen=True)
class _Rule:
    pk: int
    ruleset_id: int
    ruleset_label: str
    version: int
    position: int
    name: str
    product_ids: frozenset
    brands: frozenset
    customer: str
    countries: tuple
    min_value: Decimal | None
    max_value: Decimal | None
    kind: str
    percent: Decimal | None
    flat_amount: Decimal | None
    cap: Decimal | None

    @property
    def has_product_condition(self) -> bool:
        return bool(self.product_ids or self.brands)

    @property
    def needs_program_currency(self) -> bool:
        return (
            self.kind != Kind.PERCENT
            or self.cap is not None
            or self.min_value is not None
            or self.max_value is not None
        )

    def amount_text(self, currency: str) -> str:
        if self.kind == Kind.PERCENT:
            text = f"{self.percent.normalize():f} % of the base"
        else:
            per = "per order" if self.kind == Kind.FLAT_PER_ORDER else "per unit"
            text = f"{format_money(self.flat_amount, currency)} {per}"
        if self.cap is not None:
            text += f", at most {format_money(self.cap, currency)} an order"
        return text

    def snapshot(self, program_currency: str) -> dict:
        return {
            "ruleset_id": self.ruleset_id,
            "version": self.version,
            "rule_id": self.pk,
            "position": self.position,
            "name": self.name,
            "kind": self.kind,
            "percent": str(self.percent) if self.percent is not None else None,
            "flat_amount": str(self.flat_amount) if self.flat_amount is not None else None,
            "cap": str(self.cap) if self.cap is not None else None,
            "currency": program_currency,
            "description": f"{self.amount_text(program_currency)} under rule {self.position}"
            f"{f' ({self.name})' if self.name else ''} of {self.ruleset_label} "
            f"v{self.version}",
        }


@functools.lru_cache(maxsize=512)
def _published_rules(ruleset_id: int) -> tuple[_Rule, ...]:
    """A published version's rules. Published versions never change, so they are cached."""
    ruleset = RuleSet.objects.select_related("group", "creator").get(pk=ruleset_id)
    return _load(ruleset)


def rules_of(ruleset_id: int) -> tuple[_Rule, ...]:
    ruleset = RuleSet.objects.select_related("group", "creator").get(pk=ruleset_id)
    if ruleset.status == RuleSet.Status.PUBLISHED:
        return _published_rules(ruleset_id)
    return _load(ruleset)  # a draft (the preview): read afresh


def _load(ruleset: RuleSet) -> tuple[_Rule, ...]:
    label = ruleset.group.name + (f" for @{ruleset.creator.handle}" if ruleset.creator_id else "")
    rules = []
    for rule in ruleset.rules.prefetch_related("products", "collections__products").order_by(
        "position", "pk"
    ):
        product_ids = {p.pk for p in rule.products.all()}
        brands = set()
        for collection in rule.collections.all():
            product_ids |= {p.pk for p in collection.products.all()}
            brands |= set(collection.brand_list())
        rules.append(
            _Rule(
                pk=rule.pk,
                ruleset_id=ruleset.pk,
                ruleset_label=label,
                version=ruleset.version,
                position=rule.position,
                name=rule.name,
                product_ids=frozenset(product_ids),
                brands=frozenset(brands),
                customer=rule.customer,
                countries=tuple(rule.country_list()),
                min_value=rule.min_order_value,
                max_value=rule.max_order_value,
                kind=rule.kind,
                percent=rule.percent,
                flat_amount=rule.flat_amount,
                cap=rule.cap,
            )
        )
    return tuple(rules)


# -- matching -------------------------------------------------------------------------------


def _order_value(facts: OrderFacts) -> Decimal:
    if facts.subtotal is not None:
        return facts.subtotal
    return sum((line.unit_price * line.quantity for line in facts.lines), ZERO)


def _matches(rule: _Rule, line: LineFacts, facts: OrderFacts, program_currency: str) -> bool:
    if rule.needs_program_currency and facts.currency != program_currency:
        return False
    if rule.has_product_condition and not (
        line.product_id in rule.product_ids or (line.brand and line.brand.casefold() in rule.brands)
    ):
        return False
    if rule.customer == CommissionRule.Customer.NEW and facts.returning:
        return False
    if rule.customer == CommissionRule.Customer.RETURNING and not facts.returning:
        return False
    if rule.countries and (facts.country or "").upper() not in rule.countries:
        return False
    value = _order_value(facts)
    if rule.min_value is not None and value < rule.min_value:
        return False
    return not (rule.max_value is not None and value > rule.max_value)


def first_match(rules, line, facts, program_currency) -> _Rule | None:
    for rule in rules:
        if _matches(rule, line, facts, program_currency):
            return rule
    return None


# -- the base -------------------------------------------------------------------------------


def _shares(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    whole = sum(weights, ZERO)
    if not total or whole <= 0:
        return [ZERO] * len(weights)
    return [total * w / whole for w in weights]


def bases(facts: OrderFacts, program: Program) -> list[Decimal]:
    """Each line's commission base (exact, before rounding)."""
    gross = [line.unit_price * line.quantity for line in facts.lines]
    paid = [g - line.discount for g, line in zip(gross, facts.lines, strict=True)]
    order_discount = max(
        ZERO, (facts.discounts or ZERO) - sum((x.discount for x in facts.lines), ZERO)
    )
    discount_share = _shares(order_discount, paid)
    line_tax = [line.tax for line in facts.lines]
    if not any(line_tax) and facts.tax:
        line_tax = _shares(facts.tax, paid)
    tax_included = False
    if facts.tax and facts.total is not None and facts.subtotal is not None:
        without = facts.subtotal - (facts.discounts or ZERO) + (facts.shipping or ZERO)
        tax_included = abs(facts.total - without) < abs(facts.total - (without + facts.tax))
    shipping_share = _shares(facts.shipping or ZERO, paid)
    result = []
    for i, line in enumerate(facts.lines):
        base = gross[i]
        if program.base_less_discounts:
            base -= line.discount + discount_share[i]
        if tax_included and program.base_less_tax:
            base -= line_tax[i]
        elif not tax_included and not program.base_less_tax:
            base += line_tax[i]
        if not program.base_less_shipping:
            base += shipping_share[i]
        result.append(max(ZERO, base))
    return result


# -- what it earns --------------------------------------------------------------------------


def compute(
    facts: OrderFacts, program: Program, ruleset_ids: list[int], *, published: bool = False
) -> Result:
    """What the order earns under the versions `ruleset_ids` (override first). `published`:
    the caller knows they are published versions (`rulesets_in_force`), whose rules are
    cached, so nothing is read again."""
    currency = facts.currency
    load = _published_rules if published else rules_of
    rules = [rule for ruleset_id in ruleset_ids for rule in load(ruleset_id)]
    result = Result(currency=currency)
    by_rule: dict[int, list[Earned]] = {}
    per_order_done: set[int] = set()
    line_bases = bases(facts, program)
    for line, exact_base in zip(facts.lines, line_bases, strict=True):
        base = quantize(exact_base, currency)
        rule = first_match(rules, line, facts, program.currency)
        if rule is None:
            result.unmatched.append(line.title)
            continue
        if rule.kind == Kind.PERCENT:
            amount = quantize(exact_base * rule.percent / 100, currency)
        elif rule.kind == Kind.FLAT_PER_UNIT:
            amount = quantize(rule.flat_amount * line.quantity, currency)
        else:
            if rule.pk in per_order_done:
                continue
            per_order_done.add(rule.pk)
            earned = Earned(
                None,
                quantize(sum(line_bases, ZERO), currency),
                quantize(rule.flat_amount, currency),
                rule.snapshot(program.currency),
                "the order",
            )
            by_rule.setdefault(rule.pk, []).append(earned)
            continue
        earned = Earned(line.line_id, base, amount, rule.snapshot(program.currency), line.title)
        by_rule.setdefault(rule.pk, []).append(earned)
    caps = {rule.pk: rule.cap for rule in rules if rule.cap is not None}
    for rule_pk, items in by_rule.items():
        cap = caps.get(rule_pk)
        if cap is not None:
            _apply_cap(items, quantize(cap, currency), currency)
        result.earned.extend(item for item in items if item.amount > 0)
    return result


def _apply_cap(items: list[Earned], cap: Decimal, currency: str) -> None:
    total = sum((item.amount for item in items), ZERO)
    if total <= cap:
        return
    parts = allocate(to_minor(cap, currency), [to_minor(i.amount, currency) for i in items])
    for item, part in zip(items, parts, strict=True):
        item.amount = from_minor(part, currency)
        item.rule = {**item.rule, "capped": True}


def preview_sentence(*, facts: OrderFacts, program: Program, ruleset_ids: list[int]) -> str:
    """ "an order of 2 × Cloud Knit Hoodie for a returning customer in DE would earn 8.40 EUR
    under rule 3" (the console's preview)."""
    result = compute(facts, program, ruleset_ids)
    items = " and ".join(f"{line.quantity} × {line.title}" for line in facts.lines)
    who = "a returning customer" if facts.returning else "a new customer"
    where = f" in {facts.country.upper()}" if facts.country else ""
    if not result.earned:
        return f"An order of {items} for {who}{where} would earn nothing: no rule matches."
    positions = sorted({e.rule["position"] for e in result.earned})
    under = (
        "rule " + ", ".join(str(p) for p in positions)
        if len(positions) == 1
        else ("rules " + ", ".join(str(p) for p in positions))
    )
    money = format_money(result.total, facts.currency)
    return f"An order of {items} for {who}{where} would earn {money} under {under}."
