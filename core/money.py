"""Money: ISO 4217 currencies with their minor units, exact rounding, splits and display.

The one place the exponent table lives. Minor units are the digits after the decimal point
ISO 4217 allows: 2 for most currencies, 0 for JPY or KRW, 3 for KWD or BHD, 4 for CLF. Fund
and metal codes with no minor unit (XAU, XDR, ...) cannot price anything and are left out.

Amounts are `Decimal` in a currency (never float) or integers of its minor units. Rounding
to a currency is half-up, to its own exponent; a split of an amount allocates the remainder
by largest remainder so that the parts always sum to the whole.
"""

from decimal import ROUND_HALF_UP, Decimal

ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
    "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip
THREE_DECIMAL = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
FOUR_DECIMAL = {"CLF", "UYW"}
TWO_DECIMAL = {
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHE", "CHF", "CHW", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK",
    "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD",
    "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD",
    "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
    "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT",
    "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN", "UYU", "UZS", "VED", "VES",
    "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
}  # fmt: skip

MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(TWO_DECIMAL, 2),
    **dict.fromkeys(ZERO_DECIMAL, 0),
    **dict.fromkeys(THREE_DECIMAL, 3),
    **dict.fromkeys(FOUR_DECIMAL, 4),
}
CURRENCY_CHOICES = sorted((code, code) for code in MINOR_UNITS)

# Symbols shown with amounts, as CLDR's English locale writes them; other currencies show
# their code after the amount. Each is one currency's only, except "$" and "¥", which people
# also read as other dollars and yuan: where that could mislead (prices in several
# currencies side by side, the console) `unambiguous=True` writes those two as below.
SYMBOLS = {
    "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$",
    "HKD": "HK$", "MXN": "MX$", "TWD": "NT$", "BRL": "R$", "CNY": "CN¥", "INR": "₹",
    "KRW": "₩", "ILS": "₪", "VND": "₫", "PHP": "₱", "XCD": "EC$",
}  # fmt: skip
UNAMBIGUOUS_SYMBOLS = {"USD": "US$", "JPY": "JP¥"}


def minor_units(currency: str) -> int:
    """Digits after the decimal point for `currency`; KeyError if it is not ISO 4217."""
    return MINOR_UNITS[currency]


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def quantum(currency: str) -> Decimal:
    """The smallest amount of `currency`: 0.01 for USD, 1 for JPY, 0.001 for KWD."""
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half-up to the minor units of `currency`."""
    if isinstance(amount, float):
        raise TypeError("money is never a float; pass a Decimal or a string")
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def is_exact(amount: Decimal, currency: str) -> bool:
    """True if `amount` has no more digits than `currency` has minor units."""
    return Decimal(amount) == quantize(amount, currency)


def to_minor(amount: Decimal, currency: str) -> int:
    """`12.34` USD -> 1234, `1999` JPY -> 1999, `12.345` KWD -> 12345.

    Raises ValueError if the amount has more digits than the currency allows: a caller
    that means to round says so with `quantize` first.
    """
    if not is_exact(amount, currency):
        raise ValueError(f"{amount} has more digits than {currency} allows")
    return int(Decimal(amount).scaleb(minor_units(currency)))


def from_minor(minor: int, currency: str) -> Decimal:
    """1234 USD -> Decimal("12.34"); 1999 JPY -> Decimal("1999")."""
    return Decimal(int(minor)).scaleb(-minor_units(currency)).quantize(quantum(currency))


def allocate(total: int, weights: list) -> list[int]:
    """Split `total` minor units in proportion to `weights`; the parts sum to `total`.

    Largest remainder: each part gets the floor of its exact share, then the units left
    over go one each to the parts with the largest remainders (ties to the earlier part).
    `allocate(1500, [80, 8, 12])` -> `[1200, 120, 180]`.
    """
    weights = [Decimal(w) for w in weights]
    if any(w < 0 for w in weights):
        raise ValueError("weights cannot be negative")
    whole = sum(weights)
    if not weights or whole == 0:
        raise ValueError("at least one weight must be positive")
    sign = -1 if total < 0 else 1
    magnitude = abs(int(total))
    exact = [magnitude * w / whole for w in weights]
    parts = [int(share) for share in exact]
    left = magnitude - sum(parts)
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return [sign * part for part in parts]


def format_money(amount, currency: str, *, unambiguous: bool = False) -> str:
    """`€24.00`, `$59.00`, `¥1,999`, `12.500 KWD`: grouped, rounded half-up to the currency's
    own minor units (a stored `24.9900` reads `24.99`). With `unambiguous`, no symbol that
    several currencies use: `US$59.00`, `JP¥1,999`, `CA$12.00`.

    The one money formatter: pages, the console, e-mails and the API's display strings use it.
    """
    if isinstance(amount, float):
        raise TypeError("money is never a float; pass a Decimal or a string")
    digits = minor_units(currency)
    value = quantize(Decimal(amount), currency)
    sign = "-" if value < 0 else ""
    number = f"{abs(value):,.{digits}f}"
    symbol = (UNAMBIGUOUS_SYMBOLS.get(currency) if unambiguous else None) or SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def currencies_are_mixed(currencies) -> bool:
    """True when amounts in more than one currency are shown together."""
    return len({code for code in currencies if code}) > 1
