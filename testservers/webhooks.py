"""How each provider SIGNS and SENDS a webhook, written from the providers' documents and not
by calling Shoploop's verification code (tests, `demo_orders` and the test-mode gateway use it).

- Shopify ("Deliver webhooks through HTTPS"): `X-Shopify-Hmac-Sha256` = base64 of the
  HMAC-SHA256 of the body under the app's client secret; with `X-Shopify-Topic`,
  `X-Shopify-Shop-Domain`, `X-Shopify-Webhook-Id`, `X-Shopify-Event-Id`,
  `X-Shopify-Triggered-At`, `X-Shopify-API-Version`.
- Stripe ("Check the webhook signatures"): `Stripe-Signature: t=<time>,v1=<hex>` with the
  HMAC-SHA256 of `"<time>.<body>"` under the endpoint secret; one `v1` per secret.
- TikTok Shop (webhooks overview): `Authorization` = lowercase hex HMAC-SHA256 under the app
  secret of the app key followed by the body.
- Standard Webhooks (the specification): `webhook-id`, `webhook-timestamp`,
  `webhook-signature: v1,<base64>` of the HMAC-SHA256 of `"<id>.<timestamp>.<body>"`
  under the base64-decoded `whsec_` secret.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid

import requests


def body_of(payload) -> bytes:
    """A compact JSON body (bytes are sent as they are)."""
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


def shopify_headers(*, secret: str, body: bytes, topic: str, shop_domain: str = "",
                    webhook_id: str = "", event_id: str = "") -> dict:  # fmt: skip
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop_domain or "demo-shop.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "X-Shopify-API-Version": "2025-01",
    }


def stripe_headers(*, secrets: list[str] | str, body: bytes, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    secrets = [secrets] if isinstance(secrets, str) else secrets
    signed = str(timestamp).encode() + b"." + body
    parts = [f"t={timestamp}"] + [
        "v1=" + hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets
    ]
    return {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": ",".join(parts)}


def tiktok_shop_headers(*, app_key: str, app_secret: str, body: bytes) -> dict:
    signature = hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256)
    return {"Content-Type": "application/json", "Authorization": signature.hexdigest()}


def standard_headers(*, secret: str, body: bytes, msg_id: str = "",
                     timestamp: int | None = None) -> dict:  # fmt: skip
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def send(url: str, body: bytes, headers: dict, *, timeout: float = 10.0) -> requests.Response:
    """POST a signed delivery as the provider would."""
    return requests.post(url, data=body, headers=headers, timeout=timeout)


def stripe_event(event_type: str, obj: dict, *, event_id: str = "", created: int | None = None):
    """A Stripe event envelope around `obj`."""
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()) if created is None else created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
