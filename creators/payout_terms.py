"""The payout terms a creator's programs promise: how often they are paid (the program's
`payout_schedule`) and the least a payout may be (their group's `minimum_payout` for the
currency). `sales.payouts` reads them; the settings (`PAYOUT_SCHEDULE`, `PAYOUT_MINIMUMS`,
`PAYOUT_MINIMUM`) are the default for a creator in no live program and for a group that
names no minimum for a currency.

A creator in several programs is paid on the most frequent of their programs' schedules and
from the lowest of their groups' minimums: their whole `available` balance is paid in one
payout, so they are never made to wait longer than any program they belong to promised.
"""

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings

from core.errors import ApplicationError
from core.money import minor_units, to_minor
from creators.program_models import GroupMembership, Program

# Most frequent first: the schedule a creator in several programs is paid on is the first
# of theirs in this list.
FREQUENCY = [
    Program.PayoutSchedule.WEEKLY,
    Program.PayoutSchedule.TWICE_MONTHLY,
    Program.PayoutSchedule.MONTHLY,
]


@dataclass(frozen=True)
class PayoutTerms:
    """One creator's terms: `schedules` of their live programs, `minimums` of their groups
    (one mapping currency -> amount per group). Both empty: the settings apply."""

    schedules: tuple[str, ...] = ()
    minimums: tuple[dict, ...] = field(default_factory=tuple)

    @property
    def schedule(self) -> str:
        for schedule in FREQUENCY:
            if schedule in self.schedules:
                return schedule
        return settings.PAYOUT_SCHEDULE

    def minimum(self, currency: str) -> int:
        """The least a payout in `currency` may be, in minor units (at least 1)."""
        if not self.minimums:
            return default_minimum(currency)
        return min(
            _to_minor(group[currency], currency) if currency in group else default_minimum(currency)
            for group in self.minimums
        )


def default_minimum(currency: str) -> int:
    """`PAYOUT_MINIMUMS[currency]`, else `PAYOUT_MINIMUM`, in minor units."""
    return _to_minor(settings.PAYOUT_MINIMUMS.get(currency, settings.PAYOUT_MINIMUM), currency)


def _to_minor(value, currency: str) -> int:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ApplicationError(f"The payout minimum {value!r} is not a number.") from None
    if not amount.is_finite():
        raise ApplicationError(f"The payout minimum {value!r} is not a number.")
    exact = amount.quantize(Decimal(1).scaleb(-minor_units(currency)))
    return max(1, to_minor(exact, currency))


def payout_terms(creator_ids) -> dict[int, PayoutTerms]:
    """The terms of each creator (one query whatever their number); a creator in no live
    program gets the settings' terms."""
    creator_ids = list(creator_ids)
    found: dict[int, tuple[list, list]] = {c: ([], []) for c in creator_ids}
    rows = (
        GroupMembership.objects.filter(
            creator_id__in=creator_ids,
            status=GroupMembership.Status.ACTIVE,
            program__active=True,
        )
        .values_list("creator_id", "program__payout_schedule", "group__minimum_payout")
        .order_by("creator_id", "pk")
    )
    for creator_id, schedule, minimum in rows:
        schedules, minimums = found[creator_id]
        schedules.append(schedule)
        minimums.append(minimum if isinstance(minimum, dict) else {})
    return {c: PayoutTerms(tuple(s), tuple(m)) for c, (s, m) in found.items()}
