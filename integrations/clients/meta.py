"""Meta Graph API for commerce catalogs: Facebook Login's authorization code flow with PKCE,
the short-lived token exchanged for a long-lived one (about 60 days; Meta has no refresh
token, so an expired one needs reconnecting), the catalogs of the user's businesses, the
Catalog Batch API (`/{catalog_id}/items_batch`, then `/{catalog_id}/check_batch_request_status`
until the batch is finished) and revoking the grant (`DELETE /me/permissions`).

Every call carries the token in the Authorization header and `appsecret_proof` (HMAC-SHA256
of the token keyed by the app secret), which apps with "Require App Secret" must send.
Errors are `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`; code 190
is a dead token; codes 4, 17, 32, 613, 80004 and 80014 are rate limits, with the wait in
`X-Business-Use-Case-Usage` (`estimated_time_to_regain_access`, in minutes).
"""

import hashlib
import hmac
import json
from urllib.parse import urlencode

from django.conf import settings

from integrations.clients import AccountChoice, Grant, expires_in
from integrations.http import (
    AuthError,
    GrantError,
    PlatformError,
    PlatformSession,
    is_transient_status,
)
from integrations.http import retry_after as retry_after_of

THROTTLE_CODES = {4, 17, 32, 613, 80004, 80014}
AUTH_CODES = {190, 102}


def graph_url(path: str) -> str:
    return f"{settings.META_GRAPH_URL}/{settings.META_GRAPH_VERSION}{path}"


def appsecret_proof(token: str) -> str:
    return hmac.new(settings.META_APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()


def _regain_seconds(response) -> float | None:
    header = response.headers.get("X-Business-Use-Case-Usage")
    if not header:
        return None
    try:
        usage = json.loads(header)
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access", 0)
        for entries in usage.values()
        for entry in entries
    ]
    return max(minutes, default=0) * 60 or None


def classify(response) -> PlatformError | None:
    if response.status_code < 400:
        return None
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = error.get("code")
    message = error.get("message") or f"HTTP {response.status_code}"
    if response.status_code == 429 or code in THROTTLE_CODES:
        return PlatformError(
            f"Meta rate limit: {message}",
            status=response.status_code,
            code=code,
            throttled=True,
            # Meta gives the wait in minutes, 0 when it is short: then back off exponentially.
            retry_after=retry_after_of(response) or _regain_seconds(response),
        )
    if code in AUTH_CODES or response.status_code == 401:
        return AuthError(f"Meta refused the access token: {message}", code=code)
    if is_transient_status(response.status_code) or error.get("is_transient"):
        return PlatformError(f"Meta: {message}", status=response.status_code, transient=True)
    return PlatformError(f"Meta: {message} (code {code})", status=response.status_code, code=code)


def _classify_grant(response):
    error = classify(response)
    if error is not None and not error.throttled and not error.transient:
        return GrantError(error.message, code=error.code)
    return error


class MetaOAuth:
    platform = "meta"
    pkce = True
    needs_shop = False

    def configured(self) -> bool:
        return bool(settings.META_APP_ID and settings.META_APP_SECRET)

    def authorize_url(self, *, state, redirect_uri, shop=None, code_challenge=None):
        query = urlencode(
            {
                "client_id": settings.META_APP_ID,
                "redirect_uri": redirect_uri,
                "state": state,
                "response_type": "code",
                "scope": ",".join(settings.META_SCOPES),
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{settings.META_DIALOG_URL}/{settings.META_GRAPH_VERSION}/dialog/oauth?{query}"

    def exchange(self, session: PlatformSession, *, code, redirect_uri, shop=None, verifier=None):
        short = session.request(
            "GET",
            graph_url("/oauth/access_token"),
            params={
                "client_id": settings.META_APP_ID,
                "client_secret": settings.META_APP_SECRET,
                "redirect_uri": redirect_uri,
                "code": code,
                "code_verifier": verifier,
            },
            classify=_classify_grant,
        ).json()
        long = session.request(
            "GET",
            graph_url("/oauth/access_token"),
            params={
                "grant_type": "fb_exchange_token",
                "client_id": settings.META_APP_ID,
                "client_secret": settings.META_APP_SECRET,
                "fb_exchange_token": short["access_token"],
            },
            classify=_classify_grant,
        ).json()
        token = long["access_token"]
        granted = get(session, "/me/permissions", token=token).get("data", [])
        return Grant(
            access_token=token,
            access_expires_at=expires_in(long.get("expires_in")),
            scopes=[p["permission"] for p in granted if p.get("status") == "granted"],
        )

    def refresh(self, session, refresh_token):
        raise GrantError("Meta tokens cannot be refreshed; connect the catalog again.")

    def accounts(self, session, grant: Grant, *, shop=None) -> list[AccountChoice]:
        data = get(
            session,
            "/me/businesses",
            token=grant.access_token,
            params={"fields": "id,name,owned_product_catalogs{id,name}"},
        )
        choices = []
        for business in data.get("data", []):
            for catalog in (business.get("owned_product_catalogs") or {}).get("data", []):
                choices.append(
                    AccountChoice(
                        account_id=str(catalog["id"]),
                        name=f"{catalog.get('name') or catalog['id']} ({business.get('name', '')})",
                        settings={"business_id": str(business["id"])},
                    )
                )
        return choices

    def revoke(self, session, *, token, account_id, app_settings) -> bool:
        session.request(
            "DELETE",
            graph_url("/me/permissions"),
            headers=_auth(token),
            params={"appsecret_proof": appsecret_proof(token)},
            classify=classify,
        )
        return True


OAUTH = MetaOAuth()


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def get(session, path: str, *, token: str, params: dict | None = None) -> dict:
    response = session.request(
        "GET",
        graph_url(path),
        headers=_auth(token),
        params={**(params or {}), "appsecret_proof": appsecret_proof(token)},
        classify=classify,
    )
    return response.json()


def items_batch(session, *, token: str, catalog_id: str, requests: list[dict]) -> dict:
    """Send one batch; returns {"handles": [...], "validation_status": [...]}."""
    response = session.request(
        "POST",
        graph_url(f"/{catalog_id}/items_batch"),
        headers=_auth(token),
        data={
            "item_type": "PRODUCT_ITEM",
            "allow_upsert": "true",
            "requests": json.dumps(requests, separators=(",", ":")),
            "appsecret_proof": appsecret_proof(token),
        },
        classify=classify,
    )
    return response.json()


def batch_status(session, *, token: str, catalog_id: str, handle: str) -> dict:
    data = get(
        session,
        f"/{catalog_id}/check_batch_request_status",
        token=token,
        params={"handle": handle, "load_ids_of_invalid_requests": "true"},
    )
    return (data.get("data") or [{}])[0]
