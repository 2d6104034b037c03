"""Google Merchant API: Google's OAuth 2 with PKCE and offline access (a long-lived refresh
token that is not rotated; `invalid_grant` when it was revoked or expired), the Merchant
Center accounts the user reaches, the account's API data source (found, or made once),
product inputs inserted and deleted through Google's HTTP batch endpoint (`multipart/mixed`,
one part per call, at most 1,000 calls a batch), and revoking the grant.

Errors are `{"error": {"code", "message", "status", "details"}}`; 429 is RESOURCE_EXHAUSTED.
"""

import json
import re
import secrets
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import quote, urlencode

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

SCOPE = "https://www.googleapis.com/auth/content"
PRODUCTS = "/products/v1"
BATCH_PATH = "/batch/products/v1"
DATA_SOURCE_NAME = "Shoploop"


def api_url(path: str) -> str:
    return f"{settings.GOOGLE_MERCHANT_API_URL}{path}"


def _error(body: dict, status: int) -> tuple[str, str]:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return error.get("message") or f"HTTP {status}", error.get("status", "")
    return f"HTTP {status}", ""


def classify_status(status: int, body: dict, response=None) -> PlatformError | None:
    if status < 400:
        return None
    message, code = _error(body, status)
    if status == 429 or code == "RESOURCE_EXHAUSTED":
        return PlatformError(
            f"Google rate limit: {message}",
            status=status,
            code=code,
            throttled=True,
            retry_after=(retry_after_of(response) if response is not None else None) or 5.0,
        )
    if status == 401:
        return AuthError(f"Google refused the access token: {message}", status=401, code=code)
    if is_transient_status(status):
        return PlatformError(f"Google: {message}", status=status, code=code, transient=True)
    return PlatformError(f"Google: {message}", status=status, code=code)


def classify(response) -> PlatformError | None:
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    return classify_status(response.status_code, body, response)


def _classify_token(response) -> PlatformError | None:
    if response.status_code in (400, 401):
        try:
            body = response.json()
        except ValueError:
            body = {}
        return GrantError(
            f"Google refused the grant: {body.get('error', '')} "
            f"({body.get('error_description', '')})".strip(),
            status=response.status_code,
            code=body.get("error", ""),
        )
    return classify(response)


class GoogleOAuth:
    platform = "google"
    pkce = True
    needs_shop = False

    def configured(self) -> bool:
        return bool(settings.GOOGLE_CLIENT_ID and settings.GOOGLE_CLIENT_SECRET)

    def authorize_url(self, *, state, redirect_uri, shop=None, code_challenge=None):
        query = urlencode(
            {
                "client_id": settings.GOOGLE_CLIENT_ID,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": SCOPE,
                "access_type": "offline",
                "prompt": "consent",
                "include_granted_scopes": "true",
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{settings.GOOGLE_AUTHORIZE_URL}?{query}"

    def _token(self, session: PlatformSession, form: dict) -> dict:
        return session.request(
            "POST",
            f"{settings.GOOGLE_OAUTH_URL}/token",
            data={
                "client_id": settings.GOOGLE_CLIENT_ID,
                "client_secret": settings.GOOGLE_CLIENT_SECRET,
                **form,
            },
            classify=_classify_token,
        ).json()

    def exchange(self, session, *, code, redirect_uri, shop=None, verifier=None) -> Grant:
        body = self._token(
            session,
            {
                "code": code,
                "redirect_uri": redirect_uri,
                "grant_type": "authorization_code",
                "code_verifier": verifier,
            },
        )
        return Grant(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token", ""),
            access_expires_at=expires_in(body.get("expires_in")),
            scopes=str(body.get("scope", "")).split(),
        )

    def refresh(self, session, refresh_token: str) -> Grant:
        body = self._token(session, {"refresh_token": refresh_token, "grant_type": "refresh_token"})
        return Grant(
            access_token=body["access_token"],
            # Google keeps the same refresh token; a new one, if ever sent, replaces it.
            refresh_token=body.get("refresh_token", "") or refresh_token,
            access_expires_at=expires_in(body.get("expires_in")),
            scopes=str(body.get("scope", "")).split(),
        )

    def accounts(self, session, grant: Grant, *, shop=None) -> list[AccountChoice]:
        body = get(session, "/accounts/v1/accounts", token=grant.access_token)
        return [
            AccountChoice(
                account_id=str(account["accountId"]),
                name=account.get("accountName") or str(account["accountId"]),
                settings={"language": (account.get("languageCode") or "en").split("-")[0]},
            )
            for account in body.get("accounts", [])
        ]

    def revoke(self, session, *, token, account_id, app_settings) -> bool:
        session.request(
            "POST",
            f"{settings.GOOGLE_OAUTH_URL}/revoke",
            data={"token": token},
            classify=classify,
        )
        return True


OAUTH = GoogleOAuth()


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def get(session, path: str, *, token: str, params: dict | None = None) -> dict:
    return session.request(
        "GET", api_url(path), headers=_auth(token), params=params, classify=classify
    ).json()


def ensure_data_source(
    session, *, token: str, account_id: str, language: str, feed_label: str, country: str
) -> str:
    """The account's API data source for Shoploop (`accounts/{a}/dataSources/{id}`)."""
    path = f"/datasources/v1/accounts/{account_id}/dataSources"
    for source in get(session, path, token=token).get("dataSources", []):
        primary = source.get("primaryProductDataSource") or {}
        if (
            source.get("input") == "API"
            and source.get("displayName") == DATA_SOURCE_NAME
            and primary.get("feedLabel") == feed_label
            and primary.get("contentLanguage") == language
        ):
            return source["name"]
    created = session.request(
        "POST",
        api_url(path),
        headers={**_auth(token), "Content-Type": "application/json"},
        data=json.dumps(
            {
                "displayName": DATA_SOURCE_NAME,
                "primaryProductDataSource": {
                    "contentLanguage": language,
                    "feedLabel": feed_label,
                    "countries": [country],
                },
            }
        ),
        classify=classify,
    ).json()
    return created["name"]


def product_input_name(account_id: str, language: str, feed_label: str, offer_id: str) -> str:
    return f"accounts/{account_id}/productInputs/{language}~{feed_label}~{offer_id}"


def batch(session, *, token: str, calls: list[tuple[str, str, dict | None]]) -> list[tuple]:
    """Send calls `(method, path_with_query, json_body)` as one HTTP batch.

    Returns `(status, body)` per call, in order. A call's own failure is in its status; only
    a failure of the whole batch raises.
    """
    boundary = f"batch_{secrets.token_hex(12)}"
    parts = []
    for index, (method, path, body) in enumerate(calls):
        payload = json.dumps(body, separators=(",", ":")) if body is not None else ""
        inner = f"{method} {path} HTTP/1.1\r\n"
        if body is not None:
            inner += "Content-Type: application/json\r\n"
        inner += f"\r\n{payload}"
        parts.append(
            f"--{boundary}\r\nContent-Type: application/http\r\n"
            f"Content-ID: <item{index}>\r\n\r\n{inner}\r\n"
        )
    raw = ("".join(parts) + f"--{boundary}--\r\n").encode()
    response = session.request(
        "POST",
        api_url(BATCH_PATH),
        headers={**_auth(token), "Content-Type": f"multipart/mixed; boundary={boundary}"},
        data=raw,
        classify=classify,
    )
    return parse_batch_response(
        response.headers.get("Content-Type", ""), response.content, len(calls)
    )


def parse_batch_response(content_type: str, content: bytes, count: int) -> list[tuple]:
    match = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not match:
        raise PlatformError("Google's batch answer has no multipart boundary.", transient=True)
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: multipart/mixed; boundary={match.group(1)}\r\n\r\n".encode() + content
    )
    results: list[tuple | None] = [None] * count
    for part in message.iter_parts():
        content_id = part.get("Content-ID", "")
        found = re.search(r"item(\d+)", content_id)
        payload = part.get_payload(decode=True) or b""
        head, _, body = payload.replace(b"\r\n", b"\n").partition(b"\n\n")
        status_line = head.split(b"\n", 1)[0].decode()
        status = int(status_line.split()[1]) if len(status_line.split()) > 1 else 500
        try:
            parsed = json.loads(body) if body.strip() else {}
        except ValueError:
            parsed = {}
        if found and int(found.group(1)) < count:
            results[int(found.group(1))] = (status, parsed)
    return [
        r if r is not None else (500, {"error": {"message": "missing from the batch"}})
        for r in results
    ]


def quote_name(value: str) -> str:
    return quote(value, safe="/~")
