"""Validation of catalog values: GTINs, SKUs, currencies and prices."""

import re
from decimal import Decimal

from django.core.exceptions import ValidationError

from core.money import MINOR_UNITS

GTIN_LENGTHS = (8, 12, 13, 14)
SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits before it."""
    total = 0
    # From the right, digits are weighted 3, 1, 3, 1, ...
    for position, digit in enumerate(reversed(body)):
        total += int(digit) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def validate_gtin(value: str) -> None:
    """GTIN-8, -12 (UPC-A), -13 (EAN) or -14, with a correct check digit."""
    if not value.isdigit() or not value.isascii():
        raise ValidationError("A GTIN has digits only.", code="gtin_digits")
    if len(value) not in GTIN_LENGTHS:
        raise ValidationError(
            "A GTIN has 8, 12, 13 or 14 digits; this one has %(length)d.",
            code="gtin_length",
            params={"length": len(value)},
        )
    expected = gtin_check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise ValidationError(
            "GTIN check digit is %(found)s but should be %(expected)d.",
            code="gtin_check_digit",
            params={"found": value[-1], "expected": expected},
        )


def validate_sku(value: str) -> None:
    if not SKU_RE.match(value):
        raise ValidationError(
            "A SKU is 1 to 64 characters: letters, digits, '.', '_' and '-', "
            "starting with a letter or digit.",
            code="sku_format",
        )


def validate_currency(value: str) -> None:
    if value not in MINOR_UNITS:
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code that can price a product.",
            code="currency",
            params={"value": value},
        )


def validate_amount(amount: Decimal, currency: str, *, field: str) -> None:
    """A price is non-negative and has no more decimals than its currency allows."""
    if amount is None:
        return
    if not amount.is_finite():
        raise ValidationError({field: "A price must be a finite number."})
    if amount < 0:
        raise ValidationError({field: "A price cannot be negative."})
    if currency not in MINOR_UNITS:
        return  # the currency field reports its own error
    allowed = MINOR_UNITS[currency]
    exponent = amount.normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    if decimals > allowed:
        raise ValidationError(
            {
                field: (
                    f"{currency} allows {allowed} decimal place{'s' if allowed != 1 else ''}; "
                    f"{amount} has {decimals}."
                )
            }
        )
