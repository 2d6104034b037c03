"""Request and webhook signatures of the platforms, each in one small function.

- `tiktok_shop_sign`: TikTok Shop's API request signature ("Sign your API request"): the
  query parameters except `sign` and `access_token`, sorted by name, each written
  `name + value` after the path; the raw body appended unless it is multipart; the whole
  wrapped in the app secret on both sides; HMAC-SHA256 keyed by the app secret, hex.
- `shopify_webhook_valid`: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body
  keyed by the app's secret.
- `shopify_oauth_valid`: the OAuth callback's `hmac` is the hex HMAC-SHA256 of the other
  query parameters, sorted, joined as `name=value` with `&`.

Comparisons are constant-time. The TikTok Shop request signature and the Shopify webhook
digest are the sales providers' own (`sales/providers/`), used here for catalog calls and
catalog webhooks: one implementation of each.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping

from core.crypto import constant_time_equals
from sales.providers import shopify as shopify_orders
from sales.providers import tiktok_shop as tiktok_orders


def tiktok_shop_sign(
    *, app_secret: str, path: str, params: Mapping[str, str], body: bytes | str = b""
) -> str:
    """The `sign` query parameter of a TikTok Shop API request.

    `body` is the exact bytes sent (empty for GET and for multipart uploads).
    """
    return tiktok_orders.sign_request(app_secret, path, dict(params), body)


def shopify_webhook_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(shopify_orders.sign(secret, body)).decode()


def shopify_webhook_valid(secret: str, body: bytes, header: str) -> bool:
    if not secret or not header:
        return False
    return constant_time_equals(shopify_webhook_hmac(secret, body), header.strip())


def shopify_oauth_hmac(secret: str, params: Mapping[str, str]) -> str:
    message = "&".join(
        f"{name}={params[name]}" for name in sorted(params) if name not in ("hmac", "signature")
    )
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def shopify_oauth_valid(secret: str, params: Mapping[str, str]) -> bool:
    given = params.get("hmac", "")
    if not secret or not given:
        return False
    return constant_time_equals(shopify_oauth_hmac(secret, params), given)
