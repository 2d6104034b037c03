"""TikTok Shop: webhook signatures, and the order and returns API it re-fetches from.

- Webhook signature: `Authorization` is the lowercase hex HMAC-SHA256, under the app
  secret, of the app key followed by the raw body (TikTok Shop's webhooks overview, with its
  worked example). Nothing time-bound is signed, so a replay is stopped only by
  `tts_notification_id`, which deduplicates.
- A webhook is a hint. For `type` 1 (order status change) and 11 (cancellation) the job
  fetches the order (`GET /order/202309/orders?ids=`); for 12 (return status change) it
  fetches the returns (`POST /return_refund/202309/returns/search`). Amounts come from those
  answers, never from the webhook.
- API requests are signed as TikTok Shop documents ("Sign your API request"): the query
  parameters but `sign` and `access_token`, sorted by key, concatenated as `{key}{value}`
  after the path, then the body (unless multipart), wrapped in the app secret on both sides,
  HMAC-SHA256 under the app secret, hex. The access token travels in `x-tts-access-token`.
- Credentials come from `sales.credentials`: the shop's TikTok Shop connection when the
  integrations app has one (a token refreshed under the connection's lock), else the
  channel's own app key, secret, access token and shop cipher.
- Out of order: the order's `update_time` decides.
- Orders are sold on TikTok Shop: stock is committed directly (oversold when short here).
"""

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import requests
from django.conf import settings

from sales import credentials
from sales.providers.base import (
    BodyError,
    Fetch,
    Identity,
    Ignored,
    LineData,
    OrderData,
    ProviderRefused,
    ProviderUnavailable,
    RefundData,
    RefundLineData,
    Verification,
    currency_code,
    epoch,
    money,
    require_object,
    text,
)

ORDER_PATH = "/order/202309/orders"
RETURNS_PATH = "/return_refund/202309/returns/search"
ORDER_TYPES = {1, 11}  # ORDER_STATUS_CHANGE, CANCELLATION_STATUS_CHANGE
RETURN_TYPES = {12}  # RETURN_STATUS_CHANGE
REFUNDED_RETURN_STATUSES = {"RETURN_OR_REFUND_REQUEST_COMPLETE", "REFUND_COMPLETED"}
STATUS = {
    "UNPAID": "pending",
    "ON_HOLD": "paid",
    "AWAITING_SHIPMENT": "paid",
    "PARTIALLY_SHIPPING": "paid",
    "AWAITING_COLLECTION": "fulfilled",
    "IN_TRANSIT": "fulfilled",
    "DELIVERED": "fulfilled",
    "COMPLETED": "fulfilled",
    "CANCELLED": "cancelled",
}


def webhook_signature(app_key: str, app_secret: str, body: bytes) -> str:
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def verify(secrets: list[str], body: bytes, headers: dict, *, channel=None, now=None):
    given = headers.get("authorization", "").strip()
    if not given:
        return Verification("missing", "No Authorization header.")
    if len(given) != 64 or any(c not in "0123456789abcdef" for c in given):
        return Verification("malformed", "Authorization is not a lowercase hex HMAC-SHA256.")
    app_key = channel.app_key if channel is not None else ""
    if not app_key:
        return Verification("no_secret", "The channel has no TikTok Shop app key.")
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(webhook_signature(app_key, secret, body), given)
    if not matched:
        return Verification("invalid", "Authorization matches no app secret of the channel.")
    return Verification("valid")


def identify(payload, headers: dict) -> Identity:
    payload = require_object(payload)
    notification = text(payload.get("tts_notification_id"))
    kind = payload.get("type")
    if not notification or not isinstance(kind, int) or isinstance(kind, bool):
        raise BodyError("A TikTok Shop notification has a tts_notification_id and a type.")
    return Identity(delivery_id=notification, topic=f"type:{kind}")


def parse(identity: Identity, payload, channel) -> list:
    payload = require_object(payload)
    if channel.shop_id and text(payload.get("shop_id")) != channel.shop_id:
        raise BodyError(f"shop_id {text(payload.get('shop_id'))!r} is not this channel's shop.")
    data = require_object(payload.get("data"), "data")
    kind = payload["type"]
    order_id = text(data.get("order_id"))
    if kind in ORDER_TYPES:
        if not order_id:
            raise BodyError("data.order_id: missing.")
        return [Fetch("order", order_id)]
    if kind in RETURN_TYPES:
        if not order_id:
            raise BodyError("data.order_id: missing.")
        status = text(data.get("return_status"))
        if status and status not in REFUNDED_RETURN_STATUSES:
            return [Ignored(f"Return {text(data.get('return_id'))} is {status}, not refunded.")]
        return [Fetch("returns", order_id, text(data.get("return_id")))]
    return [Ignored(f"Notification type {kind} carries no order.")]


# ---------------------------------------------------------------------------------------
# Signed API requests
# ---------------------------------------------------------------------------------------


def sign_request(app_secret: str, path: str, params: dict, body: bytes = b"",
                 content_type: str = "application/json") -> str:  # fmt: skip
    """TikTok Shop's request signature (see the module docstring)."""
    keys = sorted(k for k in params if k not in ("sign", "access_token"))
    base = path + "".join(f"{k}{params[k]}" for k in keys)
    if not content_type.startswith("multipart/form-data"):
        base += body.decode() if isinstance(body, bytes) else body
    wrapped = f"{app_secret}{base}{app_secret}"
    return hmac.new(app_secret.encode(), wrapped.encode(), hashlib.sha256).hexdigest()


# Codes TikTok Shop answers when the access token is invalid, expired or revoked.
TOKEN_REFUSED = {105001, 105002, 105005}


class _TokenRefused(ProviderRefused):
    pass


def _call(channel, method: str, path: str, query: dict, body: dict | None = None) -> dict:
    """A signed call with the channel's credentials (`sales.credentials`: the TikTok Shop
    connection's token when integrations has one for the shop, else the channel's own). A
    token the API refuses is replaced once by a fresh one, where it can be refreshed."""
    creds = credentials.for_channel(channel)
    try:
        return _send(creds, method, path, query, body)
    except _TokenRefused:
        if not creds.refreshable:
            raise
        fresh = credentials.for_channel(channel, refused=creds)
        return _send(fresh, method, path, query, body)


def _send(creds, method: str, path: str, query: dict, body: dict | None) -> dict:
    if not (creds.app_key and creds.app_secret and creds.access_token):
        raise ProviderRefused("The channel needs its app key, app secret and access token.")
    params = {
        "app_key": creds.app_key,
        "timestamp": str(int(time.time())),
        **({"shop_cipher": creds.shop_cipher} if creds.shop_cipher else {}),
        **query,
    }
    raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
    params["sign"] = sign_request(creds.app_secret, path, params, raw)
    try:
        response = requests.request(
            method,
            f"{settings.TIKTOK_SHOP_API_BASE}{path}?{urlencode(params)}",
            data=raw or None,
            headers={"x-tts-access-token": creds.access_token,
                     "content-type": "application/json"},
            timeout=settings.TIKTOK_SHOP_API_TIMEOUT,
        )  # fmt: skip
    except requests.RequestException as exc:
        raise ProviderUnavailable(
            f"TikTok Shop could not be reached ({exc.__class__.__name__})."
        ) from None
    if response.status_code == 429:
        retry = response.headers.get("Retry-After", "")
        raise ProviderUnavailable(
            "TikTok Shop is rate limiting.", retry_after=float(retry) if retry.isdigit() else None
        )
    if response.status_code >= 500:
        raise ProviderUnavailable(f"TikTok Shop answered {response.status_code}.")
    try:
        answer = response.json()
    except ValueError:
        raise ProviderUnavailable(
            f"TikTok Shop answered {response.status_code} without JSON."
        ) from None
    if not isinstance(answer, dict) or answer.get("code") != 0:
        code = answer.get("code") if isinstance(answer, dict) else None
        message = answer.get("message") if isinstance(answer, dict) else ""
        refused = _TokenRefused if code in TOKEN_REFUSED else ProviderRefused
        source = "" if creds.source == "channel" else f" the token of {creds.source}:"
        raise refused(f"TikTok Shop refused{source} ({response.status_code}, {code}): {message}")
    return answer.get("data") or {}


def fetch(channel, item: Fetch) -> list:
    """Turn a hint into normalised shapes by asking TikTok Shop (outside any transaction)."""
    if item.kind == "order":
        data = _call(channel, "GET", ORDER_PATH, {"ids": item.order_id})
        orders = [o for o in data.get("orders") or [] if isinstance(o, dict)]
        match = next((o for o in orders if text(o.get("id")) == item.order_id), None)
        if match is None:
            raise ProviderRefused(f"TikTok Shop has no order {item.order_id}.")
        return [parse_order(match)]
    data = _call(channel, "POST", RETURNS_PATH, {}, {"order_ids": [item.order_id]})
    refunds = []
    for ret in data.get("return_orders") or []:
        if not isinstance(ret, dict) or text(ret.get("return_status")) not in (
            REFUNDED_RETURN_STATUSES
        ):
            continue
        if item.return_id and text(ret.get("return_id")) != item.return_id:
            continue
        refunds.append(parse_return(ret))
    return refunds or [Ignored(f"No completed refund for order {item.order_id} yet.")]


def parse_order(order: dict) -> OrderData:
    payment = require_object(order.get("payment"), "payment")
    currency = currency_code(payment.get("currency"), field_name="payment.currency")

    def amount(key, value=None, default="0"):
        value = payment.get(key, default) if value is None else value
        return money(value, currency, field_name=key)

    grouped: dict[tuple, LineData] = {}
    for item in order.get("line_items") or []:  # TikTok lists one line item per unit
        if not isinstance(item, dict):
            continue
        sku = text(item.get("seller_sku"))
        key = (sku, text(item.get("sku_id")))
        unit = amount("line_items.original_price", item.get("original_price") or "0")
        discount = amount("line_items.seller_discount", item.get("seller_discount") or "0") + (
            amount("line_items.platform_discount", item.get("platform_discount") or "0")
        )
        sale = amount("line_items.sale_price", item.get("sale_price") or "0")
        line = grouped.get(key)
        if line is None:
            title = text(item.get("product_name"))
            if item.get("sku_name"):
                title = f"{title} – {text(item.get('sku_name'))}"[:255]
            grouped[key] = LineData(
                external_id=text(item.get("id")), sku=sku, title=title, quantity=1,
                unit_price=unit, discount=discount, total=sale,
            )  # fmt: skip
        else:
            line.quantity += 1
            line.discount += discount
            line.total += sale
    status = STATUS.get(text(order.get("status")), "pending")
    updated = epoch(order.get("update_time"), field_name="update_time")
    address = order.get("recipient_address") or {}
    discounts = amount("seller_discount") + amount("platform_discount")
    return OrderData(
        external_id=text(order.get("id")),
        currency=currency,
        status=status,
        subtotal=amount("original_total_product_price", default=payment.get("sub_total", "0")),
        discounts=discounts,
        shipping=amount("shipping_fee"),
        tax=amount("tax"),
        total=amount("total_amount", default=None),
        customer_email=text(order.get("buyer_email"), limit=320) or None,
        country=text(address.get("region_code") if isinstance(address, dict) else "", limit=2),
        placed_at=epoch(order.get("create_time"), field_name="create_time"),
        paid_at=epoch(order.get("paid_time"), field_name="paid_time"),
        cancelled_at=updated if status == "cancelled" else None,
        fulfilled_at=epoch(order.get("rts_time"), field_name="rts_time")
        or (updated if status == "fulfilled" else None),
        delivered_at=epoch(order.get("delivery_time"), field_name="delivery_time"),
        updated_at=updated,
        lines=list(grouped.values()),
        cancel_reason=text(order.get("cancel_reason"), limit=500),
    )


def parse_return(ret: dict) -> RefundData:
    refund = require_object(ret.get("refund_amount"), "refund_amount")
    currency = currency_code(refund.get("currency"), field_name="refund_amount.currency")
    lines = []
    for item in ret.get("return_line_items") or []:
        if not isinstance(item, dict):
            continue
        line_refund = item.get("refund_amount") or {}
        lines.append(
            RefundLineData(
                line_external_id=text(item.get("order_line_item_id")),
                sku=text(item.get("seller_sku")),
                quantity=1,
                amount=money(
                    line_refund.get("refund_total", "0"),
                    currency,
                    field_name="return_line_items.refund_amount",
                ),
            )  # fmt: skip
        )
    return RefundData(
        external_id=text(ret.get("return_id")),
        order_external_id=text(ret.get("order_id")),
        currency=currency,
        total=money(refund.get("refund_total"), currency, field_name="refund_total"),
        shipping=money(refund.get("refund_shipping_fee", "0"), currency,
                       field_name="refund_shipping_fee"),
        reason=text(ret.get("return_reason_text") or ret.get("return_reason"), limit=500),
        refunded_at=epoch(ret.get("update_time"), field_name="update_time"),
        lines=lines,
    )  # fmt: skip
