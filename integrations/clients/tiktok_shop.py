"""TikTok Shop Partner API: OAuth (authorization code through the service's authorize page; no
PKCE, TikTok Shop does not support it), tokens that expire and whose refresh token ROTATES
(each refresh answers a new refresh token and the old one stops working), signed API calls
(`integrations.signing.tiktok_shop_sign`, the token in `x-tts-access-token`), the shops a
grant covers, warehouses, image uploads and products (create and edit one product per call;
activate and deactivate up to 20 at once).

Answers are `{"code": 0, "message": "Success", "data": {...}, "request_id": "..."}`; a
non-zero code is an error in TikTok's words.
"""

import json
import time
from urllib.parse import urlencode

from django.conf import settings

from integrations.clients import AccountChoice, Grant, from_timestamp
from integrations.http import (
    AuthError,
    GrantError,
    PlatformError,
    PlatformSession,
    is_transient_status,
    json_object,
)
from integrations.http import retry_after as retry_after_of
from integrations.signing import tiktok_shop_sign

API_VERSION = "202309"
# Codes TikTok Shop answers when the access token is expired, invalid or revoked.
AUTH_CODES = {105001, 105002, 105005, 36004004}
# Codes of the token endpoints when the auth code or refresh token cannot be used.
GRANT_CODES = {36004003, 36004004, 36004005, 36004006, 36004007, 36004008}
THROTTLE_CODES = {429, 36009001}
DEACTIVATE_BATCH = 20


def classify(response) -> PlatformError | None:
    body = json_object(response)
    code = body.get("code")
    message = body.get("message") or f"HTTP {response.status_code}"
    if response.status_code == 429 or code in THROTTLE_CODES:
        return PlatformError(
            f"TikTok Shop throttled the request: {message}",
            status=response.status_code,
            code=code,
            throttled=True,
            retry_after=retry_after_of(response) or 1.0,
        )
    if response.status_code == 401 or code in AUTH_CODES:
        return AuthError(f"TikTok Shop refused the access token: {message}", code=code)
    if is_transient_status(response.status_code):
        return PlatformError(
            f"TikTok Shop answered HTTP {response.status_code}: {message}",
            status=response.status_code,
            code=code,
            transient=True,
        )
    if response.status_code >= 400 or code not in (0, None) or not body:
        return PlatformError(f"TikTok Shop: {message} (code {code})", code=code)
    return None


def _classify_grant(response) -> PlatformError | None:
    body = json_object(response)
    code = body.get("code")
    if code in GRANT_CODES or (response.status_code in (400, 401) and code):
        return GrantError(
            f"TikTok Shop refused the grant: {body.get('message', '')} (code {code})", code=code
        )
    return classify(response)


def _grant(data: dict) -> Grant:
    return Grant(
        access_token=data["access_token"],
        refresh_token=data.get("refresh_token", ""),
        access_expires_at=from_timestamp(data.get("access_token_expire_in")),
        refresh_expires_at=from_timestamp(data.get("refresh_token_expire_in")),
        scopes=list(data.get("granted_scopes") or []),
        extra={
            "open_id": data.get("open_id", ""),
            "seller_name": data.get("seller_name", ""),
            "region": data.get("seller_base_region", ""),
        },
    )


class TikTokShopOAuth:
    platform = "tiktok_shop"
    pkce = False
    needs_shop = False

    def configured(self) -> bool:
        return bool(settings.TIKTOK_SHOP_APP_KEY and settings.TIKTOK_SHOP_APP_SECRET)

    def authorize_url(self, *, state: str, redirect_uri: str, shop=None, code_challenge=None):
        # The redirect URI is registered with the app in the Partner Center, not sent here.
        query = urlencode({"service_id": settings.TIKTOK_SHOP_SERVICE_ID, "state": state})
        return f"{settings.TIKTOK_SHOP_AUTHORIZE_URL}?{query}"

    def _token_call(self, session: PlatformSession, path: str, params: dict) -> Grant:
        response = session.request(
            "GET",
            f"{settings.TIKTOK_SHOP_AUTH_URL}{path}",
            params={
                "app_key": settings.TIKTOK_SHOP_APP_KEY,
                "app_secret": settings.TIKTOK_SHOP_APP_SECRET,
                **params,
            },
            classify=_classify_grant,
        )
        return _grant(response.json()["data"])

    def exchange(self, session, *, code, redirect_uri, shop=None, verifier=None) -> Grant:
        return self._token_call(
            session, "/api/v2/token/get", {"auth_code": code, "grant_type": "authorized_code"}
        )

    def refresh(self, session, refresh_token: str) -> Grant:
        return self._token_call(
            session,
            "/api/v2/token/refresh",
            {"refresh_token": refresh_token, "grant_type": "refresh_token"},
        )

    def accounts(self, session, grant: Grant, *, shop=None) -> list[AccountChoice]:
        data = call(session, "GET", "/authorization/202309/shops", token=grant.access_token)
        return [
            AccountChoice(
                account_id=str(s["id"]),
                name=s.get("name") or str(s["id"]),
                settings={"shop_cipher": s["cipher"], "region": s.get("region", "")},
            )
            for s in data.get("shops", [])
        ]

    def revoke(self, session, *, token, account_id, app_settings) -> bool:
        return False  # no revocation endpoint: the seller removes the app in Seller Center


OAUTH = TikTokShopOAuth()


def call(
    session: PlatformSession,
    method: str,
    path: str,
    *,
    token: str,
    shop_cipher: str = "",
    query: dict | None = None,
    body: dict | None = None,
    files: dict | None = None,
    form: dict | None = None,
) -> dict:
    """A signed API call; returns `data` of the answer."""
    params = {"app_key": settings.TIKTOK_SHOP_APP_KEY, **(query or {})}
    if shop_cipher:
        params["shop_cipher"] = shop_cipher
    raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
    headers = {"x-tts-access-token": token}
    if files is None:
        headers["Content-Type"] = "application/json"

    def signed():
        # A fresh timestamp and signature for each attempt (TikTok refuses stale ones).
        query = {**params, "timestamp": str(int(time.time()))}
        query["sign"] = tiktok_shop_sign(
            app_secret=settings.TIKTOK_SHOP_APP_SECRET,
            path=path,
            params=query,
            body=b"" if files is not None else raw,
        )
        return {"params": query}

    response = session.request(
        method,
        f"{settings.TIKTOK_SHOP_API_BASE}{path}",
        per_attempt=signed,
        headers=headers,
        data=raw if files is None else form,
        files=files,
        classify=classify,
    )
    return response.json().get("data") or {}


def warehouses(session, *, token: str, shop_cipher: str) -> list[dict]:
    data = call(
        session, "GET", "/logistics/202309/warehouses", token=token, shop_cipher=shop_cipher
    )
    return data.get("warehouses", [])


def upload_image(session, *, token: str, shop_cipher: str, content: bytes, name: str) -> str:
    data = call(
        session,
        "POST",
        "/product/202309/images/upload",
        token=token,
        shop_cipher=shop_cipher,
        files={"data": (name, content)},
        form={"use_case": "MAIN_IMAGE"},
    )
    return data["uri"]


def create_product(session, *, token: str, shop_cipher: str, body: dict) -> dict:
    return call(
        session, "POST", "/product/202309/products", token=token, shop_cipher=shop_cipher, body=body
    )


def edit_product(session, *, token: str, shop_cipher: str, product_id: str, body: dict) -> dict:
    return call(
        session,
        "PUT",
        f"/product/202309/products/{product_id}",
        token=token,
        shop_cipher=shop_cipher,
        body=body,
    )


def set_active(session, *, token: str, shop_cipher: str, product_ids: list[str], active: bool):
    """Activate or deactivate up to 20 products; returns {product_id: error message}."""
    path = "/product/202309/products/activate" if active else "/product/202309/products/deactivate"
    data = call(
        session,
        "POST",
        path,
        token=token,
        shop_cipher=shop_cipher,
        body={"product_ids": product_ids},
    )
    failed = {}
    for error in data.get("errors") or []:
        product_id = str((error.get("detail") or {}).get("product_id", ""))
        failed[product_id] = f"{error.get('message', 'refused')} (code {error.get('code')})"
    return failed


def find_by_skus(session, *, token: str, shop_cipher: str, skus: list[str]) -> dict:
    """The TikTok product holding any of `skus`: {"product_id", "sku_ids"} or {}."""
    data = call(
        session,
        "POST",
        "/product/202502/products/search",
        token=token,
        shop_cipher=shop_cipher,
        query={"page_size": "20"},
        body={"seller_skus": skus},
    )
    for product in data.get("products") or []:
        return {
            "product_id": str(product["id"]),
            "sku_ids": {s["seller_sku"]: str(s["id"]) for s in product.get("skus") or []},
        }
    return {}


# -- fulfilment (issue 19): sellers who ship themselves -----------------------------------------


def order_detail(session, *, token: str, shop_cipher: str, order_id: str) -> dict | None:
    data = call(session, "GET", "/order/202309/orders", token=token, shop_cipher=shop_cipher,
                query={"ids": order_id})  # fmt: skip
    return next(iter(data.get("orders") or []), None)


def shipping_providers(session, *, token: str, shop_cipher: str, delivery_option_id: str):
    data = call(
        session, "GET",
        f"/logistics/202309/delivery_options/{delivery_option_id}/shipping_providers",
        token=token, shop_cipher=shop_cipher,
    )  # fmt: skip
    return data.get("shipping_providers") or []


def mark_package_shipped(
    session, *, token: str, shop_cipher: str, order_id: str, item_ids: list[str],
    tracking_number: str, provider_id: str,
) -> dict:  # fmt: skip
    return call(
        session, "POST", f"/fulfillment/202309/orders/{order_id}/packages", token=token,
        shop_cipher=shop_cipher,
        body={"order_line_item_ids": item_ids, "tracking_number": tracking_number,
              "shipping_provider_id": provider_id},
    )  # fmt: skip
