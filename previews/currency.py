"""ISO 4217 codes and the currency symbols shops print, for reading scraped prices.

The codes and their minor units come from `core.money`, the one table; this module adds
what reading a scraped page needs: which symbols name which currency.
"""

from core.money import MINOR_UNITS, THREE_DECIMAL

CURRENCY_CODES = frozenset(MINOR_UNITS)

# Currencies whose prices carry three decimals: "12.500 KWD" is twelve and a half dinars,
# not twelve thousand five hundred.
THREE_DECIMAL_CURRENCIES = frozenset(THREE_DECIMAL)

# Symbols that name one currency. "C$" is also the Nicaraguan córdoba, but on the shops
# Shoploop reads it is the Canadian dollar.
SYMBOLS: dict[str, str] = {
    "US$": "USD",
    "CA$": "CAD",
    "C$": "CAD",
    "AU$": "AUD",
    "A$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "MX$": "MXN",
    "R$": "BRL",
    "€": "EUR",
    "£": "GBP",
    "₹": "INR",
    "円": "JPY",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₪": "ILS",
    "₫": "VND",
    "₱": "PHP",
    "₴": "UAH",
    "zł": "PLN",
    "Kč": "CZK",
}

# Symbols several currencies share. The currency the page declares (the hint) wins; without
# one the default is the usual reading ("$" is USD, "¥" is JPY), or none at all for "kr".
AMBIGUOUS_SYMBOLS: dict[str, str | None] = {
    "$": "USD",
    "¥": "JPY",
    "kr": None,
}


def valid_code(value) -> str | None:
    """`value` as an upper-case ISO 4217 code, or None if it is not one."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    return code if code in CURRENCY_CODES else None
