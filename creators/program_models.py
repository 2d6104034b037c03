"""Programs: what credit earns (issue 13).

A `Program` holds the attribution policy (the precedence options, versioned), the commission
base's options, its terms (versioned, shown by the portal) and its payout schedule. A program
has `CreatorGroup`s (tiers) with an application mode, a hold period and minimum payouts per
currency; a creator belongs to at most one group per program (`GroupMembership`).

Commission rules come in immutable, versioned `RuleSet`s: a group's rules, or one creator's
personal override in a group. A draft is edited; publishing freezes it and sets when it
applies (at once for a raise, after `COMMISSION_DECREASE_NOTICE_DAYS` for a version that
lowers or removes anything). `creators/commission_rules.py` matches rules and computes
amounts; `creators/services.py` holds every write.

`DiscountCode`s belong to a creator in a program (unique regardless of case; a creator's
custom code is requested, then approved by the merchant). `CreatorFingerprint`s are keyed
hashes of what identifies a creator (their emails, card fingerprints, visitor hashes, payout
accounts) that fraud checks compare orders against; never the raw values.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from catalog.models import Product
from core.money import CURRENCY_CHOICES, is_currency, is_exact, minor_units

__all__ = [
    "CommissionRule",
    "CreatorFingerprint",
    "CreatorGroup",
    "DiscountCode",
    "GroupMembership",
    "Program",
    "ProgramPolicyChange",
    "ProgramTerms",
    "ProductCollection",
    "RuleSet",
]

MONEY = {"max_digits": 18, "decimal_places": 4}


class Program(models.Model):
    """An affiliate programme: who gets the credit (policy) and what it earns (groups)."""

    class Touch(models.TextChoices):
        LAST = "last", "Last touch"
        FIRST = "first", "First touch"

    class PayoutSchedule(models.TextChoices):
        WEEKLY = "weekly", "Weekly"
        TWICE_MONTHLY = "twice_monthly", "Twice a month"
        MONTHLY = "monthly", "Monthly"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    currency = models.CharField(
        max_length=3,
        choices=CURRENCY_CHOICES,
        default="USD",
        help_text="The currency of flat amounts and order-value conditions in its rules.",
    )
    active = models.BooleanField(default=True)
    is_default = models.BooleanField(
        default=False,
        help_text="Its attribution policy decides every order (one program is the default).",
    )
    # The attribution policy (versioned: each change bumps policy_version, audited).
    touch = models.CharField(max_length=5, choices=Touch.choices, default=Touch.LAST)
    window_days = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="Clicks older than this before the order do not count.",
    )
    lifetime_lock = models.BooleanField(
        default=False,
        help_text="A customer stays with the creator who first brought them.",
    )
    policy_version = models.PositiveIntegerField(default=1, editable=False)
    # The commission base: what the shopper paid for the lines, less these when set.
    base_less_discounts = models.BooleanField(default=True)
    base_less_tax = models.BooleanField(default=True)
    base_less_shipping = models.BooleanField(default=True)
    payout_schedule = models.CharField(
        max_length=15, choices=PayoutSchedule.choices, default=PayoutSchedule.MONTHLY
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="creators_program_one_default",
                violation_error_message="Another program is already the default.",
            ),
        ]

    def __str__(self):
        return self.name

    def policy(self) -> dict:
        """The policy a decision freezes."""
        return {
            "program": self.pk,
            "version": self.policy_version,
            "touch": self.touch,
            "window_days": self.window_days,
            "lifetime_lock": self.lifetime_lock,
            "precedence": ["lifetime_lock", "code", "order_click", "cookie_click", "content"],
        }

    def current_terms(self):
        return self.terms.filter(published_at__isnull=False).order_by("-version").first()


class ProgramPolicyChange(models.Model):
    """Append-only: each version of a program's attribution policy, who set it and why."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="policy_changes")
    version = models.PositiveIntegerField()
    policy = models.JSONField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "version"], name="creators_policychange_version_unique"
            )
        ]

    def __str__(self):
        return f"{self.program} policy v{self.version}"


class ProgramTerms(models.Model):
    """A version of a program's terms; published versions are never edited."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="terms")
    version = models.PositiveIntegerField()
    text = models.TextField()
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["program", "-version"]
        verbose_name_plural = "program terms"
        constraints = [
            models.UniqueConstraint(
                fields=["program", "version"], name="creators_terms_version_unique"
            )
        ]

    def __str__(self):
        return f"{self.program} terms v{self.version}"


class CreatorGroup(models.Model):
    """A tier of a program: how creators join it, how long commissions are held, and the
    smallest payout per currency."""

    class ApplicationMode(models.TextChoices):
        OPEN = "open", "Open (the merchant reviews applications)"
        INVITE_ONLY = "invite_only", "Invite only"
        AUTO_APPROVE = "auto_approve", "Auto-approve"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    application_mode = models.CharField(
        max_length=15, choices=ApplicationMode.choices, default=ApplicationMode.OPEN
    )
    hold_days = models.PositiveIntegerField(
        default=30, help_text="Days a commission is held (from delivery, fulfilment or payment)."
    )
    minimum_payout = models.JSONField(
        default=dict,
        blank=True,
        help_text='Smallest payout per currency, e.g. {"USD": "50.00", "JPY": "5000"}.',
    )
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["program", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["program", "slug"], name="creators_group_slug_unique")
        ]

    def __str__(self):
        return f"{self.program.name} › {self.name}"

    def clean(self):
        if not isinstance(self.minimum_payout, dict):
            raise ValidationError({"minimum_payout": "A mapping of currency to amount."})
        for currency, amount in self.minimum_payout.items():
            if not is_currency(currency):
                raise ValidationError({"minimum_payout": f"{currency!r} is not ISO 4217."})
            try:
                value = Decimal(str(amount))
            except ArithmeticError:
                value = None
            if value is None or not value.is_finite() or value < 0:
                raise ValidationError({"minimum_payout": f"{currency}: {amount!r} is not ≥ 0."})
            if not is_exact(value, currency):
                raise ValidationError(
                    {"minimum_payout": f"{currency} allows {minor_units(currency)} decimals."}
                )


class GroupMembership(models.Model):
    """A creator in a group; at most one live membership per program."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REMOVED = "removed", "Removed"

    creator = models.ForeignKey(
        "creators.Creator", on_delete=models.CASCADE, related_name="memberships"
    )
    group = models.ForeignKey(CreatorGroup, on_delete=models.CASCADE, related_name="memberships")
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "group", "creator"]
        constraints = [
            models.UniqueConstraint(
                fields=["creator", "program"],
                condition=Q(status="active"),
                name="creators_membership_one_per_program",
                violation_error_message="The creator is already in a group of this program.",
            ),
        ]

    def __str__(self):
        return f"{self.creator} in {self.group}"


class ProductCollection(models.Model):
    """A named set of products that commission rules can target: chosen products, and every
    product of the listed brands (the catalog's own grouping)."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    products = models.ManyToManyField(Product, blank=True, related_name="+")
    brands = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated brands, e.g. Lumen Lab, Sonic."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def brand_list(self) -> list[str]:
        return [b.strip().casefold() for b in self.brands.split(",") if b.strip()]


class RuleSet(models.Model):
    """One version of a group's commission rules (or of a creator's personal override).

    Drafts are edited; a published version never changes. The version in force for an order
    is the latest published one whose `effective_at` is not after the order was placed."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    group = models.ForeignKey(CreatorGroup, on_delete=models.CASCADE, related_name="rulesets")
    creator = models.ForeignKey(
        "creators.Creator",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rule_overrides",
        help_text="Set for a creator's personal override.",
    )
    version = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    note = models.CharField(max_length=300, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    effective_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When it applies: at once for raises, after the notice for a decrease.",
    )
    lowers = models.BooleanField(
        default=False, help_text="It lowers or removes something: the notice period applies."
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "creator_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "version"],
                condition=Q(creator__isnull=True),
                name="creators_ruleset_group_version",
            ),
            models.UniqueConstraint(
                fields=["group", "creator", "version"],
                condition=Q(creator__isnull=False),
                name="creators_ruleset_override_version",
            ),
            models.UniqueConstraint(
                fields=["group"],
                condition=Q(status="draft", creator__isnull=True),
                name="creators_ruleset_one_group_draft",
                violation_error_message="This group already has a draft; edit that one.",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(effective_at__isnull=False),
                name="creators_ruleset_published_has_effective_at",
            ),
        ]
        indexes = [
            models.Index(
                fields=["group", "creator", "effective_at"],
                condition=Q(status="published"),
                name="creators_ruleset_in_force",
            ),
        ]

    def __str__(self):
        whose = f" for @{self.creator.handle}" if self.creator_id else ""
        return f"{self.group.name}{whose} v{self.version} ({self.get_status_display().lower()})"


class CommissionRule(models.Model):
    """A predicate and an amount. The rules of a version are tried in `position` order and
    the first that matches a line wins. Empty conditions match everything."""

    class Customer(models.TextChoices):
        ANY = "any", "Any customer"
        NEW = "new", "New customer"
        RETURNING = "returning", "Returning customer"

    class Kind(models.TextChoices):
        PERCENT = "percent", "Percentage of the commission base"
        FLAT_PER_ORDER = "flat_order", "Flat amount per order"
        FLAT_PER_UNIT = "flat_unit", "Flat amount per unit"

    ruleset = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=120, blank=True)
    # The predicate.
    products = models.ManyToManyField(Product, blank=True, related_name="+")
    collections = models.ManyToManyField(ProductCollection, blank=True, related_name="+")
    customer = models.CharField(max_length=10, choices=Customer.choices, default=Customer.ANY)
    countries = models.CharField(
        max_length=300, blank=True, help_text="ISO country codes, comma-separated (empty: any)."
    )
    min_order_value = models.DecimalField(**MONEY, null=True, blank=True)
    max_order_value = models.DecimalField(**MONEY, null=True, blank=True)
    # The amount.
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PERCENT)
    percent = models.DecimalField(
        max_digits=7, decimal_places=4, null=True, blank=True, help_text="e.g. 10 for 10 %."
    )
    flat_amount = models.DecimalField(**MONEY, null=True, blank=True)
    cap = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="At most this much per order (optional)."
    )

    class Meta:
        ordering = ["ruleset", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="percent")
                    & Q(percent__isnull=False)
                    & Q(percent__gte=0)
                    & Q(percent__lte=100)
                )
                | (~Q(kind="percent") & Q(flat_amount__isnull=False) & Q(flat_amount__gte=0)),
                name="creators_rule_amount_fits_kind",
                violation_error_message="A percentage rule needs 0–100 %; a flat rule an amount.",
            ),
            models.CheckConstraint(
                condition=Q(cap__isnull=True) | Q(cap__gte=0), name="creators_rule_cap_gte_0"
            ),
        ]

    def __str__(self):
        return f"rule {self.position}" + (f" ({self.name})" if self.name else "")

    def country_list(self) -> list[str]:
        return [c.strip().upper() for c in self.countries.split(",") if c.strip()]

    def clean(self):
        errors = {}
        if self.kind == self.Kind.PERCENT:
            if self.percent is None or not Decimal(0) <= self.percent <= 100:
                errors["percent"] = "A percentage from 0 to 100."
        elif self.flat_amount is None or self.flat_amount < 0:
            errors["flat_amount"] = "A flat rule needs an amount ≥ 0."
        for code in self.country_list():
            if len(code) != 2 or not code.isalpha():
                errors["countries"] = f"{code!r} is not a two-letter country code."
        if (
            self.min_order_value is not None
            and self.max_order_value is not None
            and self.min_order_value > self.max_order_value
        ):
            errors["max_order_value"] = "Above the minimum order value."
        if errors:
            raise ValidationError(errors)


class DiscountCode(models.Model):
    """A discount code that credits its creator when an order uses it."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested by the creator"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    code = models.CharField(max_length=40, help_text="Letters, digits, - and _, e.g. MAYA10.")
    creator = models.ForeignKey(
        "creators.Creator", on_delete=models.CASCADE, related_name="discount_codes"
    )
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="discount_codes")
    active = models.BooleanField(default=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.APPROVED, db_index=True
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                Lower("code"),
                name="creators_discountcode_ci_unique",
                violation_error_message="This discount code is taken (codes ignore case).",
            ),
        ]

    def __str__(self):
        return self.code

    def valid_at(self, when) -> bool:
        return (
            self.active
            and self.status == self.Status.APPROVED
            and (self.starts_at is None or self.starts_at <= when)
            and (self.ends_at is None or when < self.ends_at)
        )


class CreatorFingerprint(models.Model):
    """A keyed hash of something that identifies a creator, for self-referral and shared
    payout-method checks. Emails and card fingerprints are hashed with the same purpose as
    the order's (`customer-email`, `payment-fingerprint`), so they compare directly."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email address"
        PAYMENT = "payment", "Payment card fingerprint"
        VISITOR = "visitor", "Visitor hash (from a click or portal visit)"
        PAYOUT_ACCOUNT = "payout_account", "Payout account"

    creator = models.ForeignKey(
        "creators.Creator", on_delete=models.CASCADE, related_name="fingerprints"
    )
    kind = models.CharField(max_length=15, choices=Kind.choices)
    value_hash = models.CharField(max_length=64)
    source = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["creator", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["creator", "kind", "value_hash"], name="creators_fingerprint_unique"
            )
        ]
        indexes = [models.Index(fields=["kind", "value_hash"], name="creators_fingerprint_value")]

    def __str__(self):
        return f"{self.get_kind_display()} of creator #{self.creator_id}"
