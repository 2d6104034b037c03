"""Posting to the commission ledger: the one way money moves between accounts.

`post` writes one balanced transaction, exactly once:
- its idempotency key is unique: the same key posted twice, even at the same moment from two
  connections, makes one transaction, and the second caller gets it back;
- the accounts it touches are locked in id order (`SELECT ... FOR UPDATE`), so concurrent
  postings on one account serialise and never deadlock; accounts missing so far are made
  before any is locked;
- each entry records the account's balance before and after and the account's new version;
- a posting that would take an account below zero where it may not go there is refused with
  `ApplicationError("insufficient_balance")` and changes nothing.
The database checks again what this module promises (see `sales/ledger_models.py`).

On PostgreSQL a posting is one call of the `sales_ledger_post` function (migration
`sales.0005_ledger_post_function`): the same steps in one round trip, so that a row lock is
held for as short a time as the database allows. Elsewhere (the embedded SQLite default)
the same steps run here in Python.

**The merchant's hot accounts.** Every commission and refund touches the merchant's commission
expense in its currency; one row would make every posting in a currency wait for the one
before it to commit. The merchant's accounts are therefore split in
`LEDGER_MERCHANT_SHARDS` rows (shards) per kind and currency, each a full account (balance,
versions, entries, the CHECK); a posting uses the shard its idempotency key hashes to, and
the merchant's balance is the sum of the shards (`balance`, `balance_at`). Creators'
accounts are one row each.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from core.errors import ApplicationError
from core.money import is_currency
from sales.ledger_models import LedgerAccount, LedgerEntry, LedgerTransaction

Kind = LedgerAccount.Kind
DEBIT, CREDIT = LedgerEntry.Side.DEBIT, LedgerEntry.Side.CREDIT
REFS = ("order_id", "refund_id", "commission_id", "reverses_id", "payout_id")


@dataclass(frozen=True)
class AccountKey:
    kind: str
    currency: str
    creator_id: int | None = None  # None: the merchant's
    shard: int | None = None  # the merchant's: None means "whichever the posting hashes to"

    @property
    def owner(self) -> str:
        if self.creator_id is None:
            return LedgerAccount.Owner.MERCHANT
        return LedgerAccount.Owner.CREATOR


def creator_account(creator_id: int, kind: str, currency: str) -> AccountKey:
    return AccountKey(kind=kind, currency=currency, creator_id=creator_id, shard=0)


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


def shard_for(legs: list[Leg]) -> int:
    """The merchant shard a posting uses: its first creator's id modulo LEDGER_MERCHANT_SHARDS
    (0 without a creator). A creator's postings thus all meet the merchant on one shard, and
    what a creator's commissions earned is what their reversals take back from that shard:
    no shard goes below zero that the whole account would not."""
    shards = max(1, int(getattr(settings, "LEDGER_MERCHANT_SHARDS", 1)))
    creators = [leg.account.creator_id for leg in legs if leg.account.creator_id is not None]
    return min(creators) % shards if creators else 0


def _sharded(legs: list[Leg]) -> list[Leg]:
    shard = shard_for(legs)
    return [
        replace(leg, account=replace(leg.account, shard=shard))
        if leg.account.shard is None
        else leg
        for leg in legs
    ]


def _insufficient(account_id: int, balance_: int, amount: int) -> ApplicationError:
    account = LedgerAccount.objects.select_related("creator").get(pk=account_id)
    return ApplicationError(
        f"{account} holds {balance_} minor units; {amount} cannot leave it.",
        code="insufficient_balance",
    )


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

    `refs` are the transaction's links: order_id, refund_id, commission_id, reverses_id,
    payout_id. Runs inside the caller's transaction when there is one; a refusal
    (`insufficient_balance`) writes nothing and leaves that transaction usable.
    """
    check_balanced(legs)
    if not idempotency_key:
        raise ApplicationError("A ledger transaction needs an idempotency key.", code="invalid")
    unknown = set(refs) - set(REFS)
    if unknown:
        raise TypeError(f"post() got unknown references {sorted(unknown)}")
    legs = _sharded(legs)
    occurred_at = occurred_at or timezone.now()
    actor_id = actor.pk if getattr(actor, "pk", None) else None
    if connection.vendor == "postgresql":
        return _post_postgresql(idempotency_key, kind, legs, memo, occurred_at, actor_id, refs)
    return _post_python(idempotency_key, kind, legs, memo, occurred_at, actor_id, refs)


_POST_SQL = (
    "SELECT transaction_id, created, problem_account, problem_balance, problem_amount "
    "FROM sales_ledger_post(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%b::text[], %b::bigint[], %b::text[], %b::text[], %b::int[], %b::text[], %b::bigint[])"
)  # %b: the arrays travel in PostgreSQL's binary format (no text to build, none to parse)


def _post_cursor() -> psycopg.Cursor:
    """A server-binding cursor on Django's own connection (so inside its transaction), kept
    with that connection: the parameters travel apart from the statement, which psycopg
    prepares once, and the cursor remembers how to send them, instead of quoting them into
    the statement on every call as Django's client-side cursors do."""
    connection.ensure_connection()
    raw = connection.connection
    cursor = getattr(connection, "_ledger_post_cursor", None)
    if cursor is None or cursor.closed or cursor.connection is not raw:
        cursor = psycopg.Cursor(raw)
        connection._ledger_post_cursor = cursor
    return cursor


def _post_postgresql(key, kind, legs, memo, occurred_at, actor_id, refs):
    params = [
        key, kind, memo, occurred_at, actor_id,
        *(refs.get(name) for name in REFS),
        [leg.account.owner for leg in legs],
        [leg.account.creator_id for leg in legs],
        [leg.account.kind for leg in legs],
        [leg.account.currency for leg in legs],
        [leg.account.shard for leg in legs],
        [leg.side for leg in legs],
        [leg.amount for leg in legs],
    ]  # fmt: skip
    cursor = _post_cursor()
    cursor.execute(_POST_SQL, params)
    txn_id, created, problem_account, problem_balance, problem_amount = cursor.fetchone()
    if problem_account is not None:
        raise _insufficient(problem_account, problem_balance, problem_amount)
    if not created:
        return LedgerTransaction.objects.get(pk=txn_id), False
    txn = LedgerTransaction(
        pk=txn_id, idempotency_key=key, kind=kind, memo=memo, occurred_at=occurred_at,
        actor_id=actor_id, **refs,
    )  # fmt: skip
    txn._state.adding = False
    txn._state.db = "default"
    return txn, True


def _post_python(key, kind, legs, memo, occurred_at, actor_id, refs):
    """The same steps as `sales_ledger_post`, for databases without it (SQLite)."""
    with transaction.atomic():
        existing = LedgerTransaction.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing, False
        accounts = _accounts({leg.account for leg in legs})
        entries = []
        for leg in sorted(legs, key=lambda leg: accounts[leg.account].pk):
            account = accounts[leg.account]
            after = _moved(account, leg.side, leg.amount)
            if after < 0 and not account.allow_negative:
                raise _insufficient(account.pk, account.balance, leg.amount)
            account.version += 1
            entries.append(
                LedgerEntry(
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
        try:
            with transaction.atomic():
                txn = LedgerTransaction.objects.create(
                    idempotency_key=key, kind=kind, memo=memo, occurred_at=occurred_at,
                    actor_id=actor_id, **refs,
                )  # fmt: skip
        except IntegrityError:
            return LedgerTransaction.objects.get(idempotency_key=key), False
        for entry in entries:
            entry.transaction = txn
        LedgerEntry.objects.bulk_create(entries)
        for account in {id(a): a for a in accounts.values()}.values():
            LedgerAccount.objects.filter(pk=account.pk).update(
                balance=account.balance, version=account.version
            )
    return txn, True


def _accounts(keys: set[AccountKey]) -> dict[AccountKey, LedgerAccount]:
    """The accounts for `keys`, made when missing (before any is locked), locked in id order."""
    for key in sorted(keys, key=lambda k: (k.creator_id or 0, k.kind, k.currency, k.shard)):
        LedgerAccount.objects.get_or_create(
            owner=key.owner, creator_id=key.creator_id, kind=key.kind, currency=key.currency,
            shard=key.shard, defaults={"allow_negative": False},
        )  # fmt: skip
    query = LedgerAccount.objects.none()
    for key in keys:
        query = query | LedgerAccount.objects.filter(
            owner=key.owner, creator_id=key.creator_id, kind=key.kind, currency=key.currency,
            shard=key.shard,
        )  # fmt: skip
    locked = list(query.order_by("pk").select_for_update())
    return {AccountKey(a.kind, a.currency, a.creator_id, a.shard): a for a in locked}


def _moved(account: LedgerAccount, side: str, amount: int) -> int:
    grows = (side == DEBIT) == account.debit_normal
    return account.balance + amount if grows else account.balance - amount


def lock_accounts(keys: Iterable[AccountKey]) -> dict[AccountKey, int]:
    """Lock creators' accounts (those that exist) in id order; their balances by key.

    For a service that must read balances and post in one transaction (a payout run):
    what it reads cannot change before it posts."""
    keys = list(keys)
    if any(key.creator_id is None for key in keys):
        raise ValueError("lock_accounts takes creators' accounts")
    balances = dict.fromkeys(keys, 0)
    if not keys:
        return balances
    query = LedgerAccount.objects.none()
    for key in keys:
        query = query | LedgerAccount.objects.filter(
            owner=key.owner, creator_id=key.creator_id, kind=key.kind, currency=key.currency
        )
    for account in query.order_by("pk").select_for_update():
        balances[creator_account(account.creator_id, account.kind, account.currency)] = (
            account.balance
        )
    return balances


def _account_filter(key: AccountKey, prefix: str = "") -> dict:
    found = {f"{prefix}owner": key.owner, f"{prefix}creator_id": key.creator_id,
             f"{prefix}kind": key.kind, f"{prefix}currency": key.currency}  # fmt: skip
    if key.shard is not None:
        found[f"{prefix}shard"] = key.shard
    return found


def balance(key: AccountKey) -> int:
    """An account's balance now (0 if it was never used); the merchant's sums its shards."""
    total = LedgerAccount.objects.filter(**_account_filter(key)).aggregate(total=Sum("balance"))
    return total["total"] or 0


def balance_at(key: AccountKey, at) -> int:
    """An account's balance at a past moment (as posted by then): one query for the last entry,
    by version, of each of its rows (one for a creator's account, one per merchant shard)."""
    last = (
        (
            LedgerEntry.objects.filter(
                **_account_filter(key, "account__"), transaction__created_at__lte=at
            )  # fmt: skip
            .order_by("account_id", "-account_version")
            .distinct("account_id")
            .values_list("balance_after", flat=True)
        )
        if connection.vendor == "postgresql"
        else None
    )
    if last is not None:
        return sum(last)
    total = 0
    for account_id in LedgerAccount.objects.filter(**_account_filter(key)).values_list(
        "pk", flat=True
    ):
        entry = (
            LedgerEntry.objects.filter(account_id=account_id, transaction__created_at__lte=at)
            .order_by("-account_version").values_list("balance_after", flat=True).first()
        )  # fmt: skip
        total += entry or 0
    return total


# -- verification ---------------------------------------------------------------------------

# More checks plug in here (payouts, attribution): each returns a list of problem strings.
EXTRA_CHECKS: list = []


def register_check(check) -> None:
    """Let an app above sales add a check to `verify` (e.g. commissions against attribution)."""
    if check not in EXTRA_CHECKS:
        EXTRA_CHECKS.append(check)


def verification_record(*, source: str = "job"):
    """Run `verify` and keep its result for the console (the nightly job, or a person)."""
    import time

    from sales.ledger_models import LedgerVerification

    started = time.perf_counter()
    result = verify()
    return LedgerVerification.objects.create(
        ok=result["ok"],
        result={**result, "source": source},
        seconds=round(time.perf_counter() - started, 3),
    )


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
