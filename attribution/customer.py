"""The shopper's identifiers for conversions and fraud checks, read from the order's own
webhook deliveries at the moment they are needed and never stored raw.

Orders keep only a keyed hash of the email (`sales`); destinations want a plain SHA-256 of
the normalised email and phone, and Meta wants the IP address and user agent as they are.
So the job that builds a conversion (or checks the email's domain) reads the deliveries that
built the order, takes what each provider sends, and passes it on hashed
(`attribution/conversions/hashing.py`), keeping only what the destination needs:

- Shopify: `email` (or `contact_email`, `customer.email`); `phone` (or the customer's,
  billing or shipping phone); `browser_ip` and `client_details.user_agent`; consent from a
  note or cart attribute `ads_consent`;
- Stripe: `customer_details.email` / `phone` (or `billing_details`); consent from the
  metadata's `ads_consent`;
- Standard Webhooks: `email`, `phone`, `ip`, `user_agent`; consent from `ads_consent` or
  `consent.ads`;
- TikTok Shop: nothing (its webhooks are hints; the order fetched from its API is not kept).

Consent is granted by `true`, `yes`, `granted`, `1`; anything else, or nothing, is no consent.
"""

from dataclasses import dataclass

from sales.models import Provider, WebhookDelivery
from sales.providers.base import BodyError, parse_json

GRANTED = {"true", "yes", "granted", "1", "y", "on"}


@dataclass
class Customer:
    email: str = ""
    phone: str = ""
    ip: str = ""
    user_agent: str = ""
    consent: bool = False
    country: str = ""

    def merge(self, other: "Customer") -> None:
        for name in ("email", "phone", "ip", "user_agent", "country"):
            if not getattr(self, name) and getattr(other, name):
                setattr(self, name, getattr(other, name))
        self.consent = self.consent or other.consent


def _text(value) -> str:
    return value.strip()[:320] if isinstance(value, str) else ""


def _granted(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in GRANTED if value is not None else False


def _attribute(pairs, name: str):
    for pair in pairs or []:
        if isinstance(pair, dict) and (pair.get("name") or pair.get("key")) == name:
            return pair.get("value")
    return None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _shopify(payload: dict) -> Customer:
    customer = _dict(payload.get("customer"))
    billing, shipping = (
        _dict(payload.get("billing_address")),
        _dict(payload.get("shipping_address")),
    )
    client = _dict(payload.get("client_details"))
    consent = _attribute(payload.get("note_attributes"), "ads_consent")
    if consent is None:
        consent = _attribute(payload.get("attributes"), "ads_consent")
    return Customer(
        email=_text(payload.get("email") or payload.get("contact_email") or customer.get("email")),
        phone=_text(
            payload.get("phone")
            or customer.get("phone")
            or billing.get("phone")
            or shipping.get("phone")
        ),
        ip=_text(payload.get("browser_ip") or client.get("browser_ip")),
        user_agent=_text(client.get("user_agent")),
        consent=_granted(consent),
        country=_text(billing.get("country_code") or shipping.get("country_code")),
    )


def _stripe(payload: dict) -> Customer:
    obj = _dict(_dict(payload.get("data")).get("object"))
    details = _dict(obj.get("customer_details"))
    billing = _dict(obj.get("billing_details"))
    metadata = _dict(obj.get("metadata"))
    return Customer(
        email=_text(details.get("email") or billing.get("email") or obj.get("receipt_email")),
        phone=_text(details.get("phone") or billing.get("phone")),
        consent=_granted(metadata.get("ads_consent")),
        country=_text(_dict(details.get("address")).get("country")),
    )


def _standard(payload: dict) -> Customer:
    data = _dict(payload.get("data")) or payload
    consent = data.get("ads_consent")
    if consent is None:
        consent = _dict(data.get("consent")).get("ads")
    return Customer(
        email=_text(data.get("email")),
        phone=_text(data.get("phone")),
        ip=_text(data.get("ip")),
        user_agent=_text(data.get("user_agent")),
        consent=_granted(consent),
        country=_text(data.get("country")),
    )


READERS = {Provider.SHOPIFY: _shopify, Provider.STRIPE: _stripe, Provider.STANDARD: _standard}


def for_order(order_id: int) -> Customer:
    """What the order's accepted deliveries say about the shopper (newest first wins)."""
    found = Customer()
    deliveries = (
        WebhookDelivery.objects.filter(order_id=order_id, accepted=True)
        .order_by("-received_at", "-pk")
        .only("provider", "body")[:20]
    )
    for delivery in deliveries:
        reader = READERS.get(delivery.provider)
        if reader is None:
            continue
        try:
            payload = parse_json(bytes(delivery.body))
        except BodyError:
            continue
        if isinstance(payload, dict):
            found.merge(reader(payload))
    return found
