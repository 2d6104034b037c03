"""Posting to the commission ledger: the one way money moves between accounts.

`post` writes one balanced transaction, exactly once:
- its idempotency key is inserted first (unique): the same key posted twice, even at the
  same moment from two connections, makes one transaction, and the second caller gets it back;
- the accounts it touches are locked in id order (`SELECT ... FOR UPDATE`), so concurrent
  postings on one account serialise and never deadlock;
- each entry records the account's balance before and after and the account's new version;
- a posting that would take an account below zero where it may not go there is refused with
  `ApplicationError("insufficient_balance")` and changes nothing.
The database checks again what this module promises (see `sales/ledger_models.py`).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.money import is_currency
from sales.ledger_models import LedgerAccount, LedgerEntry, LedgerTransaction

Kind = LedgerAccount.Kind
DEBIT, CREDIT = LedgerEntry.Side.DEBIT, LedgerEntry.Side.CREDIT


@dataclass(frozen=True)
class AccountKey:
    kind: str
    currency: str
    creator_id: int | None = None  # None: the merchant's

    @property
    def owner(self) -> str:
        if self.creator_id is None:
            return LedgerAccount.Owner.MERCHANT
        return LedgerAccount.Owner.CREATOR


def creator_account(creator_id: int, kind: str, currency: str) -> AccountKey:
    return AccountKey(kind=kind, currency=currency, creator_id=creator_id)


def merchant_account(kind: str, currency: str) -> AccountKey:
    return AccountKey(kind=kind, currency=currency)


@dataclass(frozen=True)
class Leg:
    account: AccountKey
    side: str  # DEBIT or CREDIT
    amount: int  # minor units, > 0


def debit(account: AccountKey, amount: int) -> Leg:
    return Leg(account, DEBIT, amount)


def credit(account: AccountKey, amount: int) -> Leg:
    return Leg(account, CREDIT, amount)


def move(amount: int, *, source: AccountKey, target: AccountKey) -> list[Leg]:
    """Money moving from one account to another, both on the same (credit) side of the books:
    `source` gives it up, `target` gets it. Debit-normal accounts read the other way round."""
    return [debit(source, amount), credit(target, amount)]


def check_balanced(legs: Iterable[Leg]) -> None:
    """Refuse legs that do not balance per currency, or that hold a zero or negative amount."""
    totals: dict[str, int] = {}
    for leg in legs:
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool) or leg.amount <= 0:
            raise ApplicationError(
                f"A ledger entry's amount must be a whole number of minor units above zero, "
                f"not {leg.amount!r}.",
                code="invalid_amount",
            )
        if not is_currency(leg.account.currency):
            raise ApplicationError(f"{leg.account.currency} is not a currency.", code="currency")
        sign = 1 if leg.side == DEBIT else -1
        totals[leg.account.currency] = totals.get(leg.account.currency, 0) + sign * leg.amount
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        raise ApplicationError(
            "Debits and credits differ: "
            + ", ".join(f"{c} by {t}" for c, t in sorted(unbalanced.items())),
            code="unbalanced",
        )


def _accounts(keys: set[AccountKey]) -> dict[AccountKey, LedgerAccount]:
    """The accounts for `keys`, made when missing, locked in id order."""
    for key in sorted(keys, key=lambda k: (k.creator_id or 0, k.kind, k.currency)):
        LedgerAccount.objects.get_or_create(
            owner=key.owner, creator_id=key.creator_id, kind=key.kind, currency=key.currency,
            defaults={"allow_negative": False},
        )  # fmt: skip
    query = LedgerAccount.objects.none()
    for key in keys:
        query = query | LedgerAccount.objects.filter(
            owner=key.owner, creator_id=key.creator_id, kind=key.kind, currency=key.currency
        )
    locked = list(query.order_by("pk").select_for_update())
    return {AccountKey(a.kind, a.currency, a.creator_id): a for a in locked}


def _moved(account: LedgerAccount, side: str, amount: int) -> int:
    grows = (side == DEBIT) == account.debit_normal
    return account.balance + amount if grows else account.balance - amount


def post(
    *,
    idempotency_key: str,
    kind: str,
    legs: list[Leg],
    memo: str = "",
    occurred_at=None,
    actor=None,
    **refs,
) -> tuple[LedgerTransaction, bool]:
    """Post a balanced transaction once. Returns (transaction, created).

    `refs` are the transaction's links: order_id, refund_id, commission_id, reverses_id.
    Runs inside the caller's transaction when there is one (a savepoint keeps a duplicate
    key from spoiling it).
    """
    check_balanced(legs)
    if not idempotency_key:
        raise ApplicationError("A ledger transaction needs an idempotency key.", code="invalid")
    with transaction.atomic():
        try:
            with transaction.atomic():
                txn = LedgerTransaction.objects.create(
                    idempotency_key=idempotency_key, kind=kind, memo=memo,
                    occurred_at=occurred_at or timezone.now(),
                    actor=actor if getattr(actor, "pk", None) else None, **refs,
                )  # fmt: skip
        except IntegrityError:
            return LedgerTransaction.objects.get(idempotency_key=idempotency_key), False
        accounts = _accounts({leg.account for leg in legs})
        entries = []
        for leg in sorted(legs, key=lambda leg: accounts[leg.account].pk):
            account = accounts[leg.account]
            after = _moved(account, leg.side, leg.amount)
            if after < 0 and not account.allow_negative:
                raise ApplicationError(
                    f"{account} holds {account.balance} minor units; {leg.amount} cannot leave it.",
                    code="insufficient_balance",
                )
            account.version += 1
            entries.append(
                LedgerEntry(
                    transaction=txn,
                    account=account,
                    side=leg.side,
                    amount=leg.amount,
                    currency=account.currency,
                    balance_before=account.balance,
                    balance_after=after,
                    account_version=account.version,
                )  # fmt: skip
            )
            account.balance = after
        LedgerEntry.objects.bulk_create(entries)
        for account in {id(a): a for a in accounts.values()}.values():
            LedgerAccount.objects.filter(pk=account.pk).update(
                balance=account.balance, version=account.version
            )
    return txn, True


def balance(key: AccountKey) -> int:
    """An account's balance now (0 if it was never used)."""
    account = LedgerAccount.objects.filter(
        owner=key.owner, creator_id=key.creator_id, kind=key.kind, currency=key.currency
    ).first()
    return account.balance if account else 0


def balance_at(key: AccountKey, at) -> int:
    """An account's balance at a past moment (as posted by then): one lookup of its last
    entry, by version, posted before it."""
    entry = (
        LedgerEntry.objects.filter(
            account__owner=key.owner,
            account__creator_id=key.creator_id,
            account__kind=key.kind,
            account__currency=key.currency,
            transaction__created_at__lte=at,
        )  # fmt: skip
        .order_by("-account_version")
        .values_list("balance_after", flat=True)
        .first()
    )
    return entry or 0


# -- verification ---------------------------------------------------------------------------

# More checks plug in here (payouts, attribution): each returns a list of problem strings.
EXTRA_CHECKS: list = []


def register_check(check) -> None:
    """Let an app above sales add a check to `verify` (e.g. commissions against attribution)."""
    if check not in EXTRA_CHECKS:
        EXTRA_CHECKS.append(check)


def verify() -> dict:
    """Re-derive every balance from the entries and check every invariant; see ledger_verify."""
    from django.db import connection

    problems: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(_UNBALANCED_SQL)
        for txn_id, currency, diff in cursor.fetchall():
            problems.append(f"transaction {txn_id} is off by {diff} in {currency}")
        cursor.execute(_ACCOUNTS_SQL)
        for account_id, kind, balance, version, derived, entries, last, max_v in cursor.fetchall():
            if balance != derived:
                problems.append(
                    f"account {account_id} ({kind}) holds {balance}; its entries say {derived}"
                )
            if entries != version or (entries and max_v != version):
                problems.append(
                    f"account {account_id} is at version {version} with {entries} entries"
                )
            if entries and last != balance:
                problems.append(f"account {account_id}'s last entry ends at {last}, not {balance}")
        cursor.execute(_NEGATIVE_SQL)
        for (account_id,) in cursor.fetchall():
            problems.append(f"account {account_id} is below zero and may not be")
        cursor.execute(_COMMISSIONS_SQL)
        for commission_id, amount, reversed_, earned, taken in cursor.fetchall():
            if earned != amount:
                problems.append(
                    f"commission {commission_id} is {amount}; its ledger earned {earned}"
                )
            if taken != reversed_:
                problems.append(
                    f"commission {commission_id} says {reversed_} reversed; its ledger says {taken}"
                )
        cursor.execute(_COUNTS_SQL)
        transactions, entries, accounts, currencies = cursor.fetchone()
    for check in EXTRA_CHECKS:
        problems.extend(check())
    return {
        "ok": not problems, "transactions": transactions, "entries": entries,
        "accounts": accounts, "currencies": currencies, "problems": problems,
    }  # fmt: skip


_SIGNED = "CASE WHEN e.side = 'debit' THEN e.amount ELSE -e.amount END"
_UNBALANCED_SQL = f"""
SELECT e.transaction_id, e.currency, SUM({_SIGNED}) FROM sales_ledgerentry e
GROUP BY e.transaction_id, e.currency HAVING SUM({_SIGNED}) <> 0 ORDER BY 1
"""  # noqa: S608 - constant SQL
_ACCOUNTS_SQL = f"""
SELECT a.id, a.kind, a.balance, a.version,
       COALESCE(SUM(CASE WHEN a.kind IN ('receivable', 'commission_expense') THEN {_SIGNED}
                         ELSE -({_SIGNED}) END), 0),
       COUNT(e.id),
       (SELECT balance_after FROM sales_ledgerentry WHERE account_id = a.id
        ORDER BY account_version DESC LIMIT 1),
       MAX(e.account_version)
FROM sales_ledgeraccount a LEFT JOIN sales_ledgerentry e ON e.account_id = a.id
GROUP BY a.id ORDER BY a.id
"""  # noqa: S608 - constant SQL
_NEGATIVE_SQL = "SELECT id FROM sales_ledgeraccount WHERE balance < 0 AND NOT allow_negative"
_COMMISSIONS_SQL = """
SELECT c.id, c.amount, c.reversed,
       COALESCE((SELECT SUM(e.amount) FROM sales_ledgertransaction t
                 JOIN sales_ledgerentry e ON e.transaction_id = t.id
                 JOIN sales_ledgeraccount a ON a.id = e.account_id
                 WHERE t.commission_id = c.id AND t.kind = 'commission'
                   AND a.kind = 'commission_expense'), 0),
       COALESCE((SELECT SUM(e.amount) FROM sales_ledgertransaction t
                 JOIN sales_ledgerentry e ON e.transaction_id = t.id
                 JOIN sales_ledgeraccount a ON a.id = e.account_id
                 WHERE t.commission_id = c.id
                   AND t.kind IN ('reversal', 'clawback', 'fraud_reduce')
                   AND a.kind = 'commission_expense'), 0)
FROM sales_commission c ORDER BY c.id
"""
_COUNTS_SQL = """
SELECT (SELECT COUNT(*) FROM sales_ledgertransaction), (SELECT COUNT(*) FROM sales_ledgerentry),
       (SELECT COUNT(*) FROM sales_ledgeraccount),
       (SELECT COUNT(DISTINCT currency) FROM sales_ledgeraccount)
"""
