"""Price parsing and availability normalisation, table-driven."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from previews.currency import CURRENCY_CODES, valid_code
from previews.prices import normalize_availability, parse_amount, parse_price

D = Decimal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$19.99", (D("19.99"), "USD")),
        ("19,99 €", (D("19.99"), "EUR")),
        ("€19,99", (D("19.99"), "EUR")),
        ("1.299,00 EUR", (D("1299.00"), "EUR")),
        ("1.299 €", (D("1299"), "EUR")),
        ("£1,299", (D("1299"), "GBP")),
        ("£1,299.50", (D("1299.50"), "GBP")),
        ("¥1999", (D("1999"), "JPY")),
        ("¥1,999", (D("1999"), "JPY")),
        ("１９９９円", (D("1999"), "JPY")),  # full-width digits
        ("USD 19.99", (D("19.99"), "USD")),
        ("19.99USD", (D("19.99"), "USD")),
        ("R$ 49,90", (D("49.90"), "BRL")),
        ("R$1.049,90", (D("1049.90"), "BRL")),
        ("1 299,00 €", (D("1299.00"), "EUR")),
        ("1\u00a0299,00\u00a0€", (D("1299.00"), "EUR")),  # no-break spaces
        ("1\u202f299,00 €", (D("1299.00"), "EUR")),  # narrow no-break space (fr-FR)
        ("CHF 1'299.00", (D("1299.00"), "CHF")),
        ("CHF 1’299.00", (D("1299.00"), "CHF")),
        ("C$10", (D("10"), "CAD")),
        ("CA$ 1,000.50", (D("1000.50"), "CAD")),
        ("A$5.95", (D("5.95"), "AUD")),
        ("US$ 3", (D("3"), "USD")),
        ("₹1,29,999", (D("129999"), "INR")),  # Indian lakh grouping
        ("₹ 499.00", (D("499.00"), "INR")),
        ("₩15,000", (D("15000"), "KRW")),
        ("12.500 KWD", (D("12.500"), "KWD")),  # three-decimal currency
        ("$19.99 CAD", (D("19.99"), "CAD")),  # the ISO code beats the shared symbol
        ("2 for $30", (D("30"), "USD")),  # the number with a currency beside it
        ("From $10 - $20", (D("10"), "USD")),
        ("19.9", (D("19.9"), None)),
        ("0.999", (D("0.999"), None)),
        ("1,299,000", (D("1299000"), None)),
        ("1999", (D("1999"), None)),
        ("Price: 24.00 GBP incl. VAT", (D("24.00"), "GBP")),
    ],
)
def test_parse_price(text, expected):
    assert parse_price(text) == expected


@pytest.mark.parametrize(
    "text",
    ["free", "", "   ", "call us", "Contact for price", "EUR", "$", "-$5.00", "−5 €", "1.299.99"],
)
def test_text_without_a_price_gives_nothing(text):
    assert parse_price(text) == (None, None)


@pytest.mark.parametrize("value", [None, True, [], {}, object()])
def test_values_that_are_not_text_give_nothing(value):
    assert parse_price(value) == (None, None)


@pytest.mark.parametrize(
    ("text", "hint", "expected"),
    [
        ("$19.99", "CAD", (D("19.99"), "CAD")),  # a shared symbol yields to the page
        ("$19.99", "mxn", (D("19.99"), "MXN")),
        ("¥1999", "CNY", (D("1999"), "CNY")),
        ("99 kr", "SEK", (D("99"), "SEK")),
        ("99 kr", None, (D("99"), None)),
        ("19.99", "EUR", (D("19.99"), "EUR")),
        ("€19.99", "USD", (D("19.99"), "EUR")),  # an unambiguous symbol does not
        ("USD 19.99", "EUR", (D("19.99"), "USD")),
        ("19.99", "XXX", (D("19.99"), None)),  # not a currency code
        ("19.99", "euro", (D("19.99"), None)),
    ],
)
def test_currency_hint(text, hint, expected):
    assert parse_price(text, currency_hint=hint) == expected


def test_numbers_from_json_keep_their_value():
    assert parse_price(19.99, "USD") == (D("19.99"), "USD")
    assert parse_price(120) == (D("120"), None)
    assert parse_price(D("5.5")) == (D("5.5"), None)
    assert parse_price(float("nan")) == (None, None)
    assert parse_price(-3) == (None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19.99", D("19.99")),
        ("1.299", D("1.299")),  # machine markup: "." is always the decimal point
        (" 5 ", D("5")),
        ("1,299.00", D("1299.00")),  # not machine format: read as printed
        ("$19.99", D("19.99")),
        (12.5, D("12.5")),
        ("", None),
        ("n/a", None),
    ],
)
def test_parse_amount(value, expected):
    assert parse_amount(value) == expected


@given(
    amount=st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False),
    style=st.sampled_from(["en", "de", "fr", "ch"]),
)
def test_formatted_amounts_round_trip(amount, style):
    """An amount printed in a common locale style reads back as the same amount."""
    grouped = f"{amount:,.2f}"  # 1,299.00
    printed = {
        "en": grouped,
        "de": grouped.replace(",", "_").replace(".", ",").replace("_", "."),
        "fr": grouped.replace(",", "\u202f").replace(".", ","),
        "ch": grouped.replace(",", "'"),
    }[style]
    assert parse_price(f"{printed} EUR") == (amount, "EUR")


@given(text=st.text(max_size=60))
def test_parse_price_never_raises_and_returns_valid_values(text):
    amount, currency = parse_price(text)
    assert amount is None or (amount.is_finite() and amount >= 0)
    assert currency is None or currency in CURRENCY_CODES
    assert not (amount is None and currency is not None)


def test_valid_code():
    assert valid_code(" eur ") == "EUR"
    assert valid_code("XAU") is None  # a metal, not a currency a product is priced in
    assert valid_code(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("instock", "InStock"),
        ("in stock", "InStock"),
        ("In_Stock", "InStock"),
        ("http://schema.org/InStock", "InStock"),
        ("https://schema.org/InStock", "InStock"),
        ("schema:InStock", "InStock"),
        ("oos", "OutOfStock"),
        ("out of stock", "OutOfStock"),
        ("OutOfStock", "OutOfStock"),
        ("preorder", "PreOrder"),
        ("pre-order", "PreOrder"),
        ("backorder", "BackOrder"),
        ("discontinued", "Discontinued"),
        ("limited availability", "LimitedAvailability"),
        ("SoldOut", "SoldOut"),
        ("http://schema.org/InStoreOnly", "InStoreOnly"),
        ("online only", "OnlineOnly"),
    ],
)
def test_normalize_availability(value, expected):
    assert normalize_availability(value) == f"https://schema.org/{expected}"


@pytest.mark.parametrize("value", ["pending", "", "maybe", None, 3])
def test_unknown_availability_is_none(value):
    assert normalize_availability(value) is None
