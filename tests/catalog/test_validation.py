from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from catalog import services
from catalog.validators import gtin_check_digit, validate_gtin
from core.errors import ApplicationError
from core.money import format_money, minor_units
from tests.catalog.factories import ProductFactory

VALID_GTINS = [
    "96385074",  # GTIN-8
    "036000291452",  # UPC-A
    "4006381333931",  # EAN-13
    "10614141000415",  # GTIN-14
    "5901234123457",  # EAN-13 from the GS1 examples
]


@pytest.mark.parametrize("gtin", VALID_GTINS)
def test_valid_gtins_pass(gtin):
    validate_gtin(gtin)


@pytest.mark.parametrize(
    ("gtin", "code"),
    [
        ("4006381333932", "gtin_check_digit"),
        ("036000291453", "gtin_check_digit"),
        ("96385075", "gtin_check_digit"),
        ("400638133393", "gtin_check_digit"),  # 12 digits, wrong check digit for UPC-A
        ("1234567", "gtin_length"),
        ("123456789", "gtin_length"),
        ("400638133393X", "gtin_digits"),
        ("４００６３８１３３３９３１", "gtin_digits"),  # full-width digits are not ASCII
        ("", "gtin_digits"),
    ],
)
def test_invalid_gtins_are_refused_with_the_reason(gtin, code):
    with pytest.raises(ValidationError) as exc:
        validate_gtin(gtin)
    assert exc.value.code == code


def test_check_digit_message_names_the_expected_digit():
    with pytest.raises(ValidationError) as exc:
        validate_gtin("4006381333932")
    assert "should be 1" in exc.value.messages[0]


@given(
    st.text(alphabet="0123456789", min_size=7, max_size=13).filter(
        lambda s: len(s) in (7, 11, 12, 13)
    )
)
def test_any_body_with_its_check_digit_is_valid_and_any_other_digit_is_not(body):
    check = gtin_check_digit(body)
    validate_gtin(body + str(check))
    wrong = (check + 1) % 10
    with pytest.raises(ValidationError):
        validate_gtin(body + str(wrong))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("price", "currency"),
    [("19.99", "USD"), ("1999", "JPY"), ("12.500", "KWD"), ("0", "EUR"), ("7.1234", "CLF")],
)
def test_prices_within_the_currency_minor_units_are_accepted(price, currency):
    product = ProductFactory()
    variant = services.variant_create(
        product=product, sku=f"S-{currency}", price=Decimal(price), currency=currency
    )
    assert variant.price == Decimal(price)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("price", "currency", "message"),
    [
        ("1999.5", "JPY", "JPY allows 0 decimal places; 1999.5 has 1."),
        ("19.999", "USD", "USD allows 2 decimal places; 19.999 has 3."),
        ("-1.00", "EUR", "A price cannot be negative."),
    ],
)
def test_prices_beyond_the_currency_are_refused_and_nothing_is_saved(price, currency, message):
    product = ProductFactory()
    with pytest.raises(ApplicationError) as exc:
        services.variant_create(product=product, sku="S-1", price=Decimal(price), currency=currency)
    assert exc.value.fields["price"] == [message]
    assert product.variants.count() == 0


@pytest.mark.django_db
def test_unknown_currency_is_refused():
    product = ProductFactory()
    with pytest.raises(ApplicationError) as exc:
        services.variant_create(product=product, sku="S-1", price=Decimal("1"), currency="XAU")
    assert "currency" in exc.value.fields


@pytest.mark.django_db
def test_compare_at_price_must_be_above_price():
    product = ProductFactory()
    with pytest.raises(ApplicationError) as exc:
        services.variant_create(
            product=product, sku="S-1", price=Decimal("10"), currency="USD",
            compare_at_price=Decimal("9"),
        )  # fmt: skip
    assert "compare_at_price" in exc.value.fields


@pytest.mark.django_db
def test_duplicate_sku_and_gtin_are_refused():
    product = ProductFactory()
    services.variant_create(product=product, sku="DUP", price=Decimal("1"), currency="USD",
                            gtin="4006381333931")  # fmt: skip
    with pytest.raises(ApplicationError) as exc:
        services.variant_create(product=product, sku="DUP", price=Decimal("1"), currency="USD")
    assert "sku" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        services.variant_create(product=product, sku="OTHER", price=Decimal("1"),
                                currency="USD", gtin="4006381333931")  # fmt: skip
    assert "gtin" in exc.value.fields


@pytest.mark.django_db
def test_negative_stock_is_refused_by_the_database_too():
    from django.db import IntegrityError

    from tests.catalog.factories import VariantFactory

    variant = VariantFactory()
    variant.stock_on_hand = -1
    with pytest.raises(IntegrityError):
        variant.save()


def test_money_is_formatted_with_the_currency_minor_units():
    assert minor_units("JPY") == 0
    assert format_money(Decimal("1999"), "JPY") == "¥1,999"
    assert format_money(Decimal("1299"), "EUR") == "€1,299.00"
    assert format_money(Decimal("12.5"), "KWD") == "12.500 KWD"
