"""The APIs that pay creators: Stripe Connect transfers and PayPal Payouts.

Both are reached through configurable base URLs (`STRIPE_API_BASE`, `PAYPAL_API_BASE`), so
tests and the demo point them at `testservers/stripe.py` and `testservers/paypal.py`.

- **Stripe** (`POST /v1/transfers`, form-encoded, `Authorization: Bearer sk_…`,
  `Idempotency-Key`, `Stripe-Version`): `amount` in minor units, lowercase `currency`,
  `destination` (the creator's `acct_…`), `transfer_group` (the run), `metadata`. `GET
  /v1/transfers/{id}` reads one back (the status poll: `reversed` says it came back).
  Stripe's webhooks for it are `transfer.created`, `transfer.updated`, `transfer.reversed`,
  signed like every Stripe event (`Stripe-Signature`, `STRIPE_PAYOUTS_WEBHOOK_SECRET`).
- **PayPal** (OAuth 2.0 client credentials at `POST /v1/oauth2/token`, the token cached until
  shortly before it expires and fetched again on a 401): `POST /v1/payments/payouts` with a
  `sender_batch_header` (`sender_batch_id`: PayPal refuses a second batch with the same id
  for 30 days) and one item (`sender_item_id`), plus `PayPal-Request-Id` (the same request
  answered again); `GET /v1/payments/payouts/{batch_id}` and `GET
  /v1/payments/payouts-item/{item_id}` for the status; webhooks verified by `POST
  /v1/notifications/verify-webhook-signature` with `PAYPAL_WEBHOOK_ID`.

Failures: a network error, a timeout, a 429 or a 5xx raise `ProviderUnavailable` (worth
retrying with the same idempotency key, after `Retry-After` when given); any other refusal
raises `ProviderRefused` with the provider's own message. Nothing here touches the database.
"""

import base64
import json
import threading
import time
from decimal import Decimal

import requests
from django.conf import settings

from core.money import from_minor, minor_units
from sales.providers.base import ProviderRefused, ProviderUnavailable
from sales.providers.stripe import form_encode


def _retry_after(response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _unavailable(name: str, response) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"{name} answered {response.status_code}.", retry_after=_retry_after(response)
    )


# -- Stripe Connect ------------------------------------------------------------------------


def _stripe(method: str, path: str, *, data=None, idempotency_key: str = "") -> dict:
    if not settings.STRIPE_PAYOUTS_API_KEY:
        raise ProviderRefused("STRIPE_PAYOUTS_API_KEY is not set: Stripe payouts are off.")
    headers = {
        "Authorization": f"Bearer {settings.STRIPE_PAYOUTS_API_KEY}",
        "Stripe-Version": settings.STRIPE_API_VERSION,
    }
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    try:
        response = requests.request(
            method, f"{settings.STRIPE_API_BASE}{path}", data=form_encode(data) if data else None,
            headers=headers, timeout=settings.STRIPE_API_TIMEOUT,
        )  # fmt: skip
    except requests.RequestException as exc:
        raise ProviderUnavailable(
            f"Stripe could not be reached ({exc.__class__.__name__})."
        ) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise _unavailable("Stripe", response)
    try:
        body = response.json()
    except ValueError:
        raise ProviderUnavailable(f"Stripe answered {response.status_code} without JSON.") from None
    if response.status_code != 200:
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = f" ({error['code']})" if error.get("code") else ""
        raise ProviderRefused(
            f"Stripe refused it{code}: {error.get('message') or response.status_code}"
        )
    if not isinstance(body, dict):
        raise ProviderUnavailable("Stripe answered something other than an object.")
    return body


def stripe_transfer_create(
    *, amount: int, currency: str, destination: str, transfer_group: str, metadata: dict,
    idempotency_key: str, description: str = "",
) -> dict:  # fmt: skip
    """`POST /v1/transfers`; the transfer (`id` tr_…). Safe to repeat with the same key."""
    transfer = _stripe(
        "POST", "/v1/transfers", idempotency_key=idempotency_key,
        data={"amount": amount, "currency": currency.lower(), "destination": destination,
              "transfer_group": transfer_group, "description": description or None,
              "metadata": metadata},
    )  # fmt: skip
    if not str(transfer.get("id", "")).startswith("tr_"):
        raise ProviderUnavailable("Stripe answered without a transfer id.")
    return transfer


def stripe_transfer_get(transfer_id: str) -> dict:
    return _stripe("GET", f"/v1/transfers/{transfer_id}")


# -- PayPal --------------------------------------------------------------------------------

_token_lock = threading.Lock()
_token: dict = {}


def _paypal_token(*, fresh: bool = False) -> str:
    if not (settings.PAYPAL_CLIENT_ID and settings.PAYPAL_CLIENT_SECRET):
        raise ProviderRefused("PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are not set: PayPal "
                              "payouts are off.")  # fmt: skip
    cache_key = (settings.PAYPAL_API_BASE, settings.PAYPAL_CLIENT_ID)
    with _token_lock:
        cached = _token.get(cache_key)
        if cached and not fresh and cached[1] > time.monotonic():
            return cached[0]
        basic = base64.b64encode(
            f"{settings.PAYPAL_CLIENT_ID}:{settings.PAYPAL_CLIENT_SECRET}".encode()
        ).decode()
        try:
            response = requests.post(
                f"{settings.PAYPAL_API_BASE}/v1/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
                timeout=settings.PAYPAL_API_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(
                f"PayPal could not be reached ({exc.__class__.__name__})."
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _unavailable("PayPal", response)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not body.get("access_token"):
            raise ProviderRefused(
                f"PayPal refused the client credentials ({response.status_code}): "
                f"{body.get('error_description') or body.get('error') or ''}".strip()
            )
        lifetime = max(60, int(body.get("expires_in") or 3600) - 60)
        _token[cache_key] = (body["access_token"], time.monotonic() + lifetime)
        return body["access_token"]


def _paypal_error(body) -> str:
    if not isinstance(body, dict):
        return ""
    details = body.get("details") if isinstance(body.get("details"), list) else []
    parts = [f"{d.get('field', '')}: {d.get('issue', '')}".strip(": ")
             for d in details if isinstance(d, dict)]  # fmt: skip
    message = body.get("message") or body.get("error_description") or ""
    name = body.get("name") or body.get("error") or ""
    return " ".join(p for p in [f"{name}:" if name else "", message, "; ".join(parts)] if p)


def _paypal(method: str, path: str, *, payload=None, request_id: str = "", raw: bytes = b""):
    """One call with the cached token (fetched again once on a 401). Returns (status, body)."""
    for attempt in (1, 2):
        headers = {
            "Authorization": f"Bearer {_paypal_token(fresh=attempt == 2)}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if request_id:
            headers["PayPal-Request-Id"] = request_id
        data = raw or (json.dumps(payload).encode() if payload is not None else None)
        try:
            response = requests.request(method, f"{settings.PAYPAL_API_BASE}{path}", data=data,
                                        headers=headers,
                                        timeout=settings.PAYPAL_API_TIMEOUT)  # fmt: skip
        except requests.RequestException as exc:
            raise ProviderUnavailable(
                f"PayPal could not be reached ({exc.__class__.__name__})."
            ) from None
        if response.status_code == 401 and attempt == 1:
            continue  # the token expired early: once more with a new one
        if response.status_code == 429 or response.status_code >= 500:
            raise _unavailable("PayPal", response)
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body
    raise ProviderRefused("PayPal refused the access token twice.")


def paypal_amount(amount: int, currency: str) -> str:
    """PayPal's amount string: the currency's own decimals ("9.87", "1999", "12.345")."""
    value = from_minor(amount, currency)
    return f"{value:.{minor_units(currency)}f}"


def paypal_payout_create(
    *, sender_batch_id: str, receiver: str, recipient_type: str, amount: int, currency: str,
    note: str, email_subject: str = "You have a payout",
) -> dict:  # fmt: skip
    """`POST /v1/payments/payouts` with one item; the batch header (`payout_batch_id`).
    A batch PayPal already has (same `sender_batch_id`) is found again, not paid twice."""
    payload = {
        "sender_batch_header": {"sender_batch_id": sender_batch_id,
                                "email_subject": email_subject},
        "items": [{
            "recipient_type": recipient_type,
            "amount": {"value": paypal_amount(amount, currency), "currency": currency},
            "receiver": receiver, "note": note, "sender_item_id": sender_batch_id,
        }],
    }  # fmt: skip
    status, body = _paypal("POST", "/v1/payments/payouts", payload=payload,
                           request_id=sender_batch_id)  # fmt: skip
    if status in (200, 201) and isinstance(body, dict):
        header = body.get("batch_header") or {}
        if header.get("payout_batch_id"):
            return header
        raise ProviderUnavailable("PayPal answered without a payout batch id.")
    if isinstance(body, dict) and body.get("name") == "USER_BUSINESS_ERROR":
        for link in body.get("links") or []:  # the batch sent before, under the same id
            href = str(link.get("href", "")) if isinstance(link, dict) else ""
            if "/v1/payments/payouts/" in href:
                batch_id = href.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
                return {"payout_batch_id": batch_id, "batch_status": "DUPLICATE"}
    raise ProviderRefused(f"PayPal refused the payout ({status}): {_paypal_error(body)}")


def paypal_payout_batch(batch_id: str) -> dict:
    status, body = _paypal("GET", f"/v1/payments/payouts/{batch_id}")
    if status != 200 or not isinstance(body, dict):
        raise ProviderRefused(f"PayPal could not show batch {batch_id} ({status}): "
                              f"{_paypal_error(body)}")  # fmt: skip
    return body


def paypal_payout_item(item_id: str) -> dict:
    status, body = _paypal("GET", f"/v1/payments/payouts-item/{item_id}")
    if status != 200 or not isinstance(body, dict):
        raise ProviderRefused(f"PayPal could not show item {item_id} ({status}): "
                              f"{_paypal_error(body)}")  # fmt: skip
    return body


PAYPAL_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}


def paypal_verify_webhook(headers: dict, body: bytes) -> bool:
    """PayPal's verify-webhook-signature API with the event's own bytes (re-serialising
    the JSON would change what PayPal signed)."""
    if not settings.PAYPAL_WEBHOOK_ID:
        return False
    lowered = {k.lower(): v for k, v in headers.items()}
    fields = {name: lowered.get(header, "") for name, header in PAYPAL_HEADERS.items()}
    if not all(fields.values()):
        return False
    head = json.dumps({**fields, "webhook_id": settings.PAYPAL_WEBHOOK_ID})
    raw = head[:-1].encode() + b', "webhook_event": ' + body + b"}"
    status, answer = _paypal("POST", "/v1/notifications/verify-webhook-signature", raw=raw)
    return (
        status == 200
        and isinstance(answer, dict)
        and (answer.get("verification_status") == "SUCCESS")
    )


def paypal_value(value, currency: str) -> int:
    """A PayPal amount string back to minor units (refusing more digits than allowed)."""
    amount = Decimal(str(value))
    return int(amount.scaleb(minor_units(currency)))


# -- Stripe balance transactions (reconciliation through the API) ---------------------------


def stripe_balance_transactions(
    *, api_key: str, created_gte: int, created_lt: int, page_size: int = 100,
    max_pages: int = 200,
) -> list[dict]:  # fmt: skip
    """`GET /v1/balance_transactions` between two times (epoch seconds), every page
    (`starting_after`, `has_more`), each with its `source` expanded (the charge's or refund's
    payment intent says which order it is). With the channel's own secret key."""
    found: list[dict] = []
    after = ""
    for _ in range(max_pages):
        params = [("limit", str(page_size)), ("created[gte]", str(created_gte)),
                  ("created[lt]", str(created_lt)), ("expand[]", "data.source")]  # fmt: skip
        if after:
            params.append(("starting_after", after))
        try:
            response = requests.get(
                f"{settings.STRIPE_API_BASE}/v1/balance_transactions", params=params,
                headers={"Authorization": f"Bearer {api_key}",
                         "Stripe-Version": settings.STRIPE_API_VERSION},
                timeout=settings.STRIPE_API_TIMEOUT,
            )  # fmt: skip
        except requests.RequestException as exc:
            raise ProviderUnavailable(
                f"Stripe could not be reached ({exc.__class__.__name__})."
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _unavailable("Stripe", response)
        try:
            body = response.json()
        except ValueError:
            raise ProviderUnavailable("Stripe answered without JSON.") from None
        if response.status_code != 200:
            error = (body.get("error") or {}) if isinstance(body, dict) else {}
            raise ProviderRefused(f"Stripe refused the listing: {error.get('message', '')}")
        page = [t for t in body.get("data") or [] if isinstance(t, dict)]
        found.extend(page)
        if not body.get("has_more") or not page:
            return found
        after = page[-1]["id"]
    raise ProviderRefused(f"More than {max_pages * page_size} balance transactions: ask for a "
                          "shorter period.")  # fmt: skip
