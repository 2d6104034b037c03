"""A carrier tracking API in AfterShip's shape (Tracking API 2024-10; issue 19): create a
tracking for a parcel once, then read its `tag`. The base URL is CARRIER_TRACKING_API_BASE,
the key CARRIER_TRACKING_API_KEY (header `as-api-key`); calls go through `PlatformSession`
(platform "aftership": its rate limit, 429 pauses and retries)."""

import json

import requests
from django.conf import settings

from integrations.http import AuthError, PlatformError, is_transient_status
from integrations.http import retry_after as retry_after_of

ALREADY_EXISTS = 4003


def _meta(response) -> dict:
    try:
        return (response.json() or {}).get("meta") or {}
    except ValueError:
        return {}


def classify(response: requests.Response) -> PlatformError | None:
    status = response.status_code
    meta = _meta(response)
    message = meta.get("message") or f"HTTP {status}"
    if status == 429:
        return PlatformError(
            "The tracking API throttled the request.",
            status=429,
            throttled=True,
            retry_after=retry_after_of(response) or 1.0,
        )
    if status == 401:
        return AuthError(f"The tracking API refused the key: {message}", status=401)
    if is_transient_status(status):
        return PlatformError(
            f"The tracking API answered HTTP {status}.", status=status, transient=True
        )
    if status >= 400 and meta.get("code") != ALREADY_EXISTS:
        return PlatformError(
            f"The tracking API: {message} (code {meta.get('code')})",
            status=status,
            code=str(meta.get("code", "")),
        )
    return None


def _headers() -> dict:
    return {"as-api-key": settings.CARRIER_TRACKING_API_KEY, "Content-Type": "application/json"}


def create_tracking(session, *, tracking_number: str, slug: str, order_id: str) -> None:
    """Create the tracking; one that already exists is fine (meta code 4003)."""
    session.request(
        "POST",
        f"{settings.CARRIER_TRACKING_API_BASE}/trackings",
        headers=_headers(),
        data=json.dumps({"tracking_number": tracking_number, "slug": slug, "order_id": order_id}),
        classify=classify,
    )


def get_tracking(session, *, tracking_number: str, slug: str) -> dict | None:
    response = session.request(
        "GET",
        f"{settings.CARRIER_TRACKING_API_BASE}/trackings",
        headers=_headers(),
        params={"tracking_numbers": tracking_number, "slug": slug},
        classify=classify,
    )
    found = (response.json().get("data") or {}).get("trackings") or []
    return next((t for t in found if t.get("tracking_number") == tracking_number), None)
