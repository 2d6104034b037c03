"""The commission ledger: accounts, balanced append-only transactions, commissions.

Amounts are integers of the currency's minor units (`core.money`: JPY 0 digits, USD 2, KWD 3).
What the database itself guarantees on PostgreSQL (migrations `sales` 0003, 0005 and 0007):
- every transaction's debits equal its credits in each currency, checked at commit by a
  deferred constraint trigger, and a transaction has entries;
- an entry's currency is its account's (a foreign key on (account, currency));
- entries and transactions are never updated or deleted (mistakes are reversed);
- an account that may not go negative never does (a CHECK constraint);
- an entry's balance after is its balance before moved by its amount, and each account's
  versions are unique, so concurrent postings cannot both write version n.
Services in `sales/ledger.py` post transactions; `sales/commissions.py` runs a commission's
life (hold, release, reversal, clawback, fraud review).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.money import CURRENCY_CHOICES, format_money, from_minor
from creators.models import Creator

__all__ = [
    "Commission",
    "CreatorBalance",
    "CommissionEvent",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "LedgerVerification",
]


class LedgerAccount(models.Model):
    class Owner(models.TextChoices):
        MERCHANT = "merchant", "Merchant"
        CREATOR = "creator", "Creator"

    class Kind(models.TextChoices):
        # A creator's side (what the merchant owes them, by stage, and what they owe back).
        PENDING = "pending", "Pending (held)"
        AVAILABLE = "available", "Available"
        IN_PAYOUT = "in_payout", "In payout"
        PAID = "paid", "Paid"
        RECEIVABLE = "receivable", "Receivable (clawbacks owed)"
        # The merchant's side. What the merchant owes creators (its commission payable) is
        # the sum of their pending, available and in-payout accounts, a sub-ledger per creator.
        COMMISSION_EXPENSE = "commission_expense", "Commission expense"

    CREATOR_KINDS = (Kind.PENDING, Kind.AVAILABLE, Kind.IN_PAYOUT, Kind.PAID, Kind.RECEIVABLE)
    MERCHANT_KINDS = (Kind.COMMISSION_EXPENSE,)
    # Accounts whose balance grows with debits; the others grow with credits.
    DEBIT_NORMAL = (Kind.RECEIVABLE, Kind.COMMISSION_EXPENSE)

    owner = models.CharField(max_length=10, choices=Owner.choices)
    creator = models.ForeignKey(
        Creator, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    shard = models.PositiveSmallIntegerField(
        default=0,
        help_text="The merchant's accounts are split in LEDGER_MERCHANT_SHARDS rows per kind "
        "and currency, so that concurrent postings do not all wait for one row; the "
        "account's balance is the sum of its shards. Creators' accounts have one (0).",
    )
    balance = models.BigIntegerField(default=0, help_text="In minor units, on its normal side.")
    version = models.BigIntegerField(default=0, help_text="Entries posted to it so far.")
    allow_negative = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["owner", "creator", "currency", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["creator", "kind", "currency"],
                condition=Q(owner="creator"),
                name="sales_ledgeraccount_creator_unique",
            ),
            models.UniqueConstraint(
                fields=["kind", "currency", "shard"],
                condition=Q(owner="merchant"),
                name="sales_ledgeraccount_merchant_unique",
            ),
            models.CheckConstraint(
                condition=Q(owner="merchant") | Q(shard=0),
                name="sales_ledgeraccount_creator_one_shard",
            ),
            models.UniqueConstraint(
                fields=["id", "currency"], name="sales_ledgeraccount_id_currency"
            ),  # what entries' (account, currency) foreign key refers to
            models.CheckConstraint(
                condition=(Q(owner="creator") & Q(creator__isnull=False))
                | (Q(owner="merchant") & Q(creator__isnull=True)),
                name="sales_ledgeraccount_owner",
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=0) | Q(allow_negative=True),
                name="sales_ledgeraccount_not_negative",
                violation_error_message="This account may not go below zero.",
            ),
        ]

    def __str__(self):
        who = f"@{self.creator.handle}" if self.creator_id else "merchant"
        return f"{who} {self.get_kind_display().lower()} {self.currency}"

    @property
    def debit_normal(self) -> bool:
        return self.kind in self.DEBIT_NORMAL

    @property
    def display_balance(self) -> str:
        return format_money(from_minor(self.balance, self.currency), self.currency)


class LedgerTransaction(models.Model):
    """A balanced set of entries, posted once (its idempotency key is unique), never edited."""

    class Kind(models.TextChoices):
        COMMISSION = "commission", "Commission earned"
        RELEASE = "release", "Hold ended"
        REVERSAL = "reversal", "Commission reversed"
        CLAWBACK = "clawback", "Clawback after payout"
        FRAUD_REDUCE = "fraud_reduce", "Reduced on review"
        PAYOUT = "payout", "Payout started"
        PAYOUT_PAID = "payout_paid", "Payout confirmed"
        PAYOUT_FAILED = "payout_failed", "Payout failed"
        NETTING = "netting", "Clawback netted"
        ADJUSTMENT = "adjustment", "Manual adjustment"

    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    memo = models.TextField(blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The links are mostly empty: each has a partial index (below) instead of a full one, so
    # that a posting writes only the index entries it needs (see `make bench-ledger`).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False,
    )  # fmt: skip
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by",
        db_index=False,
    )  # fmt: skip
    order = models.ForeignKey(
        "sales.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,
    )  # fmt: skip
    refund = models.ForeignKey(
        "sales.Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,
    )  # fmt: skip
    commission = models.ForeignKey(
        "sales.Commission", null=True, blank=True, on_delete=models.PROTECT,
        related_name="transactions", db_index=False,
    )  # fmt: skip
    payout = models.ForeignKey(
        "sales.Payout", null=True, blank=True, on_delete=models.PROTECT,
        related_name="transactions", db_index=False,
    )  # fmt: skip

    class Meta:
        ordering = ["occurred_at", "pk"]
        indexes = [
            models.Index(
                fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"sales_txn_{name}"
            )  # fmt: skip
            for name in ("actor", "reverses", "order", "refund", "commission", "payout")
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()} ({self.idempotency_key})"


class LedgerEntry(models.Model):
    class Side(models.TextChoices):
        DEBIT = "debit", "Debit"
        CREDIT = "credit", "Credit"

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    # Indexed by the unique (account, account_version) below, which also finds an account's
    # latest entry (a backward scan): no index of its own. Its foreign key is (account,
    # currency) -> the account's (id, currency), made by migration 0007 on PostgreSQL: one
    # check that the account exists and that the entry is in its currency.
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    side = models.CharField(max_length=6, choices=Side.choices)
    amount = models.BigIntegerField(help_text="Minor units; always above zero.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    balance_before = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    account_version = models.BigIntegerField(help_text="The account's version after this entry.")

    class Meta:
        ordering = ["transaction", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="sales_ledgerentry_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(balance_after=F("balance_before") + F("amount"))
                | Q(balance_after=F("balance_before") - F("amount")),
                name="sales_ledgerentry_balance_moves_by_amount",
            ),
            models.UniqueConstraint(
                fields=["account", "account_version"], name="sales_ledgerentry_account_version"
            ),
        ]

    def __str__(self):
        return f"{self.side} {self.amount} {self.currency} on {self.account_id}"


class Commission(models.Model):
    """What one order line (or order) earns one creator, at the rate frozen when it was made.

    Its money lives in the ledger: `amount` was posted to the creator's pending account;
    `reversed` is what refunds, cancellations and reviews took back since. The status says
    where the rest is.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (in its hold)"
        HELD = "held", "Held for review"
        AVAILABLE = "available", "Available"
        IN_PAYOUT = "in_payout", "In a payout"
        PAID = "paid", "Paid"
        REVERSED = "reversed", "Reversed"

    idempotency_key = models.CharField(max_length=200, unique=True)
    order = models.ForeignKey("sales.Order", on_delete=models.PROTECT, related_name="commissions")
    line = models.ForeignKey(
        "sales.OrderLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="commissions",
        help_text="Empty for a flat amount per order.",
    )
    creator = models.ForeignKey(Creator, on_delete=models.PROTECT, related_name="commissions")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    base = models.BigIntegerField(help_text="The commission base, in minor units.")
    amount = models.BigIntegerField(help_text="What was earned, in minor units.")
    reversed = models.BigIntegerField(default=0, help_text="Taken back since, in minor units.")
    rule = models.JSONField(
        default=dict, blank=True, help_text="The rule and version that set the amount (frozen)."
    )
    attribution_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    hold_days = models.PositiveIntegerField(default=30)
    hold_until = models.DateTimeField(
        help_text="When the hold ends: hold_days after delivery, fulfilment or payment."
    )
    review_reason = models.TextField(blank=True, help_text="Why it is held for review.")
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(base__gte=0) & Q(reversed__gte=0),
                name="sales_commission_amounts_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(reversed__lte=F("amount")), name="sales_commission_reversed_lte_amount"
            ),
        ]
        indexes = [
            models.Index(
                fields=["hold_until"], condition=Q(status="pending"), name="sales_commission_due"
            ),
            models.Index(fields=["creator", "-created_at"], name="sales_commission_creator"),
        ]

    def __str__(self):
        money = format_money(from_minor(self.amount, self.currency), self.currency)
        return f"{money} for creator #{self.creator_id}"

    @property
    def net(self) -> int:
        return self.amount - self.reversed


class CommissionEvent(models.Model):
    """Append-only audit of a commission's moves: who, when, from, to, why."""

    commission = models.ForeignKey(Commission, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    amount = models.BigIntegerField(default=0, help_text="Minor units moved, if any.")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["commission", "at", "pk"]

    def __str__(self):
        return f"{self.action} {self.from_status or '∅'} → {self.to_status}"


class LedgerVerification(models.Model):
    """The result of one `ledger_verify` (the nightly job's, or a run from the console)."""

    ran_at = models.DateTimeField(default=timezone.now, db_index=True)
    ok = models.BooleanField()
    result = models.JSONField(help_text="What ledger_verify printed.")
    seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-ran_at", "-pk"]

    def __str__(self):
        return f"ledger_verify at {self.ran_at:%Y-%m-%d %H:%M}: {'ok' if self.ok else 'PROBLEMS'}"


class CreatorBalance(LedgerAccount):
    """The console's page of balances per creator and currency (a view of the accounts)."""

    class Meta:
        proxy = True
        verbose_name = "creator balance"
