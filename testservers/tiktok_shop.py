"""TikTok Shop's Partner API, as documented, for the parts Shoploop calls.

Handlers are grouped by API (orders, returns; OAuth and products come with the
platform-connections issue) and every request passes one check first, `check_request`:

- the request signature ("Sign your API request": query parameters but `sign` and
  `access_token` sorted as `{key}{value}` after the path, then the body unless multipart,
  wrapped in the app secret, HMAC-SHA256 under it, hex) -> 106001 "signature is invalid";
- `timestamp` within [now - 5 min, now + 30 s] -> 106001;
- the app key -> 106001; the `x-tts-access-token` header -> 105001 (missing or unknown) or
  105002 (expired);
- `shop_cipher` on shop APIs -> 106013;
- a rate limit per app key -> HTTP 429 with `Retry-After`.

Answers have TikTok's shape: `{"code": 0, "message": "Success", "request_id": ..., "data":
{...}}`, errors the same with a non-zero code. Tests add orders and returns with `add_order`
and `add_return`, and send notifications with `notify`.
"""

import hashlib
import hmac
import json
import secrets
import time
from decimal import Decimal

from testservers import webhooks
from testservers.base import HTTPError, PlatformServer, RateLimiter, Response, route


class Server(PlatformServer):
    name = "tiktok_shop"

    # The test server's own test credentials (the demo and tests pass the channel's).
    DEFAULTS = {"app_key": "tts_app_key", "app_secret": "tts_app_secret",
                "access_token": "TTP_test_access_token"}  # fmt: skip

    def __init__(self, *, app_key: str = "", app_secret: str = "", access_token: str = "",
                 shop_cipher: str = "ROW_cipher", shop_id: str = "7494049642642441621",
                 rate: float = 50.0, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.app_key = app_key or self.DEFAULTS["app_key"]
        self.app_secret = app_secret or self.DEFAULTS["app_secret"]
        self.access_tokens = {
            access_token or self.DEFAULTS["access_token"]: time.time() + 7 * 86400
        }
        self.shop_cipher, self.shop_id = shop_cipher, shop_id
        self.limiter = RateLimiter(rate=rate, burst=max(1, int(rate)))
        self.orders: dict[str, dict] = {}
        self.returns: list[dict] = []

    # -- responses in TikTok Shop's shape ---------------------------------------------------
    @staticmethod
    def _request_id() -> str:
        return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8).upper()

    def ok(self, data: dict) -> dict:
        return {"code": 0, "message": "Success", "request_id": self._request_id(), "data": data}

    def fail(self, status: int, code: int, message: str):
        raise HTTPError(status, {"code": code, "message": message,
                                 "request_id": self._request_id(), "data": None})  # fmt: skip

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"code": 36009004 if status == 404 else 36009001,
                                 "message": message, "request_id": self._request_id(),
                                 "data": None})  # fmt: skip

    # -- the one signing and access check -------------------------------------------------
    def signature(self, path: str, query: dict, body: bytes, content_type: str) -> str:
        keys = sorted(k for k in query if k not in ("sign", "access_token"))
        base = path + "".join(f"{k}{query[k]}" for k in keys)
        if not content_type.startswith("multipart/form-data"):
            base += body.decode()
        wrapped = f"{self.app_secret}{base}{self.app_secret}"
        return hmac.new(self.app_secret.encode(), wrapped.encode(), hashlib.sha256).hexdigest()

    def check_request(self, request, *, shop: bool = True) -> None:
        query = {k: v[-1] for k, v in request.query.items()}
        if query.get("app_key") != self.app_key:
            self.fail(401, 106001, "Invalid credentials: app_key is not valid.")
        try:
            stamp = int(query.get("timestamp", ""))
        except ValueError:
            self.fail(401, 106001, "signature is invalid: timestamp is missing.")
        now = time.time()
        if not now - 300 <= stamp <= now + 30:
            self.fail(401, 106001, "signature is invalid: timestamp is out of range.")
        expected = self.signature(request.path, query, request.body,
                                  request.headers.get("content-type", ""))  # fmt: skip
        if not hmac.compare_digest(expected, query.get("sign", "")):
            self.fail(401, 106001, "signature is invalid.")
        token = request.headers.get("x-tts-access-token", "")
        expires = self.access_tokens.get(token)
        if expires is None:
            self.fail(401, 105001, "access token is invalid.")
        if expires < now:
            self.fail(401, 105002, "access token is expired.")
        if shop and query.get("shop_cipher") != self.shop_cipher:
            self.fail(400, 106013, "shop_cipher is invalid or missing.")
        wait = self.limiter.take(self.app_key)
        if wait:
            raise HTTPError(429, {"code": 36009002, "message": "Too many requests.",
                                  "request_id": self._request_id(), "data": None},
                            {"Retry-After": str(int(wait) + 1)})  # fmt: skip

    # -- orders -----------------------------------------------------------------------------
    @route("GET", r"/order/202309/orders")
    def get_order_detail(self, request):
        self.check_request(request)
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if not ids or len(ids) > 50:
            self.fail(400, 36009003, "ids: between 1 and 50 order ids.")
        return self.ok({"orders": [self.orders[i] for i in ids if i in self.orders]})

    # -- returns and refunds ----------------------------------------------------------------
    @route("POST", r"/return_refund/202309/returns/search")
    def search_returns(self, request):
        self.check_request(request)
        try:
            filters = json.loads(request.body or b"{}")
        except ValueError:
            self.fail(400, 36009003, "The body is not JSON.")
        order_ids = set(filters.get("order_ids") or [])
        return_ids = set(filters.get("return_ids") or [])
        found = [
            r for r in self.returns
            if (not order_ids or r["order_id"] in order_ids)
            and (not return_ids or r["return_id"] in return_ids)
        ]  # fmt: skip
        return self.ok({"return_orders": found, "total_count": len(found),
                        "next_page_token": ""})  # fmt: skip

    # -- helpers for tests and the demo -----------------------------------------------------
    def add_order(self, order: dict) -> dict:
        self.orders[str(order["id"])] = order
        return order

    def add_return(self, ret: dict) -> dict:
        self.returns.append(ret)
        return ret

    def notify(self, url: str, *, kind: int, data: dict, notification_id: str = "") -> int:
        """Send a signed notification as TikTok Shop does; returns the HTTP status."""
        payload = {
            "type": kind,
            "tts_notification_id": notification_id or str(secrets.randbelow(10**18)),
            "shop_id": self.shop_id,
            "timestamp": int(time.time()),
            "data": data,
        }
        body = webhooks.body_of(payload)
        headers = webhooks.tiktok_shop_headers(app_key=self.app_key, app_secret=self.app_secret,
                                               body=body)  # fmt: skip
        return webhooks.send(url, body, headers).status_code


def order(order_id: str, *, status: str = "AWAITING_SHIPMENT", currency: str = "USD",
          lines: list[tuple[str, str, int]] = (("SKU-1", "10.00", 1),), update_time=None,
          shipping: str = "0", tax: str = "0",
          email: str = "buyer-relay@scs.tiktokw.us") -> dict:  # fmt: skip
    """An order in Get Order Detail's shape: one line item per unit, as TikTok Shop lists."""
    now = int(time.time()) if update_time is None else update_time
    items = []
    for sku, price, quantity in lines:
        for _ in range(quantity):
            items.append({
                "id": secrets.token_hex(8), "sku_id": f"sku-{sku}", "seller_sku": sku,
                "product_name": f"Product {sku}", "sku_name": "Default",
                "original_price": price, "sale_price": price, "seller_discount": "0",
                "platform_discount": "0", "currency": currency,
            })  # fmt: skip
    sub = sum((Decimal(p) * q for _, p, q in lines), Decimal(0))
    total = sub + Decimal(shipping) + Decimal(tax)
    return {
        "id": order_id,
        "status": status,
        "create_time": now - 60,
        "update_time": now,
        "paid_time": now - 30 if status != "UNPAID" else None,
        "buyer_email": email,
        "recipient_address": {"region_code": "US"},
        "payment": {
            "currency": currency,
            "sub_total": str(sub),
            "original_total_product_price": str(sub),
            "shipping_fee": shipping,
            "seller_discount": "0",
            "platform_discount": "0",
            "tax": tax,
            "total_amount": str(total),
        },  # fmt: skip
        "line_items": items,
    }
