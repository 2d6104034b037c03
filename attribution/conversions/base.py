"""What the destination modules share: the event's context, errors, JSON with exact money."""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import requests

from attribution.customer import Customer


class Unavailable(Exception):  # noqa: N818 - "try again later", not a bug
    """A timeout, a 5xx or a rate limit: worth another try (after `retry_after`, if said)."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int = 0):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class Refused(Exception):  # noqa: N818 - a refusal for good
    """The destination refused the event for good (bad token, bad payload)."""

    def __init__(self, message: str, *, status: int = 0):
        super().__init__(message)
        self.status = status


@dataclass
class LineItem:
    sku: str
    title: str
    quantity: int
    unit_price: Decimal


@dataclass
class Context:
    event_id: str  # the order's id: the destination dedupes it against the browser pixel
    order_number: str
    occurred_at: datetime
    currency: str
    value: Decimal
    lines: list[LineItem]
    url: str
    customer: Customer
    external_id: str = ""  # the order's keyed customer hash
    extra: dict = field(default_factory=dict)


MONEY_KEYS = ("value", "price", "item_price")
_MONEY = re.compile(r'"(' + "|".join(MONEY_KEYS) + r')": ?"(-?\d+(?:\.\d+)?)"')


def dumps(payload: dict) -> bytes:
    """JSON whose money (kept as exact decimal text in the outbox) goes out as JSON numbers,
    written digit for digit (never through a float)."""
    return _MONEY.sub(r'"\1":\2', json.dumps(payload, separators=(",", ":"))).encode()


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def post(url: str, *, body: bytes, headers: dict, timeout: float) -> requests.Response:
    try:
        return requests.post(
            url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=timeout
        )
    except requests.RequestException as exc:
        raise Unavailable(f"Could not reach the destination ({exc.__class__.__name__}).") from None


def check_http(response: requests.Response) -> None:
    if response.status_code == 429:
        raise Unavailable("Rate limited (HTTP 429).", retry_after=retry_after(response), status=429)
    if response.status_code >= 500:
        raise Unavailable(
            f"The destination answered HTTP {response.status_code}.",
            retry_after=retry_after(response),
            status=response.status_code,
        )
