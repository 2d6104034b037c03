"""What every provider module shares: verification results, the normalised order shapes,
bounded JSON parsing, and money and time parsing that never guesses.

A provider module (`shopify.py`, `stripe.py`, `tiktok_shop.py`, `standard.py`) exposes:

- `verify(secrets, body, headers, *, channel, now) -> Verification`: the signature check on
  the raw bytes, constant time, against each of the channel's active secrets;
- `identify(payload, headers) -> Identity`: the delivery id (what deduplicates), Shopify's
  event id, and the topic;
- `parse(identity, payload, channel) -> list`: the events of the delivery in the normalised
  shapes below (`OrderData`, `RefundData`, `CancelData`, `CheckoutEnded`), or `Fetch` items
  for a provider whose webhook is only a hint (TikTok Shop), which `resolve` turns into
  shapes by calling the provider's API.

Nothing here touches the database.
"""

import base64
import binascii
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime

from core.money import is_currency, is_exact, minor_units


class BodyError(Exception):
    """The body cannot be used: not JSON, too deep, a field missing or malformed (HTTP 400)."""


class ProviderUnavailable(Exception):
    """The provider's API failed in a way worth retrying (5xx, timeout, 429)."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ProviderRefused(Exception):
    """The provider's API refused the request for good (bad credentials, unknown order)."""


@dataclass
class Verification:
    signature: str  # one of WebhookDelivery.Signature
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.signature == "valid"


@dataclass
class Identity:
    delivery_id: str
    topic: str
    event_id: str = ""


@dataclass
class LineData:
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal | None = None
    external_id: str = ""


@dataclass
class RefundLineData:
    line_external_id: str = ""
    sku: str = ""
    quantity: int = 0
    amount: Decimal = Decimal(0)


@dataclass
class RefundData:
    external_id: str
    order_external_id: str
    currency: str
    total: Decimal
    shipping: Decimal = Decimal(0)
    reason: str = ""
    refunded_at: datetime | None = None
    lines: list[RefundLineData] = field(default_factory=list)


@dataclass
class CancelData:
    order_external_id: str
    at: datetime | None = None
    reason: str = ""


@dataclass
class OrderData:
    """An order as a provider tells it. `None` means "this delivery does not say": the
    order keeps what it has (a Stripe payment_intent event knows the total, not the lines)."""

    external_id: str
    currency: str
    status: str | None = None  # pending, paid, fulfilled, cancelled
    name: str = ""
    subtotal: Decimal | None = None
    discounts: Decimal | None = None
    shipping: Decimal | None = None
    tax: Decimal | None = None
    total: Decimal | None = None
    discount_codes: list[str] | None = None
    landing_url: str | None = None
    referring_site: str | None = None
    click_id: str | None = None
    visitor_click_id: str | None = None
    customer_email: str | None = None
    country: str | None = None
    payment_fingerprint: str | None = None
    placed_at: datetime | None = None
    paid_at: datetime | None = None
    cancelled_at: datetime | None = None
    fulfilled_at: datetime | None = None
    delivered_at: datetime | None = None
    updated_at: datetime | None = None
    version: int | None = None
    lines: list[LineData] | None = None
    reservation_key: str = ""
    cancel_reason: str = ""
    refunds: list[RefundData] = field(default_factory=list)


@dataclass
class CheckoutEnded:
    """A checkout session ended unpaid: its reservation goes back to stock."""

    reservation_key: str
    reason: str


@dataclass
class Fetch:
    """The delivery is a hint: fetch `kind` ("order" or "returns") for `order_id` first."""

    kind: str
    order_id: str
    return_id: str = ""


@dataclass
class FulfilmentData:
    """A parcel the channel itself recorded (Shopify `fulfillments/create` / `update`)."""

    order_external_id: str
    external_id: str
    carrier: str
    tracking_number: str
    tracking_url: str = ""
    shipment_status: str = ""  # the carrier's news: in_transit, delivered, ...
    at: datetime | None = None
    lines: list[tuple[str, str, int]] = field(default_factory=list)  # (line id, sku, quantity)


@dataclass
class Ignored:
    reason: str


# ---------------------------------------------------------------------------------------
# JSON, bounded
# ---------------------------------------------------------------------------------------


def _no_constants(name):
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(body: bytes):
    """The body as JSON: numbers with a fraction become Decimal (never float); NaN and
    Infinity are refused; a body nested deeper than Python's recursion limit (5,000 arrays
    in a row) is a BodyError, not a crash."""
    if not body:
        raise BodyError("The body is empty; a JSON object was expected.")
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_no_constants)
    except RecursionError:
        raise BodyError("The body nests too deeply to be an order.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError(f"The body is not JSON ({exc.__class__.__name__}).") from None


def require_object(payload, what: str = "The body") -> dict:
    if not isinstance(payload, dict):
        raise BodyError(f"{what} must be a JSON object.")
    return payload


def text(value, *, limit: int = 255) -> str:
    """A string field (numbers as their text), cut to `limit`; anything else is empty."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | Decimal):
        value = str(value)
    return value[:limit] if isinstance(value, str) else ""


# ---------------------------------------------------------------------------------------
# Money and time
# ---------------------------------------------------------------------------------------


def currency_code(value, *, field_name: str = "currency") -> str:
    code = text(value, limit=8).upper()
    if not is_currency(code):
        raise BodyError(f"{field_name}: {value!r} is not an ISO 4217 currency.")
    return code


def money(value, currency: str, *, field_name: str) -> Decimal:
    """A decimal amount in `currency`, exact to its minor units (JPY none, KWD three)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise BodyError(f"{field_name}: amounts are strings or exact numbers, not {value!r}.")
    try:
        amount = Decimal(str(value).strip()) if value is not None else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise BodyError(f"{field_name}: {value!r} is not an amount.")
    if not is_exact(amount, currency):
        digits = minor_units(currency)
        raise BodyError(
            f"{field_name}: {currency} allows {digits} decimal place"
            f"{'' if digits == 1 else 's'}; {value} has more."
        )
    return amount


def minor_money(value, currency: str, *, field_name: str) -> Decimal:
    """An integer of minor units (Stripe's amounts) as a Decimal amount."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BodyError(f"{field_name}: {value!r} is not an integer amount in minor units.")
    return Decimal(value).scaleb(-minor_units(currency))


def epoch(value, *, field_name: str) -> datetime | None:
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BodyError(f"{field_name}: {value!r} is not a Unix time.")
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise BodyError(f"{field_name}: {value!r} is not a Unix time.") from None


def iso_time(value, *, field_name: str) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise BodyError(f"{field_name}: {value!r} is not an ISO 8601 time with its offset.")
    return parsed.astimezone(UTC)


def click_from_url(url: str, param: str) -> str:
    """The click id a landing URL carries (`?slclid=...`), or empty."""
    from urllib.parse import parse_qs, urlsplit

    try:
        return (parse_qs(urlsplit(url).query).get(param) or [""])[0][:100]
    except ValueError:
        return ""


def b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


# ---------------------------------------------------------------------------------------
# Shapes to and from JSON (events that wait for their order are stored as JSON)
# ---------------------------------------------------------------------------------------


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_json(shape) -> dict:
    return _plain(asdict(shape))


def _restore(cls, data: dict):
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        kind = str(f.type)
        if value is None:
            values[f.name] = None
        elif "Decimal" in kind:
            values[f.name] = Decimal(value)
        elif "datetime" in kind:
            values[f.name] = datetime.fromisoformat(value)
        elif f.name == "lines" and cls is RefundData:
            values[f.name] = [_restore(RefundLineData, v) for v in value]
        else:
            values[f.name] = value
    return cls(**values)


def refund_from_json(data: dict) -> RefundData:
    return _restore(RefundData, data)


def cancel_from_json(data: dict) -> CancelData:
    return _restore(CancelData, data)


def now_utc() -> datetime:
    return datetime.now(tz=UTC)
