"""Payout terms come from the creator's program: its schedule and their group's minimum per
currency, with the settings as the default (a creator in no program, a currency the group
does not name); a creator in several programs is paid on the most frequent schedule and from
the lowest minimum."""

from datetime import UTC, datetime

import pytest

from core.errors import ApplicationError
from creators import services as creator_services
from sales import ledger, payouts
from sales.models import PayoutRun
from tests.creators.factories import GroupFactory, ProgramFactory
from tests.links.factories import CreatorFactory
from tests.sales.ledger_helpers import Kind, available, balances, give_details

pytestmark = pytest.mark.django_db
MONDAY = datetime(2026, 12, 7, 6, tzinfo=UTC)  # weekly runs are due, monthly ones are not


@pytest.fixture(autouse=True)
def payout_settings(settings):
    settings.PAYOUT_SCHEDULE = "monthly"
    settings.PAYOUT_MINIMUM = "10"
    settings.PAYOUT_MINIMUMS = {"JPY": "1000"}
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0


@pytest.fixture(autouse=True)
def ledger_stays_sound():
    yield
    result = ledger.verify()
    assert result["ok"], result["problems"]


def member(handle, *, schedule="monthly", minimum=None, program=None):
    """A creator with complete payout details in a group of a program with these terms."""
    program = program or ProgramFactory(payout_schedule=schedule)
    group = GroupFactory(program=program, minimum_payout=minimum or {})
    creator = CreatorFactory(handle=handle)
    creator_services.membership_set(creator_id=creator.pk, group_id=group.pk)
    give_details(creator)
    return creator


def test_the_groups_minimum_is_honoured_by_the_payout_run():
    rich = member("rich", minimum={"USD": "100.00"})  # the program asks for 100.00 USD
    low = member("low", minimum={"USD": "5.00"})  # …and this one only 5.00 USD
    available(rich, 9_000)  # 90.00: above the settings' 10.00, below the group's 100.00
    available(low, 600)  # 6.00: below the settings' 10.00, above the group's 5.00

    run = payouts.payout_run_create(currency="USD")

    assert list(run.payouts.values_list("creator__handle", "amount")) == [("low", 600)]
    assert balances(rich)[Kind.AVAILABLE] == 9_000  # waits for its program's minimum
    available(rich, 1_000)  # now 100.00
    second = payouts.payout_run_create(currency="USD")
    assert list(second.payouts.values_list("creator__handle", "amount")) == [("rich", 10_000)]


def test_a_currency_the_group_does_not_name_and_a_creator_in_no_program_use_the_settings():
    named = member("named", minimum={"USD": "100.00"})
    alone = CreatorFactory(handle="alone")
    give_details(alone)
    assert payouts.payout_minimum(named.pk, "USD") == 10_000
    assert payouts.payout_minimum(named.pk, "EUR") == 1_000  # PAYOUT_MINIMUM 10
    assert payouts.payout_minimum(named.pk, "JPY") == 1_000  # PAYOUT_MINIMUMS["JPY"]
    assert payouts.payout_minimum(alone.pk, "USD") == 1_000
    assert payouts.payout_schedule(alone.pk) == "monthly"
    assert payouts.payout_minimum(member("kwd", minimum={"KWD": "2.5"}).pk, "KWD") == 2_500


def test_the_programs_schedule_decides_which_scheduled_run_pays_a_creator():
    weekly = member("weekly", schedule="weekly")
    monthly = member("monthly", schedule="monthly")
    alone = CreatorFactory(handle="alone")  # settings: monthly
    give_details(alone)
    for creator in (weekly, monthly, alone):
        available(creator, 2_000)

    payouts.payout_runs_due(now=MONDAY)

    run = PayoutRun.objects.get()
    assert run.schedule == "weekly"
    assert list(run.payouts.values_list("creator__handle", flat=True)) == ["weekly"]
    first_of_month = datetime(2027, 1, 1, 6, tzinfo=UTC)
    payouts.payout_runs_due(now=first_of_month)
    monthly_run = PayoutRun.objects.get(schedule="monthly")
    assert sorted(monthly_run.payouts.values_list("creator__handle", flat=True)) == [
        "alone",
        "monthly",
    ]


def test_several_programs_pay_on_the_most_frequent_schedule_from_the_lowest_minimum():
    creator = member("both", schedule="monthly", minimum={"USD": "80.00"})
    other = GroupFactory(
        program=ProgramFactory(payout_schedule="twice_monthly"), minimum_payout={"USD": "25.00"}
    )
    creator_services.membership_set(creator_id=creator.pk, group_id=other.pk)
    assert payouts.payout_schedule(creator.pk) == "twice_monthly"
    assert payouts.payout_minimum(creator.pk, "USD") == 2_500


def test_a_removed_membership_or_an_inactive_program_no_longer_sets_the_terms():
    creator = member("gone", schedule="weekly", minimum={"USD": "500.00"})
    program = creator.memberships.get().program
    program.active = False
    program.save()
    assert payouts.payout_schedule(creator.pk) == "monthly"
    assert payouts.payout_minimum(creator.pk, "USD") == 1_000


def test_a_minimum_that_is_not_a_number_is_refused_by_name(settings):
    settings.PAYOUT_MINIMUM = "lots"
    with pytest.raises(ApplicationError, match="'lots' is not a number"):
        payouts.payout_minimum(CreatorFactory().pk, "USD")
