"""The commission ledger: balanced, append-only, posted once, serialised per account."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.money import allocate, quantize, to_minor
from sales import ledger
from sales.ledger_models import LedgerAccount, LedgerEntry, LedgerTransaction
from tests.links.factories import CreatorFactory

Kind = LedgerAccount.Kind


@pytest.fixture
def creator(db):
    return CreatorFactory(handle="maya")


def _earn(creator, amount, key, currency="USD"):
    return ledger.post(
        idempotency_key=key,
        kind=LedgerTransaction.Kind.COMMISSION,
        legs=[
            ledger.debit(ledger.merchant_account(Kind.COMMISSION_EXPENSE, currency), amount),
            ledger.credit(ledger.creator_account(creator.pk, Kind.PENDING, currency), amount),
        ],
    )


@pytest.mark.django_db
def test_a_posting_moves_both_accounts_and_records_before_after_and_version(creator):
    txn, created = _earn(creator, 1234, "k1")
    assert created
    entries = {e.account.kind: e for e in txn.entries.select_related("account")}
    pending = entries[Kind.PENDING]
    assert (pending.side, pending.amount, pending.balance_before, pending.balance_after) == (
        "credit", 1234, 0, 1234,
    )  # fmt: skip
    assert pending.account_version == 1
    _earn(creator, 66, "k2")
    assert ledger.balance(ledger.creator_account(creator.pk, Kind.PENDING, "USD")) == 1300
    expense = ledger.merchant_account(Kind.COMMISSION_EXPENSE, "USD")
    assert ledger.balance(expense) == 1300  # a debit-normal account grows with debits


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("legs", "code"),
    [
        ([("d", 100), ("c", 99)], "unbalanced"),
        ([("d", 0), ("c", 0)], "invalid_amount"),
        ([("d", -5), ("c", -5)], "invalid_amount"),
        ([("d", Decimal("1.5")), ("c", Decimal("1.5"))], "invalid_amount"),
    ],
)
def test_the_service_refuses_what_does_not_balance_and_writes_nothing(creator, legs, code):
    expense = ledger.merchant_account(Kind.COMMISSION_EXPENSE, "USD")
    pending = ledger.creator_account(creator.pk, Kind.PENDING, "USD")
    built = [
        ledger.debit(expense, amount) if side == "d" else ledger.credit(pending, amount)
        for side, amount in legs
    ]
    with pytest.raises(ApplicationError) as exc:
        ledger.post(idempotency_key="bad", kind="adjustment", legs=built)
    assert exc.value.code == code
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_two_currencies_must_each_balance(creator):
    usd = ledger.creator_account(creator.pk, Kind.PENDING, "USD")
    jpy = ledger.creator_account(creator.pk, Kind.PENDING, "JPY")
    with pytest.raises(ApplicationError, match="USD by 100, JPY by -100|JPY by -100, USD by 100"):
        ledger.post(
            idempotency_key="fx", kind="adjustment",
            legs=[ledger.debit(usd, 100), ledger.credit(jpy, 100)],
        )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_an_unbalanced_transaction_written_around_the_service(creator):
    account = LedgerAccount.objects.create(
        owner="creator", creator=creator, kind=Kind.PENDING, currency="USD"
    )
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        txn = LedgerTransaction.objects.create(idempotency_key="sneaky", kind="adjustment")
        LedgerEntry.objects.create(
            transaction=txn, account=account, side="credit", amount=500, currency="USD",
            balance_before=0, balance_after=500, account_version=1,
        )  # fmt: skip
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_transaction_without_entries():
    with pytest.raises(IntegrityError, match="has no entries"), transaction.atomic():
        LedgerTransaction.objects.create(idempotency_key="empty", kind="adjustment")


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_an_entry_in_another_currency(creator):
    account = LedgerAccount.objects.create(
        owner="creator", creator=creator, kind=Kind.PENDING, currency="USD"
    )
    with (
        pytest.raises(IntegrityError, match="sales_ledgerentry_account_currency_fk"),
        transaction.atomic(),
    ):
        txn = LedgerTransaction.objects.create(idempotency_key="fx", kind="adjustment")
        LedgerEntry.objects.create(
            transaction=txn, account=account, side="credit", amount=5, currency="EUR",
            balance_before=0, balance_after=5, account_version=1,
        )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_entries_and_transactions_cannot_be_edited_or_deleted(creator):
    txn, _ = _earn(creator, 100, "k")
    entry = txn.entries.first()
    for attempt in (
        lambda: LedgerEntry.objects.filter(pk=entry.pk).update(amount=1),
        lambda: LedgerEntry.objects.filter(pk=entry.pk).delete(),
        lambda: LedgerTransaction.objects.filter(pk=txn.pk).update(memo="edited"),
    ):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            attempt()
    assert LedgerEntry.objects.get(pk=entry.pk).amount == 100


@pytest.mark.django_db
def test_an_account_that_may_not_go_negative_does_not(creator):
    _earn(creator, 100, "earn")
    pending = ledger.creator_account(creator.pk, Kind.PENDING, "USD")
    available = ledger.creator_account(creator.pk, Kind.AVAILABLE, "USD")
    with pytest.raises(ApplicationError) as exc:
        ledger.post(
            idempotency_key="too-much", kind="release",
            legs=ledger.move(101, source=pending, target=available),
        )  # fmt: skip
    assert exc.value.code == "insufficient_balance"
    assert ledger.balance(pending) == 100
    assert not LedgerTransaction.objects.filter(idempotency_key="too-much").exists()


@pytest.mark.django_db
def test_the_same_key_posts_once(creator):
    first, created = _earn(creator, 100, "order-1-paid")
    again, created_again = _earn(creator, 100, "order-1-paid")
    assert created and not created_again and again.pk == first.pk
    assert ledger.balance(ledger.creator_account(creator.pk, Kind.PENDING, "USD")) == 100


def _in_threads(n, work):
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            return work(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_posts_of_one_key_make_one_transaction(creator):
    results = _in_threads(20, lambda i: _earn(creator, 250, "same-key")[1])
    assert results.count(True) == 1
    assert LedgerTransaction.objects.filter(idempotency_key="same-key").count() == 1
    assert ledger.balance(ledger.creator_account(creator.pk, Kind.PENDING, "USD")) == 250


@pytest.mark.django_db(transaction=True)
def test_concurrent_postings_on_one_account_serialise_and_number_its_versions(creator):
    _in_threads(8, lambda i: [_earn(creator, 10 + i, f"t{i}-{n}") for n in range(5)])
    account = LedgerAccount.objects.get(creator=creator, kind=Kind.PENDING)
    expected = sum((10 + i) * 5 for i in range(8))
    assert account.balance == expected and account.version == 40
    versions = list(account.entries.order_by("account_version").values_list(
        "account_version", "balance_before", "balance_after", "amount"))  # fmt: skip
    assert [v for v, *_ in versions] == list(range(1, 41))
    for (_, _before, after, _), (_, next_before, _, _) in zip(versions, versions[1:], strict=False):
        assert after == next_before  # each entry starts where the last one ended


@pytest.mark.django_db
def test_fifteen_split_eighty_eight_twelve_posts_to_the_cent(creator):
    others = [CreatorFactory(), CreatorFactory()]
    parts = allocate(to_minor(Decimal("15.00"), "USD"), [80, 8, 12])
    assert parts == [1200, 120, 180] and sum(parts) == 1500
    legs = [ledger.debit(ledger.merchant_account(Kind.COMMISSION_EXPENSE, "USD"), 1500)]
    for who, part in zip([creator, *others], parts, strict=True):
        legs.append(ledger.credit(ledger.creator_account(who.pk, Kind.PENDING, "USD"), part))
    ledger.post(idempotency_key="split", kind="commission", legs=legs)
    total = sum(LedgerEntry.objects.filter(side="credit").values_list("amount", flat=True))
    assert total == 1500


@pytest.mark.parametrize(
    ("price", "currency", "minor"),
    [("1999", "JPY", 200), ("12.345", "KWD", 1235), ("19.99", "USD", 200)],
)
def test_ten_percent_in_each_exponent_is_half_up_to_its_minor_units(price, currency, minor):
    assert to_minor(quantize(Decimal(price) * Decimal("0.10"), currency), currency) == minor


@pytest.mark.django_db
def test_a_past_balance_is_one_lookup(creator, django_assert_num_queries):
    before = timezone.now()
    _earn(creator, 100, "a")
    between = timezone.now()
    _earn(creator, 50, "b")
    key = ledger.creator_account(creator.pk, Kind.PENDING, "USD")
    with django_assert_num_queries(1):
        assert ledger.balance_at(key, between) == 100
    assert ledger.balance_at(key, before) == 0
    assert ledger.balance_at(key, timezone.now()) == ledger.balance(key) == 150


@pytest.mark.django_db(transaction=True)
def test_ledger_verify_finds_nothing_wrong_in_a_sound_ledger_and_says_what_is_wrong(creator):
    import json
    from io import StringIO

    from django.core.management import call_command

    _earn(creator, 700, "a")
    _earn(creator, 300, "b", currency="JPY")
    result = ledger.verify()
    assert result == {
        "ok": True, "transactions": 2, "entries": 4, "accounts": 4, "currencies": 2,
        "problems": [],
    }  # fmt: skip
    out = StringIO()
    call_command("ledger_verify", stdout=out)
    assert json.loads(out.getvalue())["ok"] is True
    # Someone edits a balance behind the ledger's back.
    LedgerAccount.objects.filter(creator=creator, currency="USD").update(balance=701)
    result = ledger.verify()
    assert not result["ok"]
    assert any("holds 701; its entries say 700" in p for p in result["problems"])
    with pytest.raises(SystemExit) as exit_:
        call_command("ledger_verify", stdout=StringIO())
    assert exit_.value.code == 1
