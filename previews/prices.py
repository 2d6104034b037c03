"""Prices and stock availability as shops print them, turned into values Shoploop can use.

`parse_price("1.299,00 €")` gives `(Decimal("1299.00"), "EUR")`. Shops write numbers in
their own locale, so the decimal separator is decided from the digits: the last separator
is the decimal point unless exactly three digits follow it ("1.299" and "1,299" are one
thousand two hundred and ninety-nine; "19,99" and "19.9" are decimals). Where both "." and
"," appear, the last one is the decimal point. Spaces and apostrophes only ever group
thousands ("1 299,00", "CHF 1'299.00").

The currency comes from the text first: an ISO code next to the number ("USD 19.99",
"19,99 EUR"), then an unambiguous symbol ("€", "R$", "CA$"). A shared symbol ("$", "¥",
"kr") gives way to `currency_hint`, the currency the page declares elsewhere (for example
`product:price:currency`), because "$" is as often CAD, AUD or MXN as USD. Without a hint
"$" reads as USD and "¥" as JPY.
"""

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from previews.currency import (
    AMBIGUOUS_SYMBOLS,
    SYMBOLS,
    THREE_DECIMAL_CURRENCIES,
    valid_code,
)

MAX_TEXT = 200  # a price is short; longer text is a description, not a price
MAX_DIGITS = 18  # more digits than any real price: refuse instead of storing nonsense

# A number: grouped thousands first (1,299 / 1.299,00 / 1 299,00 / 1'299.00 / the Indian
# 1,29,999), then a plain number (1999 / 19.99 / 19,99).
_NUMBER = re.compile(
    r"[0-9]{1,3}(?:,[0-9]{2})*(?:[ '’.,][0-9]{3})+(?:[.,][0-9]+)?(?![0-9])"
    r"|[0-9]+(?:[.,][0-9]+)?"
)
_CODE_BEFORE = re.compile(r"\b([A-Z]{3})$")
_CODE_AFTER = re.compile(r"^([A-Z]{3})\b")
# Longest first, so "R$" is tried before "$".
_ALL_SYMBOLS = sorted([*SYMBOLS, *AMBIGUOUS_SYMBOLS], key=len, reverse=True)
_THOUSANDS_ONLY = " '’"
_MINUS_SIGNS = ("-", "−")


def parse_price(text, currency_hint: str | None = None) -> tuple[Decimal | None, str | None]:
    """`(amount, ISO 4217 code)` read from `text`; `(None, None)` when there is no price.

    The amount may come without a currency, as `(amount, None)`, when neither the text nor
    the hint names one. Negative amounts and text without digits ("free", "call us") give
    `(None, None)`.
    """
    if isinstance(text, bool) or text is None:
        return None, None
    if isinstance(text, int | float | Decimal):
        return _number_value(text), valid_code(currency_hint)
    if not isinstance(text, str):
        return None, None
    text = " ".join(unicodedata.normalize("NFKC", text).split())[:MAX_TEXT]
    hint = valid_code(currency_hint)
    match, currency = _pick_number(text, hint)
    if match is None or _is_negative(text, match):
        return None, None
    amount = _to_decimal(match.group(), currency)
    if amount is None:
        return None, None
    return amount, currency


def parse_amount(value) -> Decimal | None:
    """An amount from machine-readable markup (JSON-LD `price`, `product:price:amount`).

    schema.org asks for a plain number with "." as the decimal point, so "1.299" here is
    one point two nine nine; anything else is read as printed text by `parse_price`.
    """
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+(?:\.[0-9]+)?\s*", value):
        return _number_value(value.strip())
    amount, _ = parse_price(value)
    return amount


def _number_value(value) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or len(amount.as_tuple().digits) > MAX_DIGITS:
        return None
    return amount


def _pick_number(text: str, hint: str | None) -> tuple[re.Match | None, str | None]:
    """The first number with a currency beside it, else the first number and the hint.

    "2 for $30" is thirty dollars, not two.
    """
    first = None
    for match in _NUMBER.finditer(text):
        currency = _currency_beside(text, match, hint)
        if currency:
            return match, currency
        first = first or match
    return first, hint


def _currency_beside(text: str, match: re.Match, hint: str | None) -> str | None:
    """The currency written right before or after the number, if any.

    ISO codes count only in capitals, so the words "all" or "top" are not currencies.
    """
    before, after = text[: match.start()].rstrip(), text[match.end() :].lstrip()
    for found in (_CODE_BEFORE.search(before), _CODE_AFTER.search(after)):
        if found and valid_code(found.group(1)):
            return found.group(1)
    for symbol in _ALL_SYMBOLS:
        if before.endswith(symbol) or after.startswith(symbol):
            if symbol in SYMBOLS:
                return SYMBOLS[symbol]
            return hint or AMBIGUOUS_SYMBOLS[symbol]
    return None


def _is_negative(text: str, match: re.Match) -> bool:
    before = text[: match.start()].rstrip()
    for symbol in _ALL_SYMBOLS:
        if before.endswith(symbol):
            before = before[: -len(symbol)].rstrip()
            break
    return before.endswith(_MINUS_SIGNS)


def _to_decimal(token: str, currency: str | None) -> Decimal | None:
    """Decide which separator, if any, is the decimal point, then build the Decimal."""
    decimal_sep = _decimal_separator(token, currency)
    if decimal_sep:
        integer, _, fraction = token.rpartition(decimal_sep)
    else:
        integer, fraction = token, ""
    groups = re.split(r"[ '’.,]", integer)
    if not _groups_ok(groups):
        return None
    number = "".join(groups) + (f".{fraction}" if fraction else "")
    return _number_value(number)


def _decimal_separator(token: str, currency: str | None) -> str | None:
    marks = [ch for ch in token if not ch.isdigit()]
    if not marks or marks[-1] in _THOUSANDS_ONLY:
        return None
    last = marks[-1]
    if len(set(marks) - set(_THOUSANDS_ONLY)) > 1:
        return last  # "1.299,00" and "1,299.00": the last mark is the decimal point
    if marks.count(last) > 1:
        return None  # "1,299,000": repeated, so it groups thousands
    head, _, tail = token.rpartition(last)
    if len(tail) != 3:
        return last  # "19,99", "19.9"
    if head == "0" or currency in THREE_DECIMAL_CURRENCIES:
        return last  # "0.999", "12.500 KWD"
    return None  # "1.299", "1,299"


def _groups_ok(groups: list[str]) -> bool:
    """Thousands groups must look like thousands: 1,299,000 or the Indian 1,29,999."""
    if len(groups) == 1:
        return bool(groups[0])
    first, middle, last = groups[0], groups[1:-1], groups[-1]
    return 1 <= len(first) <= 3 and all(len(g) in (2, 3) for g in middle) and len(last) == 3


# schema.org ItemAvailability values, keyed by their name folded to lower-case letters.
SCHEMA_AVAILABILITY = {
    name.lower(): f"https://schema.org/{name}"
    for name in (
        "InStock",
        "OutOfStock",
        "PreOrder",
        "PreSale",
        "BackOrder",
        "Discontinued",
        "LimitedAvailability",
        "SoldOut",
        "InStoreOnly",
        "OnlineOnly",
        "MadeToOrder",
        "Reserved",
    )
}
# Spellings seen on shops and in Open Graph / Facebook catalog tags.
_AVAILABILITY_ALIASES = {
    "oos": "outofstock",
    "available": "instock",
    "instockonline": "instock",
    "backordered": "backorder",
    "unavailable": "outofstock",
    "preorderable": "preorder",
}


_AVAILABILITY_NAME = re.compile(r"[/:#]")
_NOT_LOWER_LETTER = re.compile(r"[^a-z]")


def normalize_availability(value) -> str | None:
    """A schema.org availability URL from "instock", "in stock", "schema:InStock", "oos"...

    Unknown values give None rather than a guess: "pending" says nothing about stock.
    """
    if not isinstance(value, str):
        return None
    name = _AVAILABILITY_NAME.split(value.strip())[-1]
    key = _NOT_LOWER_LETTER.sub("", name.lower())
    key = _AVAILABILITY_ALIASES.get(key, key)
    return SCHEMA_AVAILABILITY.get(key)
