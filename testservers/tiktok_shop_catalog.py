"""A local TikTok Shop for catalog sync: authorization, tokens, shops and products.

(The orders side of TikTok Shop lives in `testservers/tiktok_shop.py`; this module holds the
catalog handlers as their own class so the two can be folded together.)

It follows TikTok Shop's Partner API documents closely enough to catch real mistakes:
- Authorization: `/open/authorize?service_id=&state=` shows a consent page whose "Authorize"
  sends the browser to the app's registered redirect URI with `code` and `state`.
- Tokens: `GET /api/v2/token/get` (app_key, app_secret, auth_code,
  grant_type=authorized_code) and `GET /api/v2/token/refresh` (refresh_token,
  grant_type=refresh_token). A refresh ROTATES the refresh token: the old one stops working at
  once, and using it again is refused (`refresh_reuses` counts such attempts). Expiry times
  are Unix timestamps, as TikTok sends them.
- Every API call is checked like TikTok does: `app_key`, a `timestamp` within 5 minutes, the
  `sign` (HMAC-SHA256 of app_secret + path + sorted params + body + app_secret, recomputed here
  independently of Shoploop's code), the `x-tts-access-token` header (expired or unknown:
  105002) and the `shop_cipher` of a shop the token may use. Errors are
  `{"code": n, "message": "...", "request_id": "..."}`.
- Rate limits per shop with HTTP 429 and `Retry-After`; `fail_rate` fails requests on purpose;
  `item_fail_rate` refuses that share of product writes with a product error.
- Products: create and edit one product per request, with TikTok's required fields (title,
  description, category, uploaded main images, SKUs with seller_sku, price, inventory in a
  known warehouse, package weight); activate and deactivate at most 20 at once; search by
  seller SKU; images uploaded as multipart (whose body is not signed).

Stand-alone for the demo: `python -m testservers tiktok_shop_catalog --port 8802`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import secrets
import threading
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from testservers.base import HTTPError, PlatformServer, RateLimiter, Response, route

ACCESS_TTL = 7 * 24 * 3600
REFRESH_TTL = 365 * 24 * 3600


def sign(secret: str, path: str, params: dict, body: bytes) -> str:
    pieces = "".join(f"{k}{params[k]}" for k in sorted(params) if k not in ("sign", "access_token"))
    message = secret.encode() + path.encode() + pieces.encode() + body + secret.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class Server(PlatformServer):
    name = "tiktok_shop_catalog"

    def __init__(
        self,
        *,
        app_key="tts-app-key",
        app_secret="tts-app-secret",  # noqa: S107 - the local server's own
        service_id="7001",
        redirect_uri="",
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
        self.codes: dict[str, str] = {}  # code -> seller id
        self.access: dict[str, dict] = {}  # token -> {"seller", "expires"}
        self.refresh: dict[str, dict] = {}  # live refresh tokens
        self.spent_refresh: set[str] = set()
        self.refresh_calls = 0
        self.refresh_reuses = 0
        self.shops = {
            "7494000000000001": {
                "id": "7494000000000001",
                "name": "Demo TikTok Shop",
                "region": "US",
                "cipher": "ROW_demo_cipher_" + secrets.token_hex(4),
                "seller": "seller-1",
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
        self.products: dict[str, dict] = {}
        self.sku_index: dict[str, str] = {}  # seller_sku -> product id
        self.images: dict[str, bytes] = {}
        self.ids = itertools.count(1729500000000000001)
        self._lock = threading.RLock()
        if kwargs.get("port") and not self.redirect_uri:  # stand-alone for `make run`'s demo
            self.redirect_uri = "http://127.0.0.1:8000/integrations/oauth/tiktok_shop/callback"

    @property
    def shop(self) -> dict:
        return next(iter(self.shops.values()))

    # -- authorization and tokens ---------------------------------------------------------

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

    # -- the signed API -------------------------------------------------------------------

    def ok(self, data: dict) -> dict:
        return {"code": 0, "message": "Success", "data": data, "request_id": secrets.token_hex(8)}

    def fail(self, code: int, message: str, status: int = 200, headers=None) -> Response:
        return Response(
            status,
            {"code": code, "message": message, "data": None, "request_id": secrets.token_hex(8)},
            headers or {},
        )

    def error(self, status: int, message: str) -> Response:
        return self.fail(status, message, status=status)

    def random_failure(self, request) -> Response:
        return self.fail(36009003, "Internal error, please try again later", status=503)

    def _check(self, request, *, shop_required=True) -> dict:
        params = {k: v[-1] for k, v in request.query.items()}
        if params.get("app_key") != self.app_key:
            raise HTTPError(401, {"code": 106002, "message": "invalid app_key"})
        try:
            stamp = int(params.get("timestamp", "0"))
        except ValueError:
            stamp = 0
        if abs(time.time() - stamp) > 300:
            raise HTTPError(401, {"code": 106003, "message": "timestamp is expired"})
        multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
        expected = sign(self.app_secret, request.path, params, b"" if multipart else request.body)
        if not hmac.compare_digest(expected, params.get("sign", "")):
            raise HTTPError(
                401,
                {
                    "code": 106001,
                    "message": "Invalid credentials. The 'sign' query parameter is invalid.",
                },
            )
        grant = self.access.get(request.headers.get("x-tts-access-token", ""))
        if grant is None or grant["expires"] < time.time():
            raise HTTPError(401, {"code": 105002, "message": "Access token is expired or invalid"})
        shop = None
        if shop_required:
            shop = next(
                (s for s in self.shops.values() if s["cipher"] == params.get("shop_cipher")), None
            )
            if shop is None or shop["seller"] != grant["seller"]:
                raise HTTPError(403, {"code": 106011, "message": "invalid shop_cipher"})
            wait = self.limiter.take(shop["id"])
            if wait:
                self.throttled_at.append(request.at)
                raise HTTPError(
                    429,
                    {"code": 429, "message": "Too many requests"},
                    {"Retry-After": self.retry_after},
                )
        return {"params": params, "shop": shop, "grant": grant}

    @route("GET", r"/authorization/202309/shops")
    def shops_list(self, request):
        grant = self._check(request, shop_required=False)["grant"]
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
        self._check(request)
        return self.ok({"warehouses": self.warehouses})

    @route("POST", r"/product/202309/images/upload")
    def image_upload(self, request):
        self._check(request)
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
            owner = self._owner_of(seller_sku)
            if owner and owner != product_id:
                return f"seller_sku {seller_sku} already exists in product {owner}"
        if len(skus) > 1 and any(not s.get("sales_attributes") for s in skus):
            return "sales_attributes are required when a product has several SKUs"
        return ""

    def _owner_of(self, seller_sku: str) -> str | None:
        return self.sku_index.get(seller_sku)

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

    @route("POST", r"/product/202309/products")
    def product_create(self, request):
        self._check(request)
        body = request.json() or {}
        with self._lock:
            problem = self._validate_product(body, None)
            if problem:
                return self.fail(12052009, problem)
            if self._item_fails():
                return self.fail(12052230, "The product failed a listing check (injected)")
            product = self._store(body, str(next(self.ids)), None)
        return self.ok(
            {
                "product_id": product["id"],
                "skus": [{"id": s["id"], "seller_sku": s["seller_sku"]} for s in product["skus"]],
                "warnings": [],
            }
        )

    @route("PUT", r"/product/202309/products/(?P<product_id>\d+)")
    def product_edit(self, request):
        self._check(request)
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
        return self.ok(
            {
                "product_id": product_id,
                "skus": [{"id": s["id"], "seller_sku": s["seller_sku"]} for s in product["skus"]],
                "warnings": [],
            }
        )

    def _set_status(self, request, status: str):
        self._check(request)
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
        self._check(request)
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

    # -- helpers for tests ------------------------------------------------------------------

    def product_by_sku(self, seller_sku: str) -> dict | None:
        owner = self._owner_of(seller_sku)
        return self.products.get(owner) if owner else None


if __name__ == "__main__":
    from testservers.base import run_standalone

    run_standalone(Server)
