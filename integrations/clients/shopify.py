"""Shopify Admin API: OAuth (authorization code, no PKCE: Shopify does not support it), the
GraphQL Admin API (shop, scopes, bulk operations, inventory levels, webhook subscriptions)
and revoking the grant (`DELETE /admin/api_permissions/current.json`).

The shop's URL is SHOPIFY_SHOP_URL with `{shop}` replaced by its myshopify.com domain.
Offline access tokens do not expire; a 401 means the app was uninstalled or the token revoked.
"""

import json
import re
from urllib.parse import urlencode

import requests
from django.conf import settings

from integrations.clients import AccountChoice, Grant
from integrations.http import AuthError, PlatformError, PlatformSession, is_transient_status
from integrations.http import retry_after as retry_after_of

SHOP_DOMAIN_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
# The catalog topics, and APP_UNINSTALLED (the connection's tokens die with the app).
WEBHOOK_TOPICS = (
    "PRODUCTS_UPDATE",
    "PRODUCTS_DELETE",
    "INVENTORY_LEVELS_UPDATE",
    "APP_UNINSTALLED",
)

BULK_PRODUCTS_QUERY = """
{
  products {
    edges {
      node {
        id
        title
        descriptionHtml
        vendor
        status
        handle
        updatedAt
        media {
          edges { node { ... on MediaImage { id image { url } } } }
        }
        variants {
          edges {
            node {
              id
              sku
              barcode
              price
              compareAtPrice
              position
              selectedOptions { name value }
              inventoryItem {
                id
                inventoryLevels {
                  edges {
                    node {
                      id
                      updatedAt
                      location { id }
                      quantities(names: ["available"]) { name quantity }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
"""


def normalize_shop(value: str) -> str:
    """`Acme` or `https://acme.myshopify.com/admin` -> `acme.myshopify.com`, else ''."""
    shop = (value or "").strip().lower()
    shop = re.sub(r"^https?://", "", shop).split("/", 1)[0]
    if shop and "." not in shop:
        shop = f"{shop}.myshopify.com"
    return shop if SHOP_DOMAIN_RE.match(shop) else ""


def shop_url(shop: str) -> str:
    return settings.SHOPIFY_SHOP_URL.replace("{shop}", shop).rstrip("/")


def gid_number(gid: str) -> str:
    """`gid://shopify/Product/123` -> `123` (the id webhooks use)."""
    return str(gid).rsplit("/", 1)[-1] if gid else ""


def classify(response: requests.Response) -> PlatformError | None:
    status = response.status_code
    if status == 429:
        return PlatformError(
            "Shopify throttled the request.",
            status=429,
            throttled=True,
            retry_after=retry_after_of(response) or 2.0,
        )
    if status == 401:
        return AuthError(
            "Shopify refused the access token (the app was uninstalled or the token revoked).",
            status=401,
        )
    if is_transient_status(status):
        return PlatformError(f"Shopify answered HTTP {status}.", status=status, transient=True)
    if status >= 400:
        return PlatformError(
            f"Shopify answered HTTP {status}: {_errors_text(response)}", status=status
        )
    if response.request.path_url.endswith("graphql.json"):
        return _graphql_errors(response)
    return None


def _errors_text(response) -> str:
    try:
        errors = response.json().get("errors")
    except ValueError:
        return response.text[:200]
    if isinstance(errors, list):
        return "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
    if isinstance(errors, dict):  # REST 422s: {"field": ["message", ...]}
        return "; ".join(
            f"{name}: {', '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
            for name, msgs in errors.items()
        )[:300]
    return str(errors)[:300]


def _graphql_errors(response) -> PlatformError | None:
    try:
        body = response.json()
    except ValueError:
        return PlatformError("Shopify answered something that is not JSON.", transient=True)
    errors = body.get("errors")
    if not errors:
        return None
    codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
    if "THROTTLED" in codes:
        throttle = ((body.get("extensions") or {}).get("cost") or {}).get("throttleStatus") or {}
        wait = None
        requested = ((body.get("extensions") or {}).get("cost") or {}).get("requestedQueryCost")
        if throttle.get("restoreRate") and requested is not None:
            missing = float(requested) - float(throttle.get("currentlyAvailable", 0))
            wait = max(0.5, missing / float(throttle["restoreRate"]))
        return PlatformError(
            "Shopify throttled the query.", throttled=True, retry_after=wait if wait else 1.0
        )
    if "ACCESS_DENIED" in codes:
        return AuthError(f"Shopify denied access: {_errors_text(response)}")
    return PlatformError(f"Shopify GraphQL error: {_errors_text(response)}")


class ShopifyOAuth:
    platform = "shopify"
    pkce = False
    needs_shop = True

    def configured(self) -> bool:
        return bool(settings.SHOPIFY_API_KEY and settings.SHOPIFY_API_SECRET)

    def authorize_url(self, *, state: str, redirect_uri: str, shop: str, code_challenge=None):
        query = urlencode(
            {
                "client_id": settings.SHOPIFY_API_KEY,
                "scope": ",".join(settings.SHOPIFY_SCOPES),
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{shop_url(shop)}/admin/oauth/authorize?{query}"

    def exchange(self, session: PlatformSession, *, code, redirect_uri, shop, verifier=None):
        response = session.request(
            "POST",
            f"{shop_url(shop)}/admin/oauth/access_token",
            json={
                "client_id": settings.SHOPIFY_API_KEY,
                "client_secret": settings.SHOPIFY_API_SECRET,
                "code": code,
            },
            classify=_classify_token,
        )
        body = response.json()
        scopes = [s for s in str(body.get("scope", "")).split(",") if s]
        return Grant(access_token=body["access_token"], scopes=scopes)

    def refresh(self, session, refresh_token):  # offline tokens do not expire
        raise PlatformError("Shopify offline tokens are not refreshed.")

    def accounts(self, session, grant: Grant, *, shop: str) -> list[AccountChoice]:
        info = shop_info(session, shop=shop, token=grant.access_token)
        return [AccountChoice(account_id=shop, name=info["name"], settings=info["settings"])]

    def revoke(self, session, *, token: str, account_id: str, app_settings: dict) -> bool:
        response = session.request(
            "DELETE",
            f"{shop_url(account_id)}/admin/api_permissions/current.json",
            headers={"X-Shopify-Access-Token": token},
            classify=classify,
        )
        return response.status_code == 200


def _classify_token(response):
    if response.status_code in (400, 401, 403):
        return AuthError(
            f"Shopify refused the authorization code: {_errors_text(response)}",
            status=response.status_code,
        )
    return classify(response)


OAUTH = ShopifyOAuth()


def graphql(session: PlatformSession, *, shop: str, token: str, query: str, variables=None):
    response = session.request(
        "POST",
        f"{shop_url(shop)}/admin/api/{settings.SHOPIFY_API_VERSION}/graphql.json",
        headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
        data=json.dumps({"query": query, "variables": variables or {}}),
        classify=classify,
    )
    return response.json()["data"]


def shop_info(session, *, shop: str, token: str) -> dict:
    data = graphql(
        session,
        shop=shop,
        token=token,
        query="{ shop { name myshopifyDomain currencyCode } "
        "appInstallation { accessScopes { handle } } }",
    )
    scopes = [s["handle"] for s in data["appInstallation"]["accessScopes"]]
    return {
        "name": data["shop"]["name"],
        "scopes": scopes,
        "settings": {"currency": data["shop"]["currencyCode"]},
    }


def bulk_start(session, *, shop: str, token: str) -> dict:
    data = graphql(
        session,
        shop=shop,
        token=token,
        query="mutation bulk($query: String!) { bulkOperationRunQuery(query: $query) "
        "{ bulkOperation { id status } userErrors { field message } } }",
        variables={"query": BULK_PRODUCTS_QUERY},
    )
    result = data["bulkOperationRunQuery"]
    if result["userErrors"]:
        raise PlatformError(
            "Shopify refused the bulk operation: "
            + "; ".join(e["message"] for e in result["userErrors"])
        )
    return result["bulkOperation"]


def bulk_status(session, *, shop: str, token: str, operation_id: str) -> dict:
    data = graphql(
        session,
        shop=shop,
        token=token,
        query="query op($id: ID!) { node(id: $id) { ... on BulkOperation "
        "{ id status errorCode objectCount url partialDataUrl } } }",
        variables={"id": operation_id},
    )
    return data["node"]


def bulk_lines(url: str):
    """The JSONL result of a bulk operation, line by line (a signed download URL, no token)."""
    with requests.get(url, stream=True, timeout=settings.INTEGRATIONS_HTTP_TIMEOUT) as response:
        if response.status_code != 200:
            raise PlatformError(
                f"The bulk operation's file answered HTTP {response.status_code}.",
                transient=response.status_code >= 500,
            )
        for line in response.iter_lines():
            if line:
                yield json.loads(line)


def inventory_levels(session, *, shop: str, token: str, inventory_item_id: str) -> dict:
    """{location_id: {"available": n, "updated_at": iso}} of one inventory item."""
    data = graphql(
        session,
        shop=shop,
        token=token,
        query="query levels($id: ID!) { inventoryItem(id: $id) { inventoryLevels(first: 100) "
        "{ edges { node { updatedAt location { id } "
        'quantities(names: ["available"]) { name quantity } } } } } }',
        variables={"id": f"gid://shopify/InventoryItem/{inventory_item_id}"},
    )
    item = data.get("inventoryItem")
    if item is None:
        return {}
    levels = {}
    for edge in item["inventoryLevels"]["edges"]:
        node = edge["node"]
        available = next((q["quantity"] for q in node["quantities"] if q["name"] == "available"), 0)
        levels[gid_number(node["location"]["id"])] = {
            "available": int(available),
            "updated_at": node.get("updatedAt") or "",
        }
    return levels


def webhook_subscribe(session, *, shop: str, token: str, topic: str, callback_url: str) -> str:
    data = graphql(
        session,
        shop=shop,
        token=token,
        query="mutation sub($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) "
        "{ webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) "
        "{ webhookSubscription { id } userErrors { field message } } }",
        variables={"topic": topic, "sub": {"callbackUrl": callback_url, "format": "JSON"}},
    )
    result = data["webhookSubscriptionCreate"]
    if result["userErrors"]:
        messages = "; ".join(e["message"] for e in result["userErrors"])
        if "already been taken" in messages:
            return ""
        raise PlatformError(f"Shopify refused the webhook subscription {topic}: {messages}")
    return result["webhookSubscription"]["id"]


def webhook_unsubscribe(session, *, shop: str, token: str, subscription_id: str) -> None:
    graphql(
        session,
        shop=shop,
        token=token,
        query="mutation unsub($id: ID!) { webhookSubscriptionDelete(id: $id) "
        "{ deletedWebhookSubscriptionId userErrors { field message } } }",
        variables={"id": subscription_id},
    )


# -- fulfilment (issue 19): the REST Admin API's fulfillment orders and fulfillments -----------


def rest(session, method: str, *, shop: str, token: str, path: str, body=None) -> dict:
    response = session.request(
        method,
        f"{shop_url(shop)}/admin/api/{settings.SHOPIFY_API_VERSION}/{path}",
        headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
        data=json.dumps(body) if body is not None else None,
        classify=classify,
    )
    return response.json()


def fulfillment_orders(session, *, shop: str, token: str, order_id: str) -> list[dict]:
    path = f"orders/{order_id}/fulfillment_orders.json"
    return rest(session, "GET", shop=shop, token=token, path=path)["fulfillment_orders"]


def order_fulfillments(session, *, shop: str, token: str, order_id: str) -> list[dict]:
    return rest(session, "GET", shop=shop, token=token,
                path=f"orders/{order_id}/fulfillments.json")["fulfillments"]  # fmt: skip


def fulfillment_create(session, *, shop: str, token: str, line_items_by_fulfillment_order: list,
                       tracking_info: dict, notify_customer: bool = True) -> dict:  # fmt: skip
    body = {
        "fulfillment": {
            "line_items_by_fulfillment_order": line_items_by_fulfillment_order,
            "tracking_info": tracking_info,
            "notify_customer": notify_customer,
        }
    }
    return rest(session, "POST", shop=shop, token=token, path="fulfillments.json",
                body=body)["fulfillment"]  # fmt: skip
