"""TikTok Events API 2.0 (web events): `POST {TIKTOK_EVENTS_API_BASE}/open_api/v1.3/event/track/`
with the `Access-Token` header and
`{"event_source": "web", "event_source_id": <pixel code>, "data": [event]}`; each event has
`event` (`CompletePayment`), `event_time` (Unix seconds), `event_id` (the order's id, to
dedupe against the pixel), `user` (`email`, `phone`, `external_id`: SHA-256 of the normalised
value; the phone in E.164 **with** its `+`), `properties` (`currency`, `value`, `content_type`,
`contents`, `order_id`) and `page.url`. Raw IP addresses and user agents are not sent.

TikTok answers HTTP 200 with `{"code": 0, "message": "OK"}`; another `code` is a refusal
(`40100` is its rate limit: retried), HTTP 429 and 5xx are retried after `Retry-After`.
Refunds: the Events API has no refund event, so refunds are not sent.
"""

from django.conf import settings

from attribution.conversions import hashing
from attribution.conversions.base import Context, Refused, Unavailable, check_http, dumps, post

takes_refunds = False
PATH = "/open_api/v1.3/event/track/"
RATE_LIMIT_CODES = {40100, 51021}


def build(context: Context, *, pixel_id: str, test_event_code: str = "") -> dict:
    customer = context.customer
    user = {
        "email": hashing.hashed_email(customer.email),
        "phone": hashing.tiktok_phone(customer.phone, customer.country),
        "external_id": hashing.sha256(context.external_id) if context.external_id else "",
    }
    payload = {
        "event_source": "web",
        "event_source_id": pixel_id,
        "data": [
            {
                "event": "CompletePayment",
                "event_time": int(context.occurred_at.timestamp()),
                "event_id": context.event_id,
                "user": {k: v for k, v in user.items() if v},
                "properties": {
                    "currency": context.currency,
                    "value": str(context.value),
                    "content_type": "product",
                    "order_id": context.order_number,
                    "contents": [
                        {
                            "content_id": line.sku,
                            "content_name": line.title,
                            "quantity": line.quantity,
                            "price": str(line.unit_price),
                        }
                        for line in context.lines
                    ],
                },
                "page": {"url": context.url},
            }
        ],
    }
    if test_event_code:
        payload["test_event_code"] = test_event_code
    return payload


def has_identifiers(payload: dict) -> bool:
    return bool(payload["data"][0]["user"])


def scrub(payload: dict) -> dict:
    return payload  # nothing raw is ever in it


def send(destination, payload: dict) -> str:
    response = post(
        settings.TIKTOK_EVENTS_API_BASE + PATH,
        body=dumps(payload),
        headers={"Access-Token": destination.access_token},
        timeout=settings.CONVERSIONS_TIMEOUT,
    )
    check_http(response)
    try:
        answer = response.json()
    except ValueError:
        raise Refused(
            f"TikTok answered HTTP {response.status_code} without JSON.",
            status=response.status_code,
        ) from None
    code = answer.get("code") if isinstance(answer, dict) else None
    if response.status_code == 200 and code == 0:
        return f"TikTok accepted it (request {answer.get('request_id', '?')})."
    message = answer.get("message", "") if isinstance(answer, dict) else ""
    if code in RATE_LIMIT_CODES:
        raise Unavailable(f"TikTok rate limit ({code}: {message}).", status=response.status_code)
    raise Refused(f"TikTok refused it ({code}: {message}).", status=response.status_code)
