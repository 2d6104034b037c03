"""Money: exponents, exact rounding and splits that sum to the whole."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import money


@pytest.mark.parametrize(
    ("currency", "digits"), [("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)]
)
def test_exponents(currency, digits):
    assert money.minor_units(currency) == digits


def test_minor_units_round_trip_in_each_exponent():
    assert money.to_minor(Decimal("12.34"), "USD") == 1234
    assert money.to_minor(Decimal("1999"), "JPY") == 1999
    assert money.to_minor(Decimal("12.345"), "KWD") == 12345
    assert money.from_minor(12345, "KWD") == Decimal("12.345")
    assert str(money.from_minor(1999, "JPY")) == "1999"


def test_an_amount_with_too_many_digits_is_refused_not_rounded():
    with pytest.raises(ValueError, match="JPY"):
        money.to_minor(Decimal("1999.5"), "JPY")


def test_rounding_is_half_up_to_the_currency():
    assert money.quantize(Decimal("199.9"), "JPY") == Decimal("200")
    assert money.quantize(Decimal("1.2345"), "KWD") == Decimal("1.235")
    assert money.quantize(Decimal("0.125"), "USD") == Decimal("0.13")
    with pytest.raises(TypeError):
        money.quantize(0.1, "USD")


def test_fifteen_split_80_8_12_is_exact():
    assert money.allocate(1500, [80, 8, 12]) == [1200, 120, 180]
    assert money.allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert money.allocate(-100, [1, 1, 1]) == [-34, -33, -33]


@given(
    total=st.integers(min_value=-(10**12), max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(
        any
    ),
)
def test_every_split_sums_to_the_whole(total, weights):
    parts = money.allocate(total, weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Decimal(total) * weight / sum(weights)
        assert abs(part - exact) < 1


def test_display_uses_the_currency_digits():
    assert money.format_money(Decimal("1999"), "JPY") == "¥1,999"
    assert money.format_money(Decimal("12.5"), "KWD") == "12.500 KWD"


def test_display_rounds_a_stored_amount_to_the_currency_and_signs_it_in_front():
    # Prices are stored with four decimals: they read in their currency's minor units.
    assert money.format_money(Decimal("24.9900"), "USD") == "$24.99"
    assert money.format_money(Decimal("1999.0000"), "JPY") == "¥1,999"
    assert money.format_money(Decimal("12.5005"), "KWD") == "12.501 KWD"  # half-up
    assert money.format_money(Decimal("-5"), "EUR") == "-€5.00"
    assert money.format_money("1234567.5", "USD") == "$1,234,567.50"
    with pytest.raises(TypeError):
        money.format_money(24.99, "USD")


def test_unambiguous_display_never_uses_a_symbol_several_currencies_share():
    shown = {
        code: money.format_money(Decimal("59"), code, unambiguous=True)
        for code in ["USD", "CAD", "AUD", "NZD", "JPY", "CNY", "EUR", "GBP", "CHF"]
    }
    assert shown == {
        "USD": "US$59.00", "CAD": "CA$59.00", "AUD": "A$59.00", "NZD": "NZ$59.00",
        "JPY": "JP¥59", "CNY": "CN¥59.00", "EUR": "€59.00", "GBP": "£59.00",
        "CHF": "59.00 CHF",
    }  # fmt: skip
    # No two currencies read the same: one labelled amount names one currency.
    labels = [
        money.format_money(Decimal("1"), code, unambiguous=True) for code in money.MINOR_UNITS
    ]
    assert len(labels) == len(set(labels))
    assert money.currencies_are_mixed(["USD", "USD", ""]) is False
    assert money.currencies_are_mixed(["USD", "CAD"]) is True
