"""TikTok Shop's open API on one local host: authorization, tokens, shops, warehouses, images,
products, orders and returns, for tests, benchmarks and the demo.

TikTok's open API is one platform: the tokens its OAuth issues are the tokens its order,
return and product endpoints take. So is this server: a token from `/api/v2/token/get` or
`/api/v2/token/refresh` works on `/order/202309/orders` as on `/product/202309/products`,
and a token the server was started with (`access_token`, as if the seller had authorized
the app earlier) works on both too.

Every API request passes one check, `check_request` (written from TikTok Shop's "Sign your
API request", independently of Shoploop's code):

- `app_key` -> 401, 106002;
- `timestamp` within [now - 5 min, now + 30 s] -> 401, 106003;
- `sign`: the query parameters but `sign` and `access_token`, sorted by name, written
  `{name}{value}` after the path, then the body unless it is multipart, wrapped in the app
  secret on both sides, HMAC-SHA256 under the app secret, hex -> 401, 106001;
- the `x-tts-access-token` header: unknown 105001, expired 105002 (both 401);
- on shop APIs, `shop_cipher` of a shop the token's seller owns -> 403, 106011;
- a rate limit per shop (per app key for calls without a shop) -> 429 with `Retry-After`.

One error shape, TikTok's: `{"code": n, "message": "...", "request_id": "...", "data": null}`
(`{"code": 0, "message": "Success", ...}` with `data` on success). Business refusals (a
product without a title) answer HTTP 200 with a non-zero code, as TikTok does.

- Authorization: `/open/authorize?service_id=&state=` shows a consent page whose "Authorize"
  sends the browser to the app's registered redirect URI with `code` and `state`.
- Tokens: `GET /api/v2/token/get` (app_key, app_secret, auth_code,
  grant_type=authorized_code) and `GET /api/v2/token/refresh` (refresh_token,
  grant_type=refresh_token). A refresh ROTATES the refresh token: the old one stops working at
  once, and using it again is refused (`refresh_reuses` counts such attempts). Expiry times
  are Unix timestamps, as TikTok sends them.
- Products: create and edit one product per request, with TikTok's required fields (title,
  description, category, uploaded main images, SKUs with seller_sku, price, inventory in a
  known warehouse, package weight); activate and deactivate at most 20 at once; search by
  seller SKU; images uploaded as multipart (whose body is not signed). `item_fail_rate`
  refuses that share of product writes with a product error.
- Orders and returns: Get Order Detail (`GET /order/202309/orders?ids=`) and Search Returns
  (`POST /return_refund/202309/returns/search`). Tests add them with `add_order` and
  `add_return` and send signed notifications with `notify`.
- Fulfilment (issue 19), for sellers who ship themselves: Get Shipping Providers
  (`GET /logistics/202309/delivery_options/{delivery_option_id}/shipping_providers`) and Mark
  Package As Shipped (`POST /fulfillment/202309/orders/{order_id}/packages` with
  `order_line_item_ids`, `tracking_number` and `shipping_provider_id`; items can ship in
  several packages). An item already in a package, an unknown provider or a tracking number
  the provider check refuses (`refused_tracking`) answer HTTP 200 with a non-zero code in
  TikTok's shape; the items shipped carry `package_id`, `tracking_number` and
  `shipping_provider_id` in Get Order Detail afterwards.
- `fail_next` / `fail_rate` (from `base.py`) fail requests on purpose.

Stand-alone for the demo, `python -m testservers tiktok_shop --port 8791` serves all of it
with the demo app's credentials (`DEMO`, the same as `seed_demo`'s TikTok Shop channel) and
two helper routes that are not TikTok's: `POST /_demo/orders` and `POST /_demo/returns`
(a JSON order or return in the API's shape), so `manage.py demo_orders` can put orders in a
server running in another process before it notifies Shoploop of them.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import secrets
import threading
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from testservers import webhooks
from testservers.base import HTTPError, PlatformServer, RateLimiter, Response, route

ACCESS_TTL = 7 * 24 * 3600
REFRESH_TTL = 365 * 24 * 3600
SELLER = "seller-1"
# The demo app (seed_demo's "Demo TikTok Shop" channel holds the same values).
DEMO = {
    "app_key": "demo_tts_app_key",
    "app_secret": "demo-tiktok-shop-app-secret",
    "access_token": "TTP_demo_access_token",
    "shop_cipher": "DEMO_shop_cipher",
    "shop_id": "7494049642642441621",
}


def sign(secret: str, path: str, params: dict, body: bytes) -> str:
    """TikTok Shop's request signature (see the module docstring)."""
    pieces = "".join(f"{k}{params[k]}" for k in sorted(params) if k not in ("sign", "access_token"))
    message = secret.encode() + path.encode() + pieces.encode() + body + secret.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class Server(PlatformServer):
    name = "tiktok_shop"

    def __init__(
        self,
        *,
        app_key: str = "tts_app_key",
        app_secret: str = "tts_app_secret",  # noqa: S107 - the local server's own
        service_id: str = "7001",
        redirect_uri: str = "",
        shop_id: str = "7494049642642441621",
        shop_name: str = "Demo TikTok Shop",
        shop_cipher: str = "ROW_cipher",
        access_token: str = "TTP_test_access_token",  # noqa: S107 - the local server's own
        rate: float = 50.0,
        burst: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.app_key, self.app_secret, self.service_id = app_key, app_secret, service_id
        self.redirect_uri = redirect_uri  # registered with the app in the Partner Center
        self.limiter = RateLimiter(rate=rate, burst=burst)
        self.retry_after = "1"
        self.throttled_at: list[float] = []  # when each 429 was answered
        self.access_ttl = ACCESS_TTL
        self.item_fail_rate = 0.0
        self.codes: dict[str, str] = {}  # auth code -> seller
        self.access: dict[str, dict] = {}  # access token -> {"seller", "expires"}
        self.refresh: dict[str, dict] = {}  # live refresh tokens
        self.spent_refresh: set[str] = set()
        self.refresh_calls = 0
        self.refresh_reuses = 0
        self.shops = {
            shop_id: {
                "id": shop_id,
                "name": shop_name,
                "region": "US",
                "cipher": shop_cipher,
                "seller": SELLER,
            }
        }
        self.warehouses = [
            {
                "id": "7300000000000001",
                "name": "Main",
                "effect_status": "ENABLED",
                "type": "SALES_WAREHOUSE",
                "is_default": True,
            },
        ]
        # The token of an earlier authorization (what a sales channel may hold).
        self.access_token = access_token
        if access_token:
            self.access[access_token] = {"seller": SELLER, "expires": time.time() + ACCESS_TTL}
        self.products: dict[str, dict] = {}
        self.sku_index: dict[str, str] = {}  # seller_sku -> product id
        self.images: dict[str, bytes] = {}
        self.orders: dict[str, dict] = {}
        self.returns: list[dict] = []
        self.ids = itertools.count(1729500000000000001)
        self._lock = threading.RLock()
        # Fulfilment (issue 19): the shipping providers of a delivery option, and tracking
        # numbers the provider check refuses.
        self.delivery_option_id = "7091146663229654785"
        self.shipping_providers = [
            {"id": "6617675021119438849", "name": "USPS"},
            {"id": "6617675021119438850", "name": "UPS"},
            {"id": "6617675021119438851", "name": "FedEx"},
        ]
        self.refused_tracking: set[str] = set()
        self.packages: dict[str, dict] = {}

    @property
    def shop(self) -> dict:
        return next(iter(self.shops.values()))

    @property
    def shop_id(self) -> str:
        return self.shop["id"]

    @property
    def shop_cipher(self) -> str:
        return self.shop["cipher"]

    # -- TikTok's answers -------------------------------------------------------------------

    @staticmethod
    def _request_id() -> str:
        return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8).upper()

    def body(self, code: int, message: str, data=None) -> dict:
        return {"code": code, "message": message, "request_id": self._request_id(), "data": data}

    def ok(self, data: dict) -> dict:
        return self.body(0, "Success", data)

    def fail(self, code: int, message: str, status: int = 200, headers=None) -> Response:
        return Response(status, self.body(code, message), headers or {})

    def refuse(self, status: int, code: int, message: str, headers=None):
        raise HTTPError(status, self.body(code, message), headers or {})

    def error(self, status: int, message: str) -> Response:
        return self.fail(36009004 if status == 404 else 36009003, message, status=status)

    def random_failure(self, request) -> Response:
        return self.fail(36009003, "Internal error, please try again later", status=503)

    # -- authorization and tokens -----------------------------------------------------------

    @route("GET", r"/open/authorize")
    def authorize(self, request):
        if request.arg("service_id") != self.service_id or not request.arg("state"):
            return Response(400, "Invalid service_id or missing state")
        code = "TTP_auth_" + secrets.token_hex(12)
        self.codes[code] = self.shop["seller"]
        back = {"code": code, "state": request.arg("state"), "locale": "en", "shop_region": "US"}
        target = f"{self.redirect_uri}?{urlencode(back)}"
        page = (
            "<!doctype html><title>Authorize</title><h1>Authorize the app to manage "
            f"{html.escape(self.shop['name'])}?</h1><a id='authorize' href='{html.escape(target)}'>"
            "Authorize</a>"
        )
        return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})

    def _new_tokens(self, seller: str) -> dict:
        now = int(time.time())
        access = "TTP_" + secrets.token_urlsafe(24)
        refresh = "TTP_r_" + secrets.token_urlsafe(24)
        self.access[access] = {"seller": seller, "expires": now + self.access_ttl}
        self.refresh[refresh] = {"seller": seller, "expires": now + REFRESH_TTL}
        return {
            "access_token": access,
            "access_token_expire_in": now + self.access_ttl,
            "refresh_token": refresh,
            "refresh_token_expire_in": now + REFRESH_TTL,
            "open_id": "open-" + seller,
            "seller_name": self.shop["name"],
            "seller_base_region": "US",
            "user_type": 0,
            "granted_scopes": [
                "seller.product.basic",
                "seller.product.write",
                "seller.authorization.info",
                "seller.logistics",
                "seller.order.info",
                "seller.return_refund.basic",
            ],
        }

    def _app_ok(self, request) -> bool:
        return (
            request.arg("app_key") == self.app_key and request.arg("app_secret") == self.app_secret
        )

    @route("GET", r"/api/v2/token/get")
    def token_get(self, request):
        seller = self.codes.pop(request.arg("auth_code", ""), None)
        if not self._app_ok(request) or request.arg("grant_type") != "authorized_code":
            return self.fail(36004001, "invalid app_key, app_secret or grant_type")
        if seller is None:
            return self.fail(36004003, "auth_code is invalid or already used")
        return self.ok(self._new_tokens(seller))

    @route("GET", r"/api/v2/token/refresh")
    def token_refresh(self, request):
        token = request.arg("refresh_token", "")
        with self._lock:
            self.refresh_calls += 1
            if not self._app_ok(request) or request.arg("grant_type") != "refresh_token":
                return self.fail(36004001, "invalid app_key, app_secret or grant_type")
            if token in self.spent_refresh:
                self.refresh_reuses += 1
                return self.fail(36004004, "refresh_token is invalid: it was already used")
            grant = self.refresh.pop(token, None)
            if grant is None or grant["expires"] < time.time():
                return self.fail(36004004, "refresh_token is invalid or expired")
            self.spent_refresh.add(token)
            return self.ok(self._new_tokens(grant["seller"]))

    def expire_access_tokens(self) -> None:
        for grant in self.access.values():
            grant["expires"] = int(time.time()) - 1

    def revoke_all(self) -> None:
        """The seller removed the app: every token stops working."""
        self.access.clear()
        self.spent_refresh.update(self.refresh)
        self.refresh.clear()

    # -- the one signing and access check ---------------------------------------------------

    def signature(self, path: str, query: dict, body: bytes, content_type: str = "") -> str:
        multipart = content_type.startswith("multipart/form-data")
        return sign(self.app_secret, path, query, b"" if multipart else body)

    def check_request(self, request, *, shop: bool = True) -> dict:
        """Every API call's checks, in TikTok's order; returns the params, shop and grant."""
        params = {k: v[-1] for k, v in request.query.items()}
        if params.get("app_key") != self.app_key:
            self.refuse(401, 106002, "Invalid credentials: the app_key is not valid.")
        try:
            stamp = int(params.get("timestamp", ""))
        except ValueError:
            stamp = None
        now = time.time()
        if stamp is None or not now - 300 <= stamp <= now + 30:
            self.refuse(401, 106003, "Invalid credentials: the timestamp is missing or expired.")
        expected = self.signature(
            request.path, params, request.body, request.headers.get("content-type", "")
        )
        if not hmac.compare_digest(expected, params.get("sign", "")):
            self.refuse(401, 106001, "Invalid credentials. The 'sign' query parameter is invalid.")
        grant = self.access.get(request.headers.get("x-tts-access-token", ""))
        if grant is None:
            self.refuse(401, 105001, "Invalid credentials: the access token is invalid.")
        if grant["expires"] < now:
            self.refuse(401, 105002, "The access token is expired.")
        found = None
        if shop:
            found = next(
                (s for s in self.shops.values() if s["cipher"] == params.get("shop_cipher")), None
            )
            if found is None or found["seller"] != grant["seller"]:
                self.refuse(403, 106011, "The shop_cipher is invalid or not this seller's.")
        wait = self.limiter.take(found["id"] if found else self.app_key)
        if wait:
            self.throttled_at.append(request.at)
            self.refuse(
                429,
                36009002,
                "Too many requests.",
                {"Retry-After": self.retry_after if found else str(int(wait) + 1)},
            )
        return {"params": params, "shop": found, "grant": grant}

    # -- shops, warehouses, images ----------------------------------------------------------

    @route("GET", r"/authorization/202309/shops")
    def shops_list(self, request):
        grant = self.check_request(request, shop=False)["grant"]
        return self.ok(
            {
                "shops": [
                    {
                        "id": s["id"],
                        "name": s["name"],
                        "region": s["region"],
                        "seller_type": "LOCAL",
                        "cipher": s["cipher"],
                        "code": "USLCXXXX",
                    }
                    for s in self.shops.values()
                    if s["seller"] == grant["seller"]
                ]
            }
        )

    @route("GET", r"/logistics/202309/warehouses")
    def warehouses_list(self, request):
        self.check_request(request)
        return self.ok({"warehouses": self.warehouses})

    @route("POST", r"/product/202309/images/upload")
    def image_upload(self, request):
        self.check_request(request)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return self.fail(12019001, "The image must be sent as multipart/form-data")
        if b'name="data"' not in request.body:
            return self.fail(12019002, "data is required")
        uri = "tos-useast5-i-omjb5zjo8w-tx/" + secrets.token_hex(16)
        self.images[uri] = request.body
        return self.ok(
            {
                "uri": uri,
                "url": f"{self.url}/img/{uri}",
                "width": 800,
                "height": 800,
                "use_case": "MAIN_IMAGE",
            }
        )

    # -- products ---------------------------------------------------------------------------

    def _validate_product(self, body: dict, product_id: str | None) -> str:
        """TikTok's answer to an invalid product, or ''."""
        if not body.get("title") or len(body["title"]) > 255:
            return "title is required and must be 1-255 characters"
        if not body.get("description"):
            return "description is required"
        if not str(body.get("category_id", "")).isdigit():
            return "category_id is invalid"
        images = body.get("main_images") or []
        if not images or len(images) > 9 or any(i.get("uri") not in self.images for i in images):
            return "main_images must hold 1-9 uploaded image uris"
        weight = body.get("package_weight") or {}
        if weight.get("unit") not in ("KILOGRAM", "POUND") or not weight.get("value"):
            return "package_weight is required"
        skus = body.get("skus") or []
        if not skus:
            return "skus is required"
        warehouse_ids = {w["id"] for w in self.warehouses}
        for sku in skus:
            seller_sku = sku.get("seller_sku", "")
            if not seller_sku or len(seller_sku) > 50:
                return "seller_sku is required (at most 50 characters)"
            try:
                amount = Decimal(str((sku.get("price") or {}).get("amount", "")))
            except InvalidOperation:
                return f"{seller_sku}: price.amount is invalid"
            if amount <= 0 or not (sku.get("price") or {}).get("currency"):
                return f"{seller_sku}: price.amount and price.currency are required"
            for stock in sku.get("inventory") or [{}]:
                if stock.get("warehouse_id") not in warehouse_ids:
                    return f"{seller_sku}: inventory.warehouse_id is invalid"
                if not 0 <= int(stock.get("quantity", -1)) <= 99999:
                    return f"{seller_sku}: inventory.quantity must be 0-99999"
            owner = self.sku_index.get(seller_sku)
            if owner and owner != product_id:
                return f"seller_sku {seller_sku} already exists in product {owner}"
        if len(skus) > 1 and any(not s.get("sales_attributes") for s in skus):
            return "sales_attributes are required when a product has several SKUs"
        return ""

    def _store(self, body: dict, product_id: str, existing: dict | None) -> dict:
        known = {s["seller_sku"]: s["id"] for s in (existing or {}).get("skus", [])}
        skus = []
        for sku in body["skus"]:
            sku_id = sku.get("id") or known.get(sku["seller_sku"]) or str(next(self.ids))
            skus.append({**sku, "id": str(sku_id)})
        product = {
            **body,
            "id": product_id,
            "skus": skus,
            "status": (existing or {}).get("status", "ACTIVATE"),
            "update_time": int(time.time()),
        }
        for sku in (existing or {}).get("skus", []):
            self.sku_index.pop(sku["seller_sku"], None)
        for sku in skus:
            self.sku_index[sku["seller_sku"]] = product_id
        self.products[product_id] = product
        return product

    def _item_fails(self) -> bool:
        return bool(self.item_fail_rate) and self._random.random() < self.item_fail_rate

    def _product_answer(self, product: dict) -> dict:
        return self.ok(
            {
                "product_id": product["id"],
                "skus": [{"id": s["id"], "seller_sku": s["seller_sku"]} for s in product["skus"]],
                "warnings": [],
            }
        )

    @route("POST", r"/product/202309/products")
    def product_create(self, request):
        self.check_request(request)
        body = request.json() or {}
        with self._lock:
            problem = self._validate_product(body, None)
            if problem:
                return self.fail(12052009, problem)
            if self._item_fails():
                return self.fail(12052230, "The product failed a listing check (injected)")
            product = self._store(body, str(next(self.ids)), None)
        return self._product_answer(product)

    @route("PUT", r"/product/202309/products/(?P<product_id>\d+)")
    def product_edit(self, request):
        self.check_request(request)
        body = request.json() or {}
        product_id = request.params["product_id"]
        with self._lock:
            existing = self.products.get(product_id)
            if existing is None:
                return self.fail(12052048, f"product {product_id} does not exist")
            problem = self._validate_product(body, product_id)
            if problem:
                return self.fail(12052009, problem)
            if self._item_fails():
                return self.fail(12052230, "The product failed a listing check (injected)")
            product = self._store(body, product_id, existing)
        return self._product_answer(product)

    def _set_status(self, request, status: str):
        self.check_request(request)
        ids = [str(i) for i in (request.json() or {}).get("product_ids") or []]
        if not ids or len(ids) > 20:
            return self.fail(12052001, "product_ids must hold 1-20 ids")
        errors = []
        for product_id in ids:
            if product_id not in self.products:
                errors.append(
                    {
                        "code": 12052048,
                        "message": "product does not exist",
                        "detail": {"product_id": product_id},
                    }
                )
            else:
                self.products[product_id]["status"] = status
        return self.ok({"errors": errors} if errors else {})

    @route("POST", r"/product/202309/products/deactivate")
    def deactivate(self, request):
        return self._set_status(request, "SELLER_DEACTIVATED")

    @route("POST", r"/product/202309/products/activate")
    def activate(self, request):
        return self._set_status(request, "ACTIVATE")

    @route("POST", r"/product/202502/products/search")
    def search(self, request):
        self.check_request(request)
        wanted = set((request.json() or {}).get("seller_skus") or [])
        found = [
            {
                "id": p["id"],
                "title": p["title"],
                "status": p["status"],
                "skus": [{"id": s["id"], "seller_sku": s["seller_sku"]} for s in p["skus"]],
            }
            for p in self.products.values()
            if wanted & {s["seller_sku"] for s in p["skus"]}
        ]
        return self.ok({"products": found, "total_count": len(found), "next_page_token": ""})

    # -- orders -----------------------------------------------------------------------------

    @route("GET", r"/order/202309/orders")
    def get_order_detail(self, request):
        self.check_request(request)
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if not ids or len(ids) > 50:
            return self.fail(36009003, "ids: between 1 and 50 order ids.", status=400)
        return self.ok({"orders": [self.orders[i] for i in ids if i in self.orders]})

    # -- fulfilment -------------------------------------------------------------------------

    @route("GET", r"/logistics/202309/delivery_options/(?P<option>\d+)/shipping_providers")
    def shipping_providers_list(self, request):
        self.check_request(request)
        if request.params["option"] != self.delivery_option_id:
            return self.fail(21001001, "The delivery option does not exist.")
        return self.ok({"shipping_providers": self.shipping_providers})

    @route("POST", r"/fulfillment/202309/orders/(?P<order_id>\d+)/packages")
    def mark_package_shipped(self, request):
        self.check_request(request)
        order = self.orders.get(request.params["order_id"])
        if order is None:
            return self.fail(21011001, "The order does not exist.")
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return self.fail(36009003, "The body is not JSON.", status=400)
        ids = body.get("order_line_item_ids") or []
        number = str(body.get("tracking_number") or "")
        provider = str(body.get("shipping_provider_id") or "")
        if not number or not provider:
            return self.fail(36009003, "tracking_number and shipping_provider_id are required.")
        if provider not in {p["id"] for p in self.shipping_providers}:
            return self.fail(21011011, "The shipping provider is not available for this order.")
        if number in self.refused_tracking:
            return self.fail(21011012, f"The tracking number {number} is invalid for the "
                             "shipping provider.")  # fmt: skip
        with self._lock:
            items = {item["id"]: item for item in order["line_items"]}
            chosen = [items.get(i) for i in ids] if ids else [
                item for item in order["line_items"] if not item.get("package_id")
            ]  # fmt: skip
            if not chosen or any(item is None for item in chosen):
                return self.fail(21011002, "An order line item does not belong to the order.")
            if any(item.get("package_id") for item in chosen):
                return self.fail(21011003, "An order line item is already shipped.")
            package_id = str(next(self.ids))
            for item in chosen:
                item.update(package_id=package_id, tracking_number=number,
                            shipping_provider_id=provider, display_status="SHIPPED")  # fmt: skip
            shipped = all(item.get("package_id") for item in order["line_items"])
            order["status"] = "IN_TRANSIT" if shipped else "PARTIALLY_SHIPPING"
            self.packages[package_id] = {"order_id": order["id"], "tracking_number": number,
                                         "items": [item["id"] for item in chosen]}  # fmt: skip
        return self.ok({"package_id": package_id,
                        "order_line_item_ids": [item["id"] for item in chosen]})  # fmt: skip

    # -- returns and refunds ----------------------------------------------------------------

    @route("POST", r"/return_refund/202309/returns/search")
    def search_returns(self, request):
        self.check_request(request)
        try:
            filters = json.loads(request.body or b"{}")
        except ValueError:
            return self.fail(36009003, "The body is not JSON.", status=400)
        order_ids = set(filters.get("order_ids") or [])
        return_ids = set(filters.get("return_ids") or [])
        found = [
            r for r in self.returns
            if (not order_ids or r["order_id"] in order_ids)
            and (not return_ids or r["return_id"] in return_ids)
        ]  # fmt: skip
        return self.ok({"return_orders": found, "total_count": len(found),
                        "next_page_token": ""})  # fmt: skip

    # -- the demo's helper routes (not TikTok's) --------------------------------------------

    @route("POST", r"/_demo/orders")
    def demo_add_order(self, request):
        order = request.json() or {}
        if not order.get("id"):
            return self.fail(36009003, "An order needs its id.", status=400)
        return self.ok({"order_id": self.add_order(order)["id"]})

    @route("POST", r"/_demo/returns")
    def demo_add_return(self, request):
        ret = request.json() or {}
        if not ret.get("return_id") or not ret.get("order_id"):
            return self.fail(36009003, "A return needs its return_id and order_id.", status=400)
        return self.ok({"return_id": self.add_return(ret)["return_id"]})

    # -- helpers for tests and the demo -----------------------------------------------------

    def product_by_sku(self, seller_sku: str) -> dict | None:
        owner = self.sku_index.get(seller_sku)
        return self.products.get(owner) if owner else None

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


def standalone(*, host: str, port: int) -> Server:
    """`python -m testservers tiktok_shop --port N`: the demo app's server."""
    return Server(
        host=host,
        port=port,
        redirect_uri="http://127.0.0.1:8000/integrations/oauth/tiktok_shop/callback",
        **DEMO,
    )


standalone.name = Server.name


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
        "delivery_option_id": "7091146663229654785",
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


if __name__ == "__main__":
    from testservers.base import run_standalone

    run_standalone(standalone)
