"""The settings a merchant gives each connection, and their rules.

Each platform lists its editable settings (`FIELDS`): the console builds its form from them
and `clean` checks values the same way for the console and the API. Settings learnt from the
platform (a TikTok shop's cipher, the Merchant Center data source) are stored beside them.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from core.errors import ApplicationError


@dataclass(frozen=True)
class SettingField:
    key: str
    label: str
    help: str = ""
    choices: tuple = ()
    default: str = ""
    pattern: str = ""
    pattern_rule: str = ""
    extra: dict = field(default_factory=dict)


CONDITIONS = (("new", "New"), ("refurbished", "Refurbished"), ("used", "Used"))

FIELDS: dict[str, tuple[SettingField, ...]] = {
    "shopify": (),
    "tiktok_shop": (
        SettingField(
            "default_category_id",
            "Default category id",
            "TikTok Shop's leaf category for products without their own (Seller Center › "
            "Products › categories).",
            pattern=r"^\d{1,20}$",
            pattern_rule="a TikTok Shop category id is digits only",
        ),
        SettingField(
            "warehouse_id",
            "Warehouse id",
            "Where stock is counted; empty: the shop's default sales warehouse.",
            pattern=r"^\d{1,30}$",
            pattern_rule="a warehouse id is digits only",
        ),
        SettingField(
            "package_weight_kg",
            "Package weight (kg)",
            "Sent as each product's package weight, which TikTok Shop requires.",
            default="",
        ),
    ),
    "meta": (SettingField("condition", "Condition", choices=CONDITIONS, default="new"),),
    "google": (
        SettingField(
            "language",
            "Content language",
            "Two letters, ISO 639-1 (en).",
            default="en",
            pattern=r"^[a-z]{2}$",
            pattern_rule="two lower-case letters (ISO 639-1)",
        ),
        SettingField(
            "feed_label",
            "Feed label",
            "Usually the target country (US).",
            default="US",
            pattern=r"^[A-Z0-9_-]{1,20}$",
            pattern_rule="up to 20 capital letters, digits, '-' or '_'",
        ),
        SettingField(
            "country",
            "Target country",
            "Two letters, ISO 3166-1 (US).",
            default="US",
            pattern=r"^[A-Z]{2}$",
            pattern_rule="two capital letters (ISO 3166-1)",
        ),
        SettingField("condition", "Condition", choices=CONDITIONS, default="new"),
        SettingField(
            "google_product_category",
            "Google product category",
            "Optional: Google's taxonomy id or path, e.g. 1604 (Apparel & Accessories > Clothing).",
        ),
    ),
}


def defaults(platform: str, learnt: dict | None = None) -> dict:
    values = {f.key: f.default for f in FIELDS.get(platform, ()) if f.default}
    return {**values, **(learnt or {})}


def clean(platform: str, values: dict) -> dict:
    """`platform`'s editable settings, checked; ApplicationError names each bad one."""
    cleaned, errors = {}, {}
    known = {f.key: f for f in FIELDS.get(platform, ())}
    for key in values:
        if key not in known:
            errors[key] = ["Not a setting of this platform."]
    for key, spec in known.items():
        if key not in values:
            continue
        value = str(values[key] if values[key] is not None else "").strip()
        if value and spec.choices and value not in {c for c, _ in spec.choices}:
            errors[key] = [f"Choose one of {', '.join(c for c, _ in spec.choices)}."]
        elif value and spec.pattern and not re.match(spec.pattern, value):
            errors[key] = [f"{spec.label}: {spec.pattern_rule}."]
        elif value and key == "package_weight_kg":
            try:
                weight = Decimal(value)
            except InvalidOperation:
                weight = Decimal(-1)
            if not weight.is_finite() or weight <= 0 or weight > 5000:
                errors[key] = ["A weight in kilograms above 0 and at most 5000, e.g. 0.45."]
        cleaned[key] = value
    if errors:
        raise ApplicationError(
            "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), fields=errors
        )
    return cleaned
