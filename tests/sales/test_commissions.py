"""A commission's life in the ledger: earned, held, released, reversed, clawed back, reviewed."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from core.errors import ApplicationError
from sales import commissions, ledger
from sales.ledger_models import Commission, LedgerAccount, LedgerEntry, LedgerTransaction
from sales.models import Order, OrderLine, Refund, RefundLine
from tests.links.factories import CreatorFactory
from tests.sales.factories import SalesChannelFactory

pytestmark = pytest.mark.django_db
Kind = LedgerAccount.Kind
Status = Commission.Status


@pytest.fixture
def creator():
    return CreatorFactory(handle="maya")


@pytest.fixture(autouse=True)
def ledger_stays_sound():
    """After every test here, the ledger verifies from its entries up."""
    yield
    result = ledger.verify()
    assert result["ok"], result["problems"]


def make_order(lines, currency="USD", paid_at=None):
    """lines: [(sku, quantity, line total as text)]."""
    channel = SalesChannelFactory(currency=currency)
    total = sum(Decimal(t) for _, _, t in lines)
    order = Order.objects.create(
        channel=channel, external_id=f"o-{channel.pk}", status=Order.Status.PAID,
        currency=currency, subtotal=total, total=total,
        paid_at=paid_at or timezone.now() - timedelta(days=1),
    )  # fmt: skip
    for sku, quantity, line_total in lines:
        OrderLine.objects.create(
            order=order, sku=sku, quantity=quantity, unit_price=Decimal(line_total) / quantity,
            total=Decimal(line_total),
        )  # fmt: skip
    return order


def refund(order, key, amounts: dict[str, str]):
    """A refund of `amounts` ({sku: amount}) on the order's lines."""
    total = sum(Decimal(a) for a in amounts.values())
    made = Refund.objects.create(
        order=order, channel=order.channel, external_id=key, currency=order.currency, total=total
    )
    for sku, amount in amounts.items():
        line = order.lines.get(sku=sku)
        RefundLine.objects.create(refund=made, line=line, sku=sku, amount=Decimal(amount))
    return made


def earn(order, creator, sku, amount, *, review="", hold_days=30):
    line = order.lines.get(sku=sku)
    return commissions.commission_post(
        key=f"attr:{order.pk}:{line.pk}", order_id=order.pk, line_id=line.pk,
        creator_id=creator.pk, base=int(line.total * 100), amount=amount, hold_days=hold_days,
        rule={"description": "10% of the line"}, review_reason=review,
    )  # fmt: skip


def balance(creator, kind, currency="USD"):
    return ledger.balance(ledger.creator_account(creator.pk, kind, currency))


def expense(currency="USD"):
    return ledger.balance(ledger.merchant_account(Kind.COMMISSION_EXPENSE, currency))


def test_an_earned_commission_is_pending_for_its_hold_and_posted_once(creator):
    order = make_order([("A", 1, "49.90")])
    first = earn(order, creator, "A", 499)
    again = earn(order, creator, "A", 499)
    assert first.pk == again.pk
    assert first.status == Status.PENDING
    assert first.hold_until == order.paid_at + timedelta(days=30)
    assert balance(creator, Kind.PENDING) == 499 == expense()
    assert LedgerTransaction.objects.count() == 1


def test_yen_and_dinars_keep_their_own_minor_units(creator):
    yen = make_order([("Y", 1, "1999")], currency="JPY")
    dinar = make_order([("K", 1, "12.345")], currency="KWD")
    earn(yen, creator, "Y", 200)  # 10% of ¥1,999, half-up: ¥200
    earn(dinar, creator, "K", 1235)  # 10% of 12.345 KWD: 1.235 KWD
    assert balance(creator, Kind.PENDING, "JPY") == 200
    assert balance(creator, Kind.PENDING, "KWD") == 1235
    assert LedgerAccount.objects.get(creator=creator, currency="KWD").display_balance == (
        "1.235 KWD"
    )


def test_the_hold_ends_and_the_money_becomes_available(creator):
    order = make_order([("A", 1, "100.00")])
    commission = earn(order, creator, "A", 1000, hold_days=0)
    assert commissions.commissions_release_due() == 1
    commission.refresh_from_db()
    assert commission.status == Status.AVAILABLE and commission.released_at
    assert balance(creator, Kind.PENDING) == 0 and balance(creator, Kind.AVAILABLE) == 1000
    assert commissions.commissions_release_due() == 0  # nothing twice


def test_a_partial_refund_of_one_of_three_lines_reverses_that_line_pro_rata(creator):
    order = make_order([("A", 1, "20.00"), ("B", 2, "30.00"), ("C", 1, "50.00")])
    made = {sku: earn(order, creator, sku, amount) for sku, amount in
            (("A", 200), ("B", 300), ("C", 500))}  # fmt: skip
    one_of_two = refund(order, "re_1", {"B": "15.00"})
    assert commissions.commissions_reverse_for_refund(refund_id=one_of_two.pk) == 150
    for sku, left in (("A", 200), ("B", 150), ("C", 500)):
        made[sku].refresh_from_db()
        assert made[sku].net == left
    assert balance(creator, Kind.PENDING) == 850 == expense()


def test_the_same_refund_delivered_twice_reverses_once(creator):
    order = make_order([("A", 2, "40.00")])
    earn(order, creator, "A", 400)
    made = refund(order, "re_1", {"A": "20.00"})
    assert commissions.commissions_reverse_for_refund(refund_id=made.pk) == 200
    assert commissions.commissions_reverse_for_refund(refund_id=made.pk) == 0
    assert balance(creator, Kind.PENDING) == 200


def test_three_thirds_reverse_exactly_the_whole_however_they_round(creator):
    order = make_order([("A", 3, "10.00")])
    commission = earn(order, creator, "A", 100)  # 100 minor units cannot split in three
    reversed_ = [
        commissions.commissions_reverse_for_refund(
            refund_id=refund(order, f"re_{n}", {"A": amount}).pk
        )
        for n, amount in enumerate(["3.33", "3.33", "3.34"])
    ]
    assert sum(reversed_) == 100
    commission.refresh_from_db()
    assert commission.net == 0 and commission.status == Status.REVERSED
    assert balance(creator, Kind.PENDING) == 0 == expense()


def test_a_refund_that_arrived_before_the_credit_is_reversed_when_it_is_posted(creator):
    order = make_order([("A", 1, "60.00")])
    refund(order, "re_early", {"A": "30.00"})
    commission = earn(order, creator, "A", 600)
    assert commission.net == 300
    assert balance(creator, Kind.PENDING) == 300


def test_a_refund_after_release_comes_back_from_available(creator):
    order = make_order([("A", 1, "60.00")])
    commission = earn(order, creator, "A", 600, hold_days=0)
    commissions.commissions_release_due()
    commissions.commissions_reverse_for_refund(refund_id=refund(order, "re_1", {"A": "60.00"}).pk)
    commission.refresh_from_db()
    assert commission.status == Status.REVERSED
    assert balance(creator, Kind.AVAILABLE) == 0 == expense()


def _pay_out(commission):
    """What a payout run and its confirmation do to the accounts (the payouts issue)."""
    creator_id, currency, net = commission.creator_id, commission.currency, commission.net
    for key, source, target in (
        ("start", Kind.AVAILABLE, Kind.IN_PAYOUT), ("paid", Kind.IN_PAYOUT, Kind.PAID),
    ):  # fmt: skip
        ledger.post(
            idempotency_key=f"test-payout:{commission.pk}:{key}", kind="payout",
            legs=ledger.move(net, source=ledger.creator_account(creator_id, source, currency),
                             target=ledger.creator_account(creator_id, target, currency)),
        )  # fmt: skip
    Commission.objects.filter(pk=commission.pk).update(status=Status.PAID)


def test_a_refund_after_the_payout_is_a_clawback_never_an_edit(creator):
    order = make_order([("A", 1, "80.00")])
    commission = earn(order, creator, "A", 800, hold_days=0)
    commissions.commissions_release_due()
    commission.refresh_from_db()
    _pay_out(commission)
    paid_entries = LedgerEntry.objects.count()
    commissions.commissions_reverse_for_refund(refund_id=refund(order, "re_1", {"A": "40.00"}).pk)
    assert LedgerEntry.objects.count() == paid_entries + 2  # only added to
    assert balance(creator, Kind.PAID) == 800  # what was paid stays paid
    assert balance(creator, Kind.RECEIVABLE) == 400  # and is owed back
    assert expense() == 400
    commission.refresh_from_db()
    assert commission.status == Status.PAID and commission.net == 400
    assert commission.events.last().action == "clawback"


def test_a_cancellation_reverses_everything_left(creator):
    order = make_order([("A", 1, "10.00"), ("B", 1, "10.00")])
    earn(order, creator, "A", 100)
    earn(order, creator, "B", 100)
    assert commissions.commissions_reverse_for_order(order_id=order.pk, reason="Cancelled") == 200
    assert set(Commission.objects.values_list("status", flat=True)) == {Status.REVERSED}
    assert balance(creator, Kind.PENDING) == 0


def test_a_flagged_commission_waits_for_a_person_and_every_decision_is_audited(creator):
    reviewer = User.objects.create_user("finance")
    order = make_order([("A", 1, "10.00"), ("B", 1, "10.00"), ("C", 1, "10.00")])
    kept = earn(order, creator, "A", 100, review="Self-referral: same email hash", hold_days=0)
    cut = earn(order, creator, "B", 100, review="Code leakage", hold_days=0)
    dropped = earn(order, creator, "C", 100, review="Click spike", hold_days=0)
    assert commissions.commissions_release_due() == 0  # held ones are not released
    with pytest.raises(ApplicationError) as exc:
        commissions.commission_review_reject(commission_id=dropped.pk, actor=reviewer, reason=" ")
    assert exc.value.code == "reason_required"

    commissions.commission_review_release(commission_id=kept.pk, actor=reviewer, note="Checked")
    commissions.commission_review_reduce(
        commission_id=cut.pk, new_amount=40, actor=reviewer, reason="Half came from a coupon site"
    )
    commissions.commission_review_reject(
        commission_id=dropped.pk, actor=reviewer, reason="Bought by the creator"
    )
    statuses = {c.pk: (c.status, c.net) for c in Commission.objects.all()}
    assert statuses[kept.pk] == (Status.AVAILABLE, 100)  # its hold was already over
    assert statuses[cut.pk] == (Status.AVAILABLE, 40)
    assert statuses[dropped.pk] == (Status.REVERSED, 0)
    assert balance(creator, Kind.AVAILABLE) == 140 == expense()
    assert dropped.events.filter(actor=reviewer, reason="Bought by the creator").exists()
    with pytest.raises(ApplicationError) as exc:
        commissions.commission_review_release(commission_id=kept.pk, actor=reviewer)
    assert exc.value.code == "invalid_transition"


def test_bad_amounts_are_refused_and_nothing_is_posted(creator):
    order = make_order([("A", 1, "10.00")])
    for amount in (0, -1, 1.5, Decimal("1")):
        with pytest.raises(ApplicationError):
            earn(order, creator, "A", amount)
    assert not Commission.objects.exists() and not LedgerTransaction.objects.exists()


def test_a_refund_webhook_reverses_the_commission_pro_rata_once_for_every_provider(
    client, adapter, creator
):
    """End to end: an order arrives by webhook and is credited; a partial refund arrives by
    webhook (twice) and takes back its share once."""
    from tests.catalog.factories import VariantFactory

    channel = adapter.channel()
    VariantFactory(sku="SKU-1", stock_on_hand=5)
    assert (
        adapter.order(channel, "2001", quantity=2, price="10.00").post(client, channel).status_code
        == 200
    )
    order = Order.objects.get()
    line = order.lines.get()
    commission = commissions.commission_post(
        key=f"attr:{order.pk}", order_id=order.pk, line_id=line.pk, creator_id=creator.pk,
        base=2000, amount=200, hold_days=30,
    )  # fmt: skip
    refund_delivery = adapter.refund(channel, "2001", "6001", amount="5.00")
    assert refund_delivery.post(client, channel).status_code == 200
    assert refund_delivery.post(client, channel).status_code == 200  # delivered twice
    commission.refresh_from_db()
    assert commission.reversed == 50  # a quarter of the line came back
    assert balance(creator, Kind.PENDING) == 150 == expense()
