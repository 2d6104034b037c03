"""Who gets the credit: the precedence table, window edges, bots, first and last touch and
the lifetime lock, each decision stored with its inputs and explained."""

from datetime import timedelta

import pytest
from django.utils import timezone

from attribution.models import Attribution, AttributionRevision
from attribution.services import attribution_decide
from creators.models import Creator
from sales.models import Order
from tests.attribution.factories import (
    CreatorFactory,
    click,
    code_for,
    make_order,
    program_with,
)
from tests.ugc.factories import UGCItemFactory

pytestmark = pytest.mark.django_db
R = Attribution.Rule


@pytest.fixture
def cast():
    """Four creators in one program: the code's, the order click's, the cookie's, the
    content's."""
    creators = {
        name: CreatorFactory(handle=name) for name in ("coder", "clicker", "cookie", "maker")
    }
    program, group = program_with(creators=creators.values())
    return program, creators


def touches(program, creators, combo, *, cookie_ago=timedelta(hours=5)):
    """An order with the touches named in `combo` (a set of code/click/cookie/content)."""
    fields = {}
    if "code" in combo:
        code_for(creators["coder"], program, code="CODER10")
        fields["codes"] = ["coder10"]  # case does not matter
    if "click" in combo:
        fields["click_id"] = str(click(creators["clicker"], ago=timedelta(hours=2)).click_id)
    if "cookie" in combo:
        fields["visitor_click_id"] = str(click(creators["cookie"], ago=cookie_ago).click_id)
    if "content" in combo:
        item = UGCItemFactory(creator=creators["maker"])
        fields["landing_url"] = f"https://shop.example.com/p?utm_content=ugc-{item.pk}"
    return make_order(**fields)


TABLE = [
    (set(), R.NONE, None),
    ({"code"}, R.CODE, "coder"),
    ({"click"}, R.ORDER_CLICK, "clicker"),
    ({"cookie"}, R.COOKIE_CLICK, "cookie"),
    ({"content"}, R.CONTENT, "maker"),
    ({"code", "click"}, R.CODE, "coder"),
    ({"code", "cookie"}, R.CODE, "coder"),
    ({"code", "content"}, R.CODE, "coder"),
    ({"click", "cookie"}, R.ORDER_CLICK, "clicker"),
    ({"click", "content"}, R.ORDER_CLICK, "clicker"),
    ({"cookie", "content"}, R.COOKIE_CLICK, "cookie"),
    ({"code", "click", "cookie"}, R.CODE, "coder"),
    ({"code", "click", "cookie", "content"}, R.CODE, "coder"),
    ({"click", "cookie", "content"}, R.ORDER_CLICK, "clicker"),
]


@pytest.mark.parametrize(
    ("combo", "rule", "winner"), TABLE, ids=["+".join(sorted(c)) or "nothing" for c, _, _ in TABLE]
)
def test_the_precedence_table(cast, combo, rule, winner):
    program, creators = cast
    order = touches(program, creators, combo)
    attribution = attribution_decide(order_id=order.pk)
    assert attribution.rule == rule
    assert (attribution.creator.handle if attribution.creator else None) == winner
    kinds = {c["kind"] for c in attribution.candidates}
    expected = {
        "code": "code",
        "click": "order_click",
        "cookie": "cookie_click",
        "content": "content",
    }
    assert kinds == {expected[c] for c in combo}
    losers = [c for c in attribution.candidates if c["eligible"] and c["kind"] != rule]
    assert all(c["beaten_by"] == rule for c in losers)
    if winner:
        assert attribution.explanation.startswith(f"Credited to @{winner} because")
    assert attribution.policy["version"] == program.policy_version


def test_the_explanation_names_the_code_and_the_click_it_beat(cast):
    program, creators = cast
    maya = creators["coder"]
    code_for(maya, program, code="MAYA10")
    own_click = click(maya, ago=timedelta(days=3, hours=1))
    order = make_order(codes=["MAYA10"], click_id=str(own_click.click_id))
    attribution = attribution_decide(order_id=order.pk)
    assert attribution.explanation == (
        "Credited to @coder because the code MAYA10 was used; their click 3 days earlier "
        "was also eligible."
    )
    assert attribution.creator_explanation == "Your code MAYA10 was used."


@pytest.mark.parametrize(
    ("ago", "eligible"),
    [
        (timedelta(days=30) - timedelta(seconds=1), True),
        (timedelta(days=30), True),
        (timedelta(days=30, seconds=1), False),
        (timedelta(seconds=0), True),
        (-timedelta(seconds=1), False),
    ],
    ids=["inside", "on-the-edge", "just-outside", "same-moment", "after-the-order"],
)
def test_window_edges(cast, ago, eligible):
    program, creators = cast
    placed = timezone.now()
    made = click(creators["clicker"], at=placed - ago)
    order = make_order(click_id=str(made.click_id), placed_at=placed)
    attribution = attribution_decide(order_id=order.pk)
    assert (attribution.rule == R.ORDER_CLICK) is eligible
    candidate = attribution.candidates[0]
    assert candidate["eligible"] is eligible
    if not eligible:
        assert ("window" in candidate["reason"]) or ("after the order" in candidate["reason"])


def test_a_bot_click_never_credits_and_the_cookie_takes_over(cast):
    program, creators = cast
    bot = click(creators["clicker"], bot=True)
    human = click(creators["cookie"], ago=timedelta(days=2))
    order = make_order(click_id=str(bot.click_id), visitor_click_id=str(human.click_id))
    attribution = attribution_decide(order_id=order.pk)
    assert (attribution.rule, attribution.creator.handle) == (R.COOKIE_CLICK, "cookie")
    assert attribution.candidates[0]["reason"] == "a bot's visit"


def test_unknown_and_malformed_click_ids_are_recorded_not_credited(cast):
    order = make_order(
        click_id="not-a-uuid", visitor_click_id="0190c7b6-0000-7000-8000-000000000000"
    )
    attribution = attribution_decide(order_id=order.pk)
    assert attribution.rule == R.NONE
    reasons = [c["reason"] for c in attribution.candidates]
    assert reasons == ["not a Shoploop click id", "no such click"]
    assert "Not credited" in attribution.explanation


def test_codes_that_are_inactive_unapproved_expired_or_of_a_paused_creator_do_not_credit(cast):
    program, creators = cast
    now = timezone.now()
    code_for(creators["coder"], program, code="OFF1", active=False)
    code_for(creators["coder"], program, code="ASKED", status="requested")
    code_for(creators["coder"], program, code="OLD", ends_at=now - timedelta(days=1))
    paused = CreatorFactory(handle="paused", status=Creator.Status.PAUSED)
    code_for(paused, program, code="PAUSED")
    order = make_order(codes=["OFF1", "ASKED", "OLD", "PAUSED", "SUMMER-SALE"])
    attribution = attribution_decide(order_id=order.pk)
    assert attribution.rule == R.NONE
    assert [c["reason"] for c in attribution.candidates] == [
        "the code was not active then",
        "the code is not approved",
        "the code was not active then",
        "@paused is paused",
    ]  # a shop code of no creator (SUMMER-SALE) is not a candidate


def test_first_touch_credits_the_earlier_of_the_two_clicks(cast):
    program, creators = cast
    program.touch = "first"
    program.save()
    early = click(creators["cookie"], ago=timedelta(days=6))
    late = click(creators["clicker"], ago=timedelta(hours=1))
    order = make_order(click_id=str(late.click_id), visitor_click_id=str(early.click_id))
    attribution = attribution_decide(order_id=order.pk)
    assert (attribution.rule, attribution.creator.handle) == (R.COOKIE_CLICK, "cookie")
    assert attribution.policy["touch"] == "first"


def test_the_lifetime_lock_keeps_a_customer_with_the_creator_who_brought_them(cast):
    program, creators = cast
    program.lifetime_lock = True
    program.save()
    then = timezone.now() - timedelta(days=60)
    first_click = click(creators["clicker"], at=then - timedelta(hours=1))
    first = make_order(click_id=str(first_click.click_id), email_hash="c" * 64, placed_at=then)
    assert attribution_decide(order_id=first.pk).creator.handle == "clicker"
    code_for(creators["coder"], program, code="LATER")
    second = make_order(codes=["LATER"], email_hash="c" * 64)
    attribution = attribution_decide(order_id=second.pk)
    assert (attribution.rule, attribution.creator.handle) == (R.LIFETIME_LOCK, "clicker")
    assert attribution.customer_returning is True
    assert "locked to @clicker" in attribution.explanation
    # Without the lock, the code wins.
    program.lifetime_lock = False
    program.save()
    third = make_order(codes=["LATER"], email_hash="c" * 64)
    assert attribution_decide(order_id=third.pk).rule == R.CODE


def test_content_from_a_ugc_card_click_credits_the_content_and_its_creator(cast):
    program, creators = cast
    item = UGCItemFactory(creator=creators["maker"])
    card_click = click(None, utm_content=f"ugc-{item.pk}")  # card links have no creator
    order = make_order(click_id=str(card_click.click_id))
    attribution = attribution_decide(order_id=order.pk)
    assert (attribution.rule, attribution.creator.handle) == (R.CONTENT, "maker")
    assert attribution.ugc_item_id == item.pk


def test_running_it_again_changes_nothing_and_a_late_click_replaces_the_decision(cast):
    program, creators = cast
    order = make_order()
    first = attribution_decide(order_id=order.pk)
    assert first.rule == R.NONE
    again = attribution_decide(order_id=order.pk)
    assert (again.pk, again.version) == (first.pk, 1)
    late = click(creators["clicker"], ago=timedelta(hours=3))
    replaced = attribution_decide(
        order_id=order.pk,
        late_click_id=str(late.click_id),
        reason="A late conversion event carried the click.",
    )
    assert (replaced.pk, replaced.version, replaced.rule) == (first.pk, 2, R.ORDER_CLICK)
    assert Attribution.objects.filter(order=order).count() == 1
    history = list(
        AttributionRevision.objects.filter(attribution=replaced).values_list(
            "version", "rule", "reason"
        )
    )
    assert history == [
        (1, "none", "The order was paid."),
        (2, "order_click", "A late conversion event carried the click."),
    ]


def test_an_unknown_order_is_refused(db):
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError) as exc:
        attribution_decide(order_id=987654321)
    assert exc.value.code == "not_found"


def test_paying_an_order_decides_it_through_the_job(cast, django_capture_on_commit_callbacks):
    from sales.signals import order_paid

    program, creators = cast
    order = make_order(click_id=str(click(creators["clicker"]).click_id))
    with django_capture_on_commit_callbacks(execute=True):
        order_paid.send_robust(sender=Order, order_id=order.pk)
    assert Attribution.objects.get(order=order).creator.handle == "clicker"
