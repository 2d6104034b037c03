"""Meta Conversions API: `POST {META_CAPI_BASE}/{META_CAPI_VERSION}/{pixel id}/events` with
`{"data": [event], "access_token": ...}` (the token in the body, never in a URL that logs
keep). Each event has `event_name` (`Purchase`), `event_time`, `event_id` (the order's id, to
dedupe against the pixel), `action_source` `website`, `event_source_url`, `user_data`
(`em`, `ph`, `external_id`: arrays of SHA-256 of the normalised value, the phone as digits
only, no `+`; `client_ip_address` and `client_user_agent` unhashed, as Meta requires, and only
when the shopper consented) and `custom_data` (`currency`, `value`, `contents`, `order_id`).

Meta answers `{"events_received": 1, "fbtrace_id": ...}`; errors come as
`{"error": {"message", "type", "code", "fbtrace_id"}}`: codes 4, 17, 32, 613 and 80004 are
rate limits (retried), HTTP 429 and 5xx too (after `Retry-After`); anything else is a refusal.
Refunds: Meta has no refund event for the Conversions API, so refunds are not sent.
"""

from django.conf import settings

from attribution.conversions import hashing
from attribution.conversions.base import Context, Refused, Unavailable, check_http, dumps, post

takes_refunds = False
RATE_LIMIT_CODES = {4, 17, 32, 613, 80004}
RAW_FIELDS = ("client_ip_address", "client_user_agent")


def build(context: Context, *, pixel_id: str, test_event_code: str = "") -> dict:
    customer = context.customer
    user = {
        "em": [hashing.hashed_email(customer.email)],
        "ph": [hashing.meta_phone(customer.phone, customer.country)],
        "external_id": [hashing.sha256(context.external_id)] if context.external_id else [],
    }
    user = {k: v for k, v in user.items() if v and v[0]}
    if customer.consent:
        if customer.ip:
            user["client_ip_address"] = customer.ip
        if customer.user_agent:
            user["client_user_agent"] = customer.user_agent
    payload = {
        "data": [
            {
                "event_name": "Purchase",
                "event_time": int(context.occurred_at.timestamp()),
                "event_id": context.event_id,
                "action_source": "website",
                "event_source_url": context.url,
                "user_data": user,
                "custom_data": {
                    "currency": context.currency.lower(),
                    "value": str(context.value),
                    "order_id": context.order_number,
                    "content_type": "product",
                    "contents": [
                        {
                            "id": line.sku,
                            "quantity": line.quantity,
                            "item_price": str(line.unit_price),
                        }
                        for line in context.lines
                    ],
                },
            }
        ]
    }
    if test_event_code:
        payload["test_event_code"] = test_event_code
    return payload


def has_identifiers(payload: dict) -> bool:
    return bool(payload["data"][0]["user_data"])


def scrub(payload: dict) -> dict:
    """Once sent, the raw IP and user agent are dropped from the stored copy."""
    for event in payload.get("data", []):
        for name in RAW_FIELDS:
            event.get("user_data", {}).pop(name, None)
    return payload


def send(destination, payload: dict) -> str:
    url = f"{settings.META_CAPI_BASE}/{settings.META_CAPI_VERSION}/{destination.pixel_id}/events"
    response = post(
        url,
        body=dumps({**payload, "access_token": destination.access_token}),
        headers={},
        timeout=settings.CONVERSIONS_TIMEOUT,
    )
    check_http(response)
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code == 200 and isinstance(answer, dict) and "events_received" in answer:
        return f"Meta received {answer['events_received']} (trace {answer.get('fbtrace_id', '?')})."
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message", "") if isinstance(error, dict) else ""
    if code in RATE_LIMIT_CODES:
        raise Unavailable(f"Meta rate limit ({code}: {message}).", status=response.status_code)
    raise Refused(
        f"Meta refused it (HTTP {response.status_code}, {code}: {message}).",
        status=response.status_code,
    )
