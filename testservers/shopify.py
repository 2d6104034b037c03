"""A local Shopify: OAuth, the GraphQL Admin API Shoploop uses, bulk operations and webhooks.

It follows Shopify's documents closely enough to catch real mistakes:
- OAuth (`/{shop}/admin/oauth/authorize`): `client_id`, `scope`, `redirect_uri` and `state`
  are required; the consent page's "Install app" sends the browser back with `code`, `shop`,
  `state`, `timestamp`, `host` and `hmac` (hex HMAC-SHA256 of the other parameters, sorted,
  keyed by the app secret). `POST /{shop}/admin/oauth/access_token` takes the code once, for
  that shop, within 60 s, with the app's id and secret.
- The Admin API (`POST /{shop}/admin/api/{version}/graphql.json`) wants
  `X-Shopify-Access-Token` (401 with Shopify's `{"errors": "[API] Invalid API key or access
  token ..."}` otherwise), spends query cost from a leaky bucket (1,000 points, 50 a second)
  and answers `THROTTLED` with the bucket's state when it is empty.
- Bulk operations: `bulkOperationRunQuery` (one at a time per shop), `node(id:)` moving
  CREATED -> RUNNING -> COMPLETED, and a JSONL file whose nested objects carry `__parentId`.
- Webhooks: subscriptions made with `webhookSubscriptionCreate`; `deliver()` posts a
  REST-shaped payload to each subscriber with `X-Shopify-Topic`, `X-Shopify-Shop-Domain`,
  `X-Shopify-Webhook-Id` and `X-Shopify-Hmac-Sha256` (base64 HMAC of the raw body).
- `DELETE /{shop}/admin/api_permissions/current.json` revokes the token.
- Fulfilment (REST Admin API, issue 19): `GET /admin/api/{version}/orders/{id}/
  fulfillment_orders.json` lists an order's fulfillment orders (line items with
  `fulfillable_quantity`), `POST /admin/api/{version}/fulfillments.json` takes
  `line_items_by_fulfillment_order` (each fulfillment order's line items and quantities) and
  `tracking_info` (`number`, `company`, `url`), and `GET .../orders/{id}/fulfillments.json`
  lists what was fulfilled. More than is fulfillable, a closed fulfillment order or a
  tracking number the carrier check refuses (`refused_tracking`) answer 422 with Shopify's
  `{"errors": ...}`; the REST bucket (40, 2 a second) answers 429 with `Retry-After`.
  `fulfillment_webhook()` builds the `fulfillments/create` and `fulfillments/update` body.
- Compliance webhooks (`customers/data_request`, `customers/redact`, `shop/redact`), which
  Shopify sends to the URLs set in the app's configuration, not to subscriptions:
  `compliance_webhook()` builds one in Shopify's documented shape, signed with the app's
  client secret, and `send_compliance()` posts it.

Stand-alone for the demo: `python -m testservers shopify --port 8801`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

import requests

from testservers.base import HTTPError, PlatformServer, RateLimiter, Response, route

SHOP = r"(?P<shop>[a-z0-9][a-z0-9-]*\.myshopify\.com)"
# Shopify's error message, not a secret.
BAD_LOGIN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
TOPICS = {
    "PRODUCTS_CREATE": "products/create",
    "PRODUCTS_UPDATE": "products/update",
    "PRODUCTS_DELETE": "products/delete",
    "INVENTORY_LEVELS_UPDATE": "inventory_levels/update",
    "APP_UNINSTALLED": "app/uninstalled",
}


def compliance_payload(
    topic: str,
    *,
    shop: str,
    shop_id: int = 954889,
    customer_id: int = 191167,
    email: str = "john@example.com",
    phone: str = "555-625-1199",
    orders: list | tuple = (),
    data_request_id: int = 9999,
) -> dict:
    """The body of a compliance webhook, in the shape Shopify documents for each topic."""
    payload = {"shop_id": shop_id, "shop_domain": shop}
    if topic == "shop/redact":
        return payload
    payload["customer"] = {"id": customer_id, "email": email, "phone": phone}
    if topic == "customers/data_request":
        payload["orders_requested"] = [int(o) for o in orders]
        payload["data_request"] = {"id": data_request_id}
    else:
        payload["orders_to_redact"] = [int(o) for o in orders]
    return payload


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class Token:
    shop: str
    scopes: list[str]
    secret: str  # the secret that signs this app's webhooks
    revoked: bool = False


@dataclass
class ShopState:
    name: str
    currency: str = "USD"
    products: dict = field(default_factory=dict)  # id -> product (REST shape + levels)
    locations: list = field(default_factory=lambda: ["1001"])
    subscriptions: dict = field(default_factory=dict)  # gid -> (topic, callback, token)
    bulk: dict = field(default_factory=dict)  # gid -> operation
    # Fulfilment (issue 19): order id -> order (REST shape), fulfillment order id -> FO.
    orders: dict = field(default_factory=dict)
    fulfillment_orders: dict = field(default_factory=dict)


class Server(PlatformServer):
    name = "shopify"

    def __init__(
        self,
        *,
        api_key="shopify-app-key",
        api_secret="shopify-app-secret",  # noqa: S107 - the local server's own
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.api_key = api_key
        self.api_secret = api_secret
        self.shops: dict[str, ShopState] = {}
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, dict] = {}
        self.bucket_size, self.restore_rate = 1000.0, 50.0
        self.query_cost = 10
        self._buckets: dict[str, tuple[float, float]] = {}
        self.polls_until_complete = 1
        self.ids = itertools.count(7_000_000_000_001)
        self.deliveries: list[dict] = []
        self._state_lock = threading.RLock()
        # The REST Admin API's leaky bucket: 40 requests, 2 a second per shop (standard plans).
        self.rest_limiter = RateLimiter(2.0, 40)
        self.refused_tracking: set[str] = set()  # numbers the carrier check refuses (422)
        if kwargs.get("port"):  # stand-alone for the demo
            self.seed_demo()

    def seed_demo(self) -> None:
        """A demo shop with a custom app (token `shpat_demo`, API secret `shopify-demo-secret`)
        and three products; OAuth works for it too with the default app key and secret."""
        shop = "demo-shop.myshopify.com"
        self.add_shop(shop, "Demo Shopify shop")
        self.add_custom_app(shop, token="shpat_demo", secret="shopify-demo-secret")  # noqa: S106
        self.add_product(
            shop,
            title="Harbour Beanie",
            vendor="Northwind",
            options=["Colour"],
            body_html="<p>Merino, ribbed.</p>",
            variants=[
                {
                    "sku": "HB-NAVY",
                    "price": "24.00",
                    "options": {"Colour": "Navy"},
                    "barcode": "4006381333931",
                    "levels": {"1001": 12},
                },
                {
                    "sku": "HB-RUST",
                    "price": "24.00",
                    "options": {"Colour": "Rust"},
                    "levels": {"1001": 3},
                },
            ],
        )
        self.add_product(
            shop,
            title="Trail Flask",
            vendor="Northwind",
            variants=[{"sku": "TF-500", "price": "18.50", "levels": {"1001": 40}}],
        )
        self.add_product(
            shop,
            title="Canvas Tote",
            vendor="Northwind",
            status="draft",
            variants=[{"sku": "CT-1", "price": "15.00"}],
        )

    # -- test and demo helpers -----------------------------------------------------------

    def add_shop(self, shop: str, name: str = "", currency: str = "USD") -> ShopState:
        self.shops[shop] = ShopState(name=name or shop.split(".")[0].title(), currency=currency)
        return self.shops[shop]

    def add_custom_app(self, shop: str, *, token: str, secret: str, scopes=None) -> str:
        """A custom app made in the shop's admin: its Admin API token and API secret."""
        self.tokens[token] = Token(
            shop=shop, scopes=list(scopes or ["read_products", "read_inventory"]), secret=secret
        )
        return token

    def add_product(
        self,
        shop: str,
        *,
        title: str,
        variants: list[dict],
        vendor: str = "",
        body_html: str = "",
        status: str = "active",
        images: list[str] | None = None,
        options: list[str] | None = None,
    ) -> dict:
        """A product; each variant: sku, price, and optionally barcode, compare_at_price,
        options ({"Size": "M"}), levels ({location: available})."""
        state = self.shops[shop]
        product_id = next(self.ids)
        product = {
            "id": product_id,
            "title": title,
            "body_html": body_html,
            "vendor": vendor,
            "status": status,
            "handle": re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"),
            "updated_at": now_iso(),
            "images": [{"id": next(self.ids), "src": src} for src in images or []],
            "options": [{"name": name} for name in options or []],
            "variants": [],
        }
        for position, spec in enumerate(variants, start=1):
            product["variants"].append(
                {
                    "id": next(self.ids),
                    "product_id": product_id,
                    "sku": spec.get("sku", ""),
                    "barcode": spec.get("barcode", ""),
                    "price": str(spec.get("price", "10.00")),
                    "compare_at_price": spec.get("compare_at_price"),
                    "position": position,
                    "options": dict(spec.get("options") or {}),
                    "inventory_item_id": next(self.ids),
                    "levels": {
                        str(k): {"available": int(v), "updated_at": now_iso()}
                        for k, v in (spec.get("levels") or {state.locations[0]: 5}).items()
                    },
                }
            )
        state.products[product_id] = product
        return product

    def update_product(self, shop: str, product_id: int, **changes) -> dict:
        product = self.shops[shop].products[product_id]
        variant_changes = changes.pop("variants", None)
        product.update(changes)
        if variant_changes:
            for variant, change in zip(product["variants"], variant_changes, strict=False):
                variant.update(change)
        time.sleep(0.001)
        product["updated_at"] = now_iso()
        return product

    def set_level(self, shop: str, inventory_item_id: int, location: str, available: int) -> dict:
        for product in self.shops[shop].products.values():
            for variant in product["variants"]:
                if variant["inventory_item_id"] == inventory_item_id:
                    variant["levels"][str(location)] = {
                        "available": available,
                        "updated_at": now_iso(),
                    }
                    return {
                        "inventory_item_id": inventory_item_id,
                        "location_id": int(location),
                        "available": available,
                        "updated_at": now_iso(),
                        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{inventory_item_id}"
                        f"?inventory_item_id={inventory_item_id}",
                    }
        raise KeyError(inventory_item_id)

    def rest_product(self, shop: str, product_id: int) -> dict:
        """The `products/update` webhook payload (Shopify's REST shape)."""
        product = self.shops[shop].products[product_id]
        names = [o["name"] for o in product["options"]]
        variants = []
        for variant in product["variants"]:
            entry = {k: v for k, v in variant.items() if k not in ("levels", "options")}
            for index, name in enumerate(names, start=1):
                entry[f"option{index}"] = variant["options"].get(name)
            entry["inventory_quantity"] = sum(
                level["available"] for level in variant["levels"].values()
            )
            variants.append(entry)
        return {
            **{k: v for k, v in product.items() if k not in ("variants",)},
            "variants": variants,
            "options": [{"name": name, "position": i + 1} for i, name in enumerate(names)],
        }

    def subscriptions(self, shop: str) -> list[tuple[str, str]]:
        return [(topic, url) for topic, url, _ in self.shops[shop].subscriptions.values()]

    def webhook_requests(
        self, shop: str, topic: str, payload: dict, *, webhook_id: str = "", secret: str = ""
    ) -> list[tuple[str, bytes, dict]]:
        """The signed POSTs Shopify makes for `topic` (REST topic name): (url, body, headers)
        for each subscriber, for a test client to send."""
        body = json.dumps(payload).encode()
        out = []
        for sub_topic, url, token in list(self.shops[shop].subscriptions.values()):
            if TOPICS.get(sub_topic) != topic:
                continue
            key = secret or self.tokens[token].secret
            signature = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest())
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": topic,
                "X-Shopify-Shop-Domain": shop,
                "X-Shopify-Webhook-Id": webhook_id or secrets.token_hex(16),
                "X-Shopify-API-Version": "2025-01",
                "X-Shopify-Triggered-At": now_iso(),
                "X-Shopify-Hmac-Sha256": signature.decode(),
            }
            out.append((url, body, headers))
        return out

    def compliance_webhook(
        self, shop: str, topic: str, *, secret: str = "", webhook_id: str = "", **fields
    ) -> tuple[bytes, dict]:
        """A compliance webhook as Shopify sends it: (body, headers). `fields` are those of
        `compliance_payload`."""
        body = json.dumps(compliance_payload(topic, shop=shop, **fields)).encode()
        key = secret or self.api_secret
        signature = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest())
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": webhook_id or secrets.token_hex(16),
            "X-Shopify-API-Version": "2025-01",
            "X-Shopify-Triggered-At": now_iso(),
            "X-Shopify-Hmac-Sha256": signature.decode(),
        }
        return body, headers

    def send_compliance(self, url: str, shop: str, topic: str, **fields) -> int:
        """POST a compliance webhook to `url` (the app's compliance URL); the status."""
        body, headers = self.compliance_webhook(shop, topic, **fields)
        response = requests.post(url, data=body, headers=headers, timeout=10)
        self.deliveries.append({"topic": topic, "url": url, "status": response.status_code})
        return response.status_code

    def deliver(self, shop: str, topic: str, payload: dict, **kwargs) -> list[int]:
        """Post a webhook over HTTP to each subscriber of `topic`; their statuses."""
        statuses = []
        for url, body, headers in self.webhook_requests(shop, topic, payload, **kwargs):
            response = requests.post(url, data=body, headers=headers, timeout=10)
            self.deliveries.append({"topic": topic, "url": url, "status": response.status_code})
            statuses.append(response.status_code)
        return statuses

    # -- OAuth ---------------------------------------------------------------------------

    def _app_hmac(self, params: dict) -> str:
        message = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "hmac")
        return hmac.new(self.api_secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    @route("GET", rf"/{SHOP}/admin/oauth/authorize")
    def authorize(self, request):
        shop = request.params["shop"]
        missing = [n for n in ("client_id", "scope", "redirect_uri", "state") if not request.arg(n)]
        if shop not in self.shops:
            return Response(404, "There's no shop at this address.")
        if missing or request.arg("client_id") != self.api_key:
            return Response(
                400,
                "Oauth error invalid_request: "
                + ("missing " + ", ".join(missing) if missing else "unknown client_id"),
            )
        code = secrets.token_hex(16)
        self.codes[code] = {
            "shop": shop,
            "scopes": request.arg("scope").split(","),
            "at": time.time(),
        }
        params = {
            "code": code,
            "host": base64.b64encode(f"{shop}/admin".encode()).decode(),
            "shop": shop,
            "state": request.arg("state"),
            "timestamp": str(int(time.time())),
        }
        params["hmac"] = self._app_hmac(params)
        target = f"{request.arg('redirect_uri')}?{urlencode(params)}"
        page = (
            "<!doctype html><title>Install app</title><h1>Install this app on "
            f"{html.escape(self.shops[shop].name)}?</h1><p>It asks for: "
            f"{html.escape(request.arg('scope'))}</p><a id='install' href='{html.escape(target)}'>"
            "Install app</a>"
        )
        return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})

    @route("POST", rf"/{SHOP}/admin/oauth/access_token")
    def access_token(self, request):
        body = (
            request.json() if "json" in request.headers.get("content-type", "") else request.form()
        )
        grant = self.codes.pop(body.get("code", ""), None)
        if (
            body.get("client_id") != self.api_key
            or body.get("client_secret") != self.api_secret
            or grant is None
            or grant["shop"] != request.params["shop"]
            or time.time() - grant["at"] > 60
        ):
            raise HTTPError(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "The authorization code was not found or was already used",
                },
            )
        token = "shpua_" + secrets.token_hex(16)
        self.tokens[token] = Token(
            shop=grant["shop"], scopes=grant["scopes"], secret=self.api_secret
        )
        return {"access_token": token, "scope": ",".join(grant["scopes"])}

    @route("DELETE", rf"/{SHOP}/admin/api_permissions/current\.json")
    def revoke(self, request):
        token = self._token(request)
        token.revoked = True
        return {}

    # -- Admin API ----------------------------------------------------------------------

    def _token(self, request) -> Token:
        token = self.tokens.get(request.headers.get("x-shopify-access-token", ""))
        if token is None or token.revoked or token.shop != request.params["shop"]:
            raise HTTPError(401, {"errors": BAD_LOGIN})
        return token

    def _spend(self, shop: str, cost: float) -> dict | None:
        now = time.monotonic()
        with self._state_lock:
            available, last = self._buckets.get(shop, (self.bucket_size, now))
            available = min(self.bucket_size, available + (now - last) * self.restore_rate)
            status = {
                "maximumAvailable": self.bucket_size,
                "currentlyAvailable": available,
                "restoreRate": self.restore_rate,
            }
            if available < cost:
                self._buckets[shop] = (available, now)
                return status
            self._buckets[shop] = (available - cost, now)
        return None

    @route("POST", rf"/{SHOP}/admin/api/(?P<version>\d{{4}}-\d{{2}})/graphql\.json")
    def graphql(self, request):
        shop = request.params["shop"]
        token = self._token(request)
        body = request.json() or {}
        query, variables = body.get("query", ""), body.get("variables") or {}
        throttle = self._spend(shop, self.query_cost)
        if throttle is not None:
            return {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": self.query_cost,
                        "actualQueryCost": None,
                        "throttleStatus": throttle,
                    }
                },
            }
        state = self.shops[shop]
        if "bulkOperationRunQuery" in query:
            data = self._bulk_run(shop, state, variables.get("query") or query, token)
        elif "webhookSubscriptionCreate" in query:
            data = self._subscribe(state, variables, request)
        elif "webhookSubscriptionDelete" in query:
            gid = variables.get("id", "")
            state.subscriptions.pop(gid, None)
            data = {
                "webhookSubscriptionDelete": {"deletedWebhookSubscriptionId": gid, "userErrors": []}
            }
        elif "inventoryItem(" in query:
            data = {"inventoryItem": self._inventory_item(state, variables.get("id", ""))}
        elif "node(" in query:
            data = {"node": self._bulk_poll(state, variables.get("id", ""))}
        elif re.search(r"\bshop\s*\{", query):
            data = {
                "shop": {
                    "name": state.name,
                    "myshopifyDomain": shop,
                    "currencyCode": state.currency,
                },
                "appInstallation": {"accessScopes": [{"handle": s} for s in token.scopes]},
            }
        else:
            return {
                "errors": [
                    {
                        "message": "Field doesn't exist on type 'QueryRoot'",
                        "extensions": {"code": "undefinedField"},
                    }
                ]
            }
        return {"data": data, "extensions": {"cost": {"requestedQueryCost": self.query_cost}}}

    def _subscribe(self, state: ShopState, variables: dict, request) -> dict:
        topic = variables.get("topic", "")
        sub = variables.get("sub") or variables.get("webhookSubscription") or {}
        url = sub.get("callbackUrl", "")
        errors = []
        if topic not in TOPICS:
            errors.append({"field": ["topic"], "message": f"Topic {topic} is not valid"})
        if not url.startswith(("https://", "http://")):
            errors.append({"field": ["callbackUrl"], "message": "Address is invalid"})
        if any(t == topic and u == url for t, u, _ in state.subscriptions.values()):
            errors.append(
                {
                    "field": ["callbackUrl"],
                    "message": "Address for this topic has already been taken",
                }
            )
        if errors:
            return {
                "webhookSubscriptionCreate": {"webhookSubscription": None, "userErrors": errors}
            }
        gid = f"gid://shopify/WebhookSubscription/{next(self.ids)}"
        token = request.headers.get("x-shopify-access-token", "")
        state.subscriptions[gid] = (topic, url, token)
        return {"webhookSubscriptionCreate": {"webhookSubscription": {"id": gid}, "userErrors": []}}

    def _inventory_item(self, state: ShopState, gid: str) -> dict | None:
        item_id = int(gid.rsplit("/", 1)[-1] or 0)
        for product in state.products.values():
            for variant in product["variants"]:
                if variant["inventory_item_id"] == item_id:
                    return {
                        "inventoryLevels": {
                            "edges": [
                                {
                                    "node": {
                                        "updatedAt": level["updated_at"],
                                        "location": {"id": f"gid://shopify/Location/{loc}"},
                                        "quantities": [
                                            {"name": "available", "quantity": level["available"]}
                                        ],
                                    }
                                }
                                for loc, level in variant["levels"].items()
                            ]
                        }
                    }
        return None

    # -- bulk operations --------------------------------------------------------------------

    def _bulk_run(self, shop: str, state: ShopState, inner: str, token: Token) -> dict:
        running = [op for op in state.bulk.values() if op["status"] in ("CREATED", "RUNNING")]
        if running:
            return {
                "bulkOperationRunQuery": {
                    "bulkOperation": None,
                    "userErrors": [
                        {
                            "field": None,
                            "message": "A bulk query operation for this app and shop is "
                            f"already in progress: {running[0]['id']}.",
                        }
                    ],
                }
            }
        if "products" not in inner or "variants" not in inner or "edges" not in inner:
            return {
                "bulkOperationRunQuery": {
                    "bulkOperation": None,
                    "userErrors": [
                        {
                            "field": ["query"],
                            "message": "Bulk queries must contain at least one connection.",
                        }
                    ],
                }
            }
        gid = f"gid://shopify/BulkOperation/{next(self.ids)}"
        state.bulk[gid] = {"id": gid, "status": "CREATED", "polls": 0, "shop": shop, "lines": None}
        return {
            "bulkOperationRunQuery": {
                "bulkOperation": {"id": gid, "status": "CREATED"},
                "userErrors": [],
            }
        }

    def _bulk_poll(self, state: ShopState, gid: str) -> dict | None:
        op = state.bulk.get(gid)
        if op is None:
            return None
        op["polls"] += 1
        if op["status"] == "CREATED":
            op["status"] = "RUNNING"
        if op["status"] == "RUNNING" and op["polls"] >= self.polls_until_complete:
            op["lines"] = self._jsonl(state)
            op["status"] = "COMPLETED"
        result = {
            "id": gid,
            "status": op["status"],
            "errorCode": None,
            "objectCount": str(len(op["lines"] or [])),
            "url": None,
            "partialDataUrl": None,
        }
        if op["status"] == "COMPLETED" and op["lines"]:
            result["url"] = f"{self.url}/bulk/{gid.rsplit('/', 1)[-1]}.jsonl"
        return result

    def _jsonl(self, state: ShopState) -> list[str]:
        lines = []
        for product in state.products.values():
            pgid = f"gid://shopify/Product/{product['id']}"
            lines.append(
                json.dumps(
                    {
                        "id": pgid,
                        "title": product["title"],
                        "descriptionHtml": product["body_html"],
                        "vendor": product["vendor"],
                        "status": product["status"].upper(),
                        "handle": product["handle"],
                        "updatedAt": product["updated_at"],
                    }
                )
            )
            for image in product["images"]:
                lines.append(
                    json.dumps(
                        {
                            "id": f"gid://shopify/MediaImage/{image['id']}",
                            "image": {"url": image["src"]},
                            "__parentId": pgid,
                        }
                    )
                )
            for variant in product["variants"]:
                vgid = f"gid://shopify/ProductVariant/{variant['id']}"
                lines.append(
                    json.dumps(
                        {
                            "id": vgid,
                            "sku": variant["sku"],
                            "barcode": variant["barcode"],
                            "price": variant["price"],
                            "compareAtPrice": variant["compare_at_price"],
                            "position": variant["position"],
                            "selectedOptions": [
                                {"name": k, "value": v} for k, v in variant["options"].items()
                            ],
                            "inventoryItem": {
                                "id": f"gid://shopify/InventoryItem/{variant['inventory_item_id']}"
                            },
                            "__parentId": pgid,
                        }
                    )
                )
                for loc, level in variant["levels"].items():
                    lines.append(
                        json.dumps(
                            {
                                "id": f"gid://shopify/InventoryLevel/{variant['inventory_item_id']}{loc}",
                                "updatedAt": level["updated_at"],
                                "location": {"id": f"gid://shopify/Location/{loc}"},
                                "quantities": [
                                    {"name": "available", "quantity": level["available"]}
                                ],
                                "__parentId": vgid,
                            }
                        )
                    )
        return lines

    @route("GET", r"/bulk/(?P<op>\d+)\.jsonl")
    def bulk_file(self, request):
        gid = f"gid://shopify/BulkOperation/{request.params['op']}"
        for state in self.shops.values():
            op = state.bulk.get(gid)
            if op and op["lines"] is not None:
                return Response(
                    200, "\n".join(op["lines"]) + "\n", {"Content-Type": "application/jsonl"}
                )
        return Response(404, "NoSuchKey")

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"errors": message})

    # -- fulfilment (REST Admin API) ----------------------------------------------------------

    def add_order(self, shop: str, order_id: int, lines: list[tuple[int, str, int]]) -> dict:
        """An order with one open fulfillment order: lines are (line item id, sku, quantity)."""
        with self._state_lock:
            state = self.shops[shop]
            fo_id = next(self.ids)
            order = {
                "id": order_id,
                "line_items": [
                    {"id": li, "sku": sku, "quantity": q, "fulfillable_quantity": q}
                    for li, sku, q in lines
                ],
                "fulfillments": [],
            }
            state.orders[order_id] = order
            state.fulfillment_orders[fo_id] = {
                "id": fo_id,
                "order_id": order_id,
                "assigned_location_id": int(state.locations[0]),
                "request_status": "unsubmitted",
                "status": "open",
                "supported_actions": ["create_fulfillment"],
                "line_items": [
                    {
                        "id": next(self.ids),
                        "shop_id": 1,
                        "fulfillment_order_id": fo_id,
                        "line_item_id": li,
                        "inventory_item_id": next(self.ids),
                        "quantity": q,
                        "fulfillable_quantity": q,
                        "variant_id": next(self.ids),
                    }
                    for li, _, q in lines
                ],
            }
            return order

    def _rest(self, request) -> ShopState:
        """Every REST call: the token, then the shop's leaky bucket (429 with Retry-After)."""
        self._token(request)
        shop = request.params["shop"]
        wait = self.rest_limiter.take(shop)
        if wait:
            raise HTTPError(
                429,
                {"errors": "Exceeded 2 calls per second for api client. Reduce request rates "
                           "to resume uninterrupted service."},
                {"Retry-After": f"{max(wait, 1.0):.1f}"},
            )  # fmt: skip
        return self.shops[shop]

    def _order(self, state: ShopState, order_id: str) -> dict:
        order = state.orders.get(int(order_id)) if order_id.isdigit() else None
        if order is None:
            raise HTTPError(404, {"errors": "Not Found"})
        return order

    @route(
        "GET",
        rf"/{SHOP}/admin/api/(?P<version>\d{{4}}-\d{{2}})/orders/(?P<order>\d+)/"
        r"fulfillment_orders\.json",
    )
    def fulfillment_orders(self, request):
        state = self._rest(request)
        order = self._order(state, request.params["order"])
        with self._state_lock:
            found = [
                fo for fo in state.fulfillment_orders.values() if fo["order_id"] == order["id"]
            ]
            return {"fulfillment_orders": json.loads(json.dumps(found))}

    @route(
        "GET",
        rf"/{SHOP}/admin/api/(?P<version>\d{{4}}-\d{{2}})/orders/(?P<order>\d+)/"
        r"fulfillments\.json",
    )
    def order_fulfillments(self, request):
        state = self._rest(request)
        order = self._order(state, request.params["order"])
        with self._state_lock:
            return {"fulfillments": json.loads(json.dumps(order["fulfillments"]))}

    @route("POST", rf"/{SHOP}/admin/api/(?P<version>\d{{4}}-\d{{2}})/fulfillments\.json")
    def create_fulfillment(self, request):
        state = self._rest(request)
        try:
            body = (request.json() or {}).get("fulfillment") or {}
        except ValueError:
            raise HTTPError(
                400, {"errors": {"fulfillment": "Required parameter missing or invalid"}}
            ) from None
        groups = body.get("line_items_by_fulfillment_order")
        if not isinstance(groups, list) or not groups:
            message = "line_items_by_fulfillment_order must contain at least one fulfillment order"
            raise HTTPError(422, {"errors": [message]})
        tracking = body.get("tracking_info") or {}
        number = str(tracking.get("number") or "")
        if number and number in self.refused_tracking:
            company = tracking.get("company") or "this carrier"
            message = f"{number} is not a valid tracking number for {company}"
            raise HTTPError(422, {"errors": {"tracking_number": [message]}})
        with self._state_lock:
            taken = []  # (FO line item, quantity)
            order = None
            for group in groups:
                fo = state.fulfillment_orders.get(int(group.get("fulfillment_order_id") or 0))
                if fo is None:
                    raise HTTPError(404, {"errors": "Not Found"})
                if fo["status"] not in ("open", "in_progress"):
                    raise HTTPError(422, {"errors": [
                        f"Fulfillment order {fo['id']} has an unfulfillable status= {fo['status']}."
                    ]})  # fmt: skip
                order = state.orders[fo["order_id"]]
                items = group.get("fulfillment_order_line_items") or [
                    {"id": li["id"], "quantity": li["fulfillable_quantity"]}
                    for li in fo["line_items"]
                ]
                for item in items:
                    li = next((x for x in fo["line_items"] if x["id"] == item.get("id")), None)
                    quantity = int(item.get("quantity") or 0)
                    if li is None or quantity < 1 or quantity > li["fulfillable_quantity"]:
                        raise HTTPError(422, {"errors": [
                            "Invalid fulfillment order line item quantity requested."
                        ]})  # fmt: skip
                    taken.append((fo, li, quantity))
            for _fo, li, quantity in taken:
                li["fulfillable_quantity"] -= quantity
                line = next(x for x in order["line_items"] if x["id"] == li["line_item_id"])
                line["fulfillable_quantity"] -= quantity
            for fo, _, _ in taken:
                left = sum(x["fulfillable_quantity"] for x in fo["line_items"])
                fo["status"] = "closed" if left == 0 else "in_progress"
            skus = {x["id"]: x["sku"] for x in order["line_items"]}
            fulfillment = {
                "id": next(self.ids),
                "order_id": order["id"],
                "status": "success",
                "created_at": now_iso(),
                "updated_at": now_iso(),
                "service": "manual",
                "shipment_status": None,
                "location_id": int(state.locations[0]),
                "tracking_company": tracking.get("company"),
                "tracking_number": number or None,
                "tracking_numbers": [number] if number else [],
                "tracking_url": tracking.get("url") or None,
                "tracking_urls": [tracking["url"]] if tracking.get("url") else [],
                "notify_customer": bool(body.get("notify_customer")),
                "line_items": [
                    {"id": li["line_item_id"], "quantity": q, "sku": skus[li["line_item_id"]]}
                    for _, li, q in taken
                ],
            }  # fmt: skip
            order["fulfillments"].append(fulfillment)
        return Response(201, {"fulfillment": fulfillment})

    def fulfillment(self, shop: str, fulfillment_id: int) -> dict:
        for order in self.shops[shop].orders.values():
            for fulfillment in order["fulfillments"]:
                if fulfillment["id"] == fulfillment_id:
                    return fulfillment
        raise KeyError(fulfillment_id)

    def set_shipment_status(self, shop: str, fulfillment_id: int, status: str) -> dict:
        """The carrier's news (`delivered`, `in_transit`, ...), as `fulfillments/update` says."""
        with self._state_lock:
            fulfillment = self.fulfillment(shop, fulfillment_id)
            fulfillment["shipment_status"] = status
            fulfillment["updated_at"] = now_iso()
            return fulfillment

    def fulfillment_webhook(self, shop: str, fulfillment: dict, *, secret: str,
                            topic: str = "fulfillments/create",
                            webhook_id: str = "") -> tuple[bytes, dict]:  # fmt: skip
        """A `fulfillments/create` or `fulfillments/update` delivery as Shopify signs it:
        (body, headers), for a channel's webhook URL."""
        body = json.dumps(fulfillment).encode()
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": webhook_id or secrets.token_hex(16),
            "X-Shopify-Event-Id": secrets.token_hex(8),
            "X-Shopify-API-Version": "2025-01",
            "X-Shopify-Triggered-At": now_iso(),
            "X-Shopify-Hmac-Sha256": signature.decode(),
        }
        return body, headers


if __name__ == "__main__":
    from testservers.base import run_standalone

    run_standalone(Server)
