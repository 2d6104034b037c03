"""Payout runs: who gets paid and how much, four eyes, the clawbacks netted, failures and
cancellations reversed exactly, scheduled runs, manual adjustments, verify's payout check."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from core.errors import ApplicationError
from sales import commissions, ledger, payouts
from sales.ledger_models import Commission, LedgerTransaction
from sales.models import Payout, PayoutDetails, PayoutRun, Refund, RefundLine
from tests.links.factories import CreatorFactory
from tests.sales.ledger_helpers import (
    Kind,
    approve,
    available,
    balances,
    earn,
    expense,
    give_details,
    paid_order,
    staff,
)

pytestmark = pytest.mark.django_db
S = Payout.Status
C = Commission.Status


@pytest.fixture(autouse=True)
def payout_settings(settings):
    settings.PAYOUT_MINIMUM = "10"
    settings.PAYOUT_MINIMUMS = {"JPY": "1000"}
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0


@pytest.fixture(autouse=True)
def ledger_stays_sound():
    yield
    result = ledger.verify()
    assert result["ok"], result["problems"]


@pytest.fixture
def maya():
    creator = CreatorFactory(handle="maya")
    give_details(creator)
    return creator


def refund_line(order, key, sku, amount):
    refund = Refund.objects.create(order=order, channel=order.channel, external_id=key,
                                   currency=order.currency, total=amount)  # fmt: skip
    RefundLine.objects.create(refund=refund, line=order.lines.get(sku=sku), sku=sku,
                              amount=amount)  # fmt: skip
    commissions.commissions_reverse_for_refund(refund_id=refund.pk)
    return refund


def test_a_run_pays_available_minus_receivable_in_one_transaction_and_lists_the_rest(maya):
    leo, ana, tim = (CreatorFactory(handle=h) for h in ("leo", "ana", "tim"))
    first = available(maya, 3000)
    second = available(maya, 1500)
    available(leo, 2500)  # no payout details at all
    give_details(ana, tax=False)
    available(ana, 2000)  # the tax form was not received
    give_details(tim)
    available(tim, 900)  # below the minimum of 10.00
    run = payouts.payout_run_create(currency="USD", actor=staff("fin", "Finance"))

    payout = run.payouts.get()
    assert (payout.creator, payout.gross, payout.netted, payout.amount) == (maya, 4500, 0, 4500)
    assert payout.status == S.PENDING and payout.method == "manual"
    assert balances(maya)[Kind.AVAILABLE] == 0 and balances(maya)[Kind.IN_PAYOUT] == 4500
    assert sorted(payout.items.values_list("commission_id", flat=True)) == sorted(
        [first.pk, second.pk]
    )
    assert set(Commission.objects.filter(creator=maya).values_list("status", flat=True)) == {
        C.IN_PAYOUT
    }
    start = LedgerTransaction.objects.get(idempotency_key=f"payout:{payout.pk}:start")
    assert start.payout_id == payout.pk and start.entries.count() == 2
    skipped = {s["handle"]: s for s in run.skipped}
    assert skipped["leo"]["reason"] == "Missing: payout details."
    assert skipped["ana"]["reason"] == "Missing: tax form." and skipped["ana"]["amount"] == 2000
    assert "tim" not in skipped and balances(tim)[Kind.AVAILABLE] == 900
    assert run.events.get().action == "create"


def test_payout_details_are_encrypted_and_checked(maya):
    with connection.cursor() as cursor:
        cursor.execute("SELECT details FROM sales_payoutdetails WHERE creator_id = %s", [maya.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("gAAAA") and "FR76" not in stored  # Fernet
    assert PayoutDetails.objects.get(creator=maya).data["account"].startswith("FR76")
    for method, account, country, field in [
        ("stripe", "not-an-account", "FR", "account"),
        ("paypal", "no email", "FR", "account"),
        ("wire", "x", "FR", "method"),
        ("manual", "IBAN", "France", "country"),
    ]:
        with pytest.raises(ApplicationError) as exc:
            payouts.payout_details_set(creator_id=maya.pk, method=method, account=account,
                                       tax_form_received=True, country=country)  # fmt: skip
        assert field in exc.value.fields
    assert PayoutDetails.objects.get(creator=maya).data["method"] == "manual"  # unchanged


def test_the_receivable_is_netted_first(maya):
    paid_out = available(maya, 5000)
    run = payouts.payout_run_create(currency="USD")
    payout = run.payouts.get()
    approve(run, staff("fin", "Finance"))
    payouts.payout_confirm(payout_id=payout.pk, source="manual", reference="SEPA-1",
                           actor=staff("own", "Owner"))  # fmt: skip
    # A refund after the payout: a clawback owed back, never an edit of what was paid.
    refund_line(paid_out.order, "re_late", "SKU", "40.00")
    assert balances(maya)[Kind.RECEIVABLE] == 2000 and balances(maya)[Kind.PAID] == 5000
    available(maya, 3500)
    second = payouts.payout_run_create(currency="USD").payouts.get()
    assert (second.gross, second.netted, second.amount) == (3500, 2000, 1500)
    assert balances(maya)[Kind.RECEIVABLE] == 0 and balances(maya)[Kind.IN_PAYOUT] == 1500


def test_nobody_above_the_minimum_once_the_receivable_is_netted_is_not_paid(maya):
    refunded = available(maya, 5000)
    run = payouts.payout_run_create(currency="USD")
    approve(run, staff("fin", "Finance"))
    payouts.payout_confirm(payout_id=run.payouts.get().pk, source="manual", reference="r",
                           actor=staff("own", "Owner"))  # fmt: skip
    refund_line(refunded.order, "re_all", "SKU", "100.00")  # 5000 owed back
    available(maya, 4000)
    assert payouts.payout_run_create(currency="USD") is None  # 4000 - 5000 < minimum
    assert balances(maya)[Kind.AVAILABLE] == 4000


def test_four_eyes_and_only_owner_or_finance_approve(maya):
    available(maya, 3000)
    maker = staff("maker", "Finance")
    run = payouts.payout_run_create(currency="USD", actor=maker)
    for who, code in ((maker, "forbidden"), (staff("mod", "Moderator"), "forbidden"),
                      (staff("cat", "Catalog manager"), "forbidden")):  # fmt: skip
        with pytest.raises(ApplicationError) as exc:
            approve(run, who)
        assert exc.value.code == code
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.DRAFT
    approver = staff("boss", "Owner")
    approve(run, approver, note="Checked the totals")
    run.refresh_from_db()
    assert (run.status, run.approved_by) == (PayoutRun.Status.SENDING, approver)
    event = run.events.get(action="approve")
    assert (event.actor, event.reason) == (approver, "Checked the totals")
    payout = run.payouts.get()
    assert payout.status == S.SENT  # manual: exported to pay by hand, at once
    with pytest.raises(ApplicationError) as exc:
        approve(run, staff("fin2", "Finance"))
    assert exc.value.code == "invalid_transition"


def test_a_manual_payout_is_paid_with_its_reference_or_failed_with_its_reason(maya):
    leo = CreatorFactory(handle="leo")
    give_details(leo)
    first, second = available(maya, 3000), available(leo, 2000)
    run = payouts.payout_run_create(currency="USD")
    approve(run, staff("fin", "Finance"))
    finance = staff("fin2", "Finance")
    paid = run.payouts.get(creator=maya)
    with pytest.raises(ApplicationError) as exc:
        payouts.payout_confirm(payout_id=paid.pk, source="manual", reference=" ", actor=finance)
    assert exc.value.code == "reason_required"
    payouts.payout_confirm(payout_id=paid.pk, source="manual", reference="SEPA 2026-1",
                           actor=finance)  # fmt: skip
    failed = run.payouts.get(creator=leo)
    payouts.payout_fail(payout_id=failed.pk, reason="IBAN closed", source="manual",
                        actor=finance)  # fmt: skip
    assert balances(maya)[Kind.PAID] == 3000 and balances(leo)[Kind.AVAILABLE] == 2000
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (C.PAID, C.AVAILABLE)
    failed.refresh_from_db()
    assert failed.failure_reason == "IBAN closed" and failed.status == S.FAILED
    reversal = LedgerTransaction.objects.get(idempotency_key=f"payout:{failed.pk}:failed")
    assert reversal.reverses.idempotency_key == f"payout:{failed.pk}:start"
    assert reversal.memo == "IBAN closed" and reversal.actor == finance
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.DONE
    # The same word again changes nothing.
    assert payouts.payout_fail(payout_id=failed.pk, reason="again", source="manual")[1] is False
    assert payouts.payout_confirm(payout_id=paid.pk, source="manual", reference="x",
                                  actor=finance)[1] is False  # fmt: skip


def test_a_failure_reverses_the_start_exactly_netting_included(maya):
    refunded = available(maya, 5000)
    run = payouts.payout_run_create(currency="USD")
    approve(run, staff("fin", "Finance"))
    payouts.payout_confirm(payout_id=run.payouts.get().pk, source="manual", reference="r",
                           actor=staff("own", "Owner"))  # fmt: skip
    refund_line(refunded.order, "re_1", "SKU", "20.00")  # 1000 owed back
    again = available(maya, 4000)
    before_expense = expense()
    second = payouts.payout_run_create(currency="USD")
    payout = second.payouts.get()
    assert (payout.gross, payout.netted, payout.amount) == (4000, 1000, 3000)
    approve(second, staff("fin2", "Finance"))
    payouts.payout_fail(payout_id=payout.pk, reason="Account closed", source="manual")
    assert balances(maya) == {Kind.PENDING: 0, Kind.AVAILABLE: 4000, Kind.IN_PAYOUT: 0,
                              Kind.PAID: 5000, Kind.RECEIVABLE: 1000}  # fmt: skip
    assert expense() == before_expense
    again.refresh_from_db()
    assert again.status == C.AVAILABLE


def test_a_refund_while_the_run_waits_is_clawed_back_and_a_cancelled_run_gives_all_back(maya):
    commission = available(maya, 5000)
    run = payouts.payout_run_create(currency="USD", actor=staff("fin", "Finance"))
    refund_line(commission.order, "re_mid", "SKU", "50.00")  # half, while in the payout
    commission.refresh_from_db()
    assert commission.status == C.IN_PAYOUT and commission.net == 2500
    assert balances(maya)[Kind.RECEIVABLE] == 2500
    with pytest.raises(ApplicationError) as exc:
        payouts.payout_run_cancel(run_id=run.pk, actor=staff("own", "Owner"), reason="")
    assert exc.value.code == "reason_required"
    payouts.payout_run_cancel(run_id=run.pk, actor=staff("own", "Owner"), reason="Wrong month")
    payout = run.payouts.get()
    assert payout.status == S.CANCELLED
    assert balances(maya)[Kind.AVAILABLE] == 5000 and balances(maya)[Kind.RECEIVABLE] == 2500
    commission.refresh_from_db()
    assert commission.status == C.AVAILABLE
    # The next run pays what is really owed.
    assert payouts.payout_run_create(currency="USD").payouts.get().amount == 2500


def test_each_currency_is_its_own_run_with_its_own_minor_units(maya):
    available(maya, 1500, currency="JPY")  # ¥1,500 >= ¥1,000
    available(maya, 12345, currency="KWD")  # 12.345 KWD
    yen = payouts.payout_run_create(currency="JPY").payouts.get()
    dinar = payouts.payout_run_create(currency="KWD").payouts.get()
    assert (yen.amount, yen.display_amount) == (1500, "¥1,500")
    assert (dinar.amount, dinar.display_amount) == (12345, "12.345 KWD")
    assert payouts.payout_run_create(currency="USD") is None
    with pytest.raises(ApplicationError) as exc:
        payouts.payout_run_create(currency="XYZ")
    assert "currency" in exc.value.fields


def test_scheduled_runs_are_made_once_on_their_days(maya, settings):
    settings.PAYOUT_SCHEDULE = "weekly"
    available(maya, 3000)
    tuesday = datetime(2026, 12, 8, 6, tzinfo=UTC)
    assert payouts.payout_runs_due(now=tuesday) == []
    monday = datetime(2026, 12, 7, 6, tzinfo=UTC)
    made = payouts.payout_runs_due(now=monday)
    assert len(made) == 1 and payouts.payout_runs_due(now=monday) == made  # twice: one run
    run = PayoutRun.objects.get()
    assert (run.key, run.schedule, run.created_by) == ("weekly:USD:2026-12-07", "weekly", None)
    approve(run, staff("fin", "Finance"))  # anyone allowed
    settings.PAYOUT_SCHEDULE = "monthly"
    available(maya, 3000)
    assert payouts.payout_runs_due(now=monday) == made  # monthly is not due on the 7th
    assert payouts.schedule_due("twice_monthly", monday.replace(day=16).date())


def test_a_fraud_hold_keeps_a_commission_out_of_a_run_until_a_person_releases_it(maya):
    order = paid_order([("A", 1, "50.00")])
    held = earn(order, maya, "A", 5000, review="Self-referral: same card")
    commissions.commissions_release_due()
    assert payouts.payout_run_create(currency="USD") is None
    reviewer = staff("fin", "Finance")
    commissions.commission_review_release(commission_id=held.pk, actor=reviewer,
                                          note="Different people")  # fmt: skip
    assert held.events.filter(action="approve", actor=reviewer).exists()
    assert payouts.payout_run_create(currency="USD").payouts.get().amount == 5000


def test_manual_adjustments_are_audited(maya):
    finance = staff("fin", "Finance")
    bonus = payouts.ledger_adjust(creator_id=maya.pk, currency="USD", amount=2500,
                                  reason="Launch bonus", actor=finance)  # fmt: skip
    assert (bonus.actor, bonus.memo, bonus.kind) == (finance, "Launch bonus", "adjustment")
    payouts.ledger_adjust(creator_id=maya.pk, currency="USD", amount=-500,
                          reason="Sample not returned", actor=finance)  # fmt: skip
    assert balances(maya)[Kind.AVAILABLE] == 2500 and balances(maya)[Kind.RECEIVABLE] == 500
    for kwargs in ({"reason": " "}, {"amount": 0}, {"currency": "usd"}, {"actor": None}):
        with pytest.raises(ApplicationError):
            payouts.ledger_adjust(**{"creator_id": maya.pk, "currency": "USD", "amount": 100,
                                     "reason": "x", "actor": finance, **kwargs})  # fmt: skip
    assert payouts.payout_run_create(currency="USD").payouts.get().amount == 2000


def test_ledger_verify_checks_every_payout_against_its_entries(maya):
    available(maya, 3000)
    run = payouts.payout_run_create(currency="USD")
    assert ledger.verify()["ok"]
    Payout.objects.filter(run=run).update(amount=2900, gross=2900)  # a cache "repaired" later
    result = ledger.verify()
    assert not result["ok"]
    assert any("payout" in p and "2900" in p for p in result["problems"])
    Payout.objects.filter(run=run).update(amount=3000, gross=3000)


def test_the_payout_details_and_destination_snapshot(maya):
    available(maya, 3000)
    payout = payouts.payout_run_create(currency="USD").payouts.get()
    give_details(maya, method="paypal")  # changed after the run: the payout keeps its own
    payout.refresh_from_db()
    assert payout.destination_data["method"] == "manual"
    assert json.loads(PayoutDetails.objects.get(creator=maya).details)["method"] == "paypal"
