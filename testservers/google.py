"""A local Google: OAuth 2 with PKCE and offline access, and the Merchant API's accounts,
data sources and product inputs, through Google's HTTP batch endpoint.

It follows Google's documents closely enough to catch real mistakes:
- `/o/oauth2/v2/auth` needs `client_id`, `redirect_uri`, `response_type=code`, the
  `https://www.googleapis.com/auth/content` scope, `state`, and with PKCE a `code_challenge`
  with `code_challenge_method=S256`; "Allow" sends the browser back with `code` and `state`.
- `POST /token` (form-encoded) trades the code once (same redirect URI, client secret and the
  `code_verifier` whose S256 hash is the challenge) for an access token of 3599 s and, with
  `access_type=offline`, a refresh token; `grant_type=refresh_token` gives a new access token
  (the refresh token is not rotated). A revoked or unknown grant answers 400
  `{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}`.
  `POST /revoke` revokes a token and its grant.
- Merchant API calls need `Authorization: Bearer` (401 UNAUTHENTICATED otherwise); errors are
  `{"error": {"code", "message", "status"}}`; rate limits answer 429 RESOURCE_EXHAUSTED with
  `Retry-After`.
- `POST /batch/products/v1` takes `multipart/mixed` parts (`Content-Type: application/http`,
  `Content-ID`), at most 1,000, each an inner `POST .../productInputs:insert?dataSource=` or
  `DELETE .../productInputs/{lang}~{label}~{offerId}?dataSource=`; each part is answered in a
  multipart response with its own status, so one bad offer fails alone. Inserted offers are
  checked for Google's required attributes; `item_fail_rate` injects failures.

Stand-alone for the demo: `python -m testservers google --port 8804`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import re
import secrets
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from testservers.base import HTTPError, PlatformServer, RateLimiter, Response, route

SCOPE = "https://www.googleapis.com/auth/content"
INSERT_RE = re.compile(r"^/products/v1/accounts/(?P<account>\d+)/productInputs:insert$")
DELETE_RE = re.compile(r"^/products/v1/accounts/(?P<account>\d+)/productInputs/(?P<name>[^/]+)$")


def g_error(status: int, message: str, code: str) -> dict:
    return {"error": {"code": status, "message": message, "status": code}}


class Server(PlatformServer):
    name = "google"

    def __init__(
        self,
        *,
        client_id="google-client-id",
        client_secret="google-client-secret",  # noqa: S107 - the local server's own
        rate=20.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.client_id, self.client_secret = client_id, client_secret
        self.limiter = RateLimiter(rate=rate)
        self.retry_after = "1"
        self.item_fail_rate = 0.0
        self.fail_offer_ids: set[str] = set()  # inserts of these offers fail (500, transient)
        # A batch is applied, `batch_applied` is set, then the answer waits for `hold`: the
        # tests kill the worker in between.
        self.batch_applied = threading.Event()
        self.hold: threading.Event | None = None
        self.access_ttl = 3599
        self.codes: dict[str, dict] = {}
        self.access: dict[str, dict] = {}
        self.grants: dict[str, dict] = {}  # refresh token -> grant
        self.refresh_calls = 0
        self.accounts = {"123456789": {"name": "Demo Merchant", "language": "en-US"}}
        self.data_sources: dict[str, list] = {"123456789": []}
        self.products: dict[str, dict] = {}  # "account/dataSource/lang~label~offer" -> input
        self.ids = itertools.count(10_000_001)
        self._lock = threading.RLock()

    def error(self, status: int, message: str) -> Response:
        return Response(
            status, g_error(status, message, "NOT_FOUND" if status == 404 else "INVALID_ARGUMENT")
        )

    def random_failure(self, request) -> Response:
        return Response(503, g_error(503, "The service is currently unavailable.", "UNAVAILABLE"))

    # -- OAuth ------------------------------------------------------------------------------

    @route("GET", r"/o/oauth2/v2/auth")
    def authorize(self, request):
        problems = []
        if request.arg("client_id") != self.client_id:
            problems.append("invalid client_id")
        if request.arg("response_type") != "code":
            problems.append("response_type must be code")
        if SCOPE not in (request.arg("scope") or "").split():
            problems.append("missing the content scope")
        if not request.arg("redirect_uri") or not request.arg("state"):
            problems.append("missing redirect_uri or state")
        if request.arg("code_challenge") and request.arg("code_challenge_method") != "S256":
            problems.append("code_challenge_method must be S256")
        if problems:
            return Response(400, "Error 400: invalid_request — " + "; ".join(problems))
        code = "4/" + secrets.token_urlsafe(24)
        self.codes[code] = {
            "redirect_uri": request.arg("redirect_uri"),
            "challenge": request.arg("code_challenge", ""),
            "offline": request.arg("access_type") == "offline",
            "scope": request.arg("scope"),
        }
        back = {"code": code, "state": request.arg("state"), "scope": request.arg("scope")}
        target = f"{request.arg('redirect_uri')}?{urlencode(back)}"
        page = (
            "<!doctype html><title>Sign in - Google Accounts</title><h1>Shoploop wants to "
            "manage your product listings</h1>"
            f"<a id='allow' href='{html.escape(target)}'>Allow</a>"
        )
        return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})

    def _invalid_grant(self, description="Token has been expired or revoked."):
        return Response(400, {"error": "invalid_grant", "error_description": description})

    @route("POST", r"/token")
    def token(self, request):
        form = request.form()
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return Response(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                return self._invalid_grant("Malformed auth code.")
            if grant["redirect_uri"] != form.get("redirect_uri"):
                return Response(
                    400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"}
                )
            if grant["challenge"]:
                digest = (
                    base64.urlsafe_b64encode(
                        hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    )
                    .rstrip(b"=")
                    .decode()
                )
                if digest != grant["challenge"]:
                    return self._invalid_grant("Invalid code verifier.")
            body = self._access(grant)
            if grant["offline"]:
                refresh = "1//" + secrets.token_urlsafe(32)
                self.grants[refresh] = {**grant, "revoked": False}
                body["refresh_token"] = refresh
            return body
        if form.get("grant_type") == "refresh_token":
            self.refresh_calls += 1
            grant = self.grants.get(form.get("refresh_token", ""))
            if grant is None or grant["revoked"]:
                return self._invalid_grant()
            return self._access(grant)
        return Response(400, {"error": "unsupported_grant_type"})

    def _access(self, grant: dict) -> dict:
        token = "ya29." + secrets.token_urlsafe(32)
        self.access[token] = {"expires": time.time() + self.access_ttl, "grant": grant}
        return {
            "access_token": token,
            "expires_in": self.access_ttl,
            "scope": grant["scope"],
            "token_type": "Bearer",
        }

    @route("POST", r"/revoke")
    def revoke(self, request):
        token = request.form().get("token") or request.arg("token", "")
        found = self.access.pop(token, None)
        grant = found["grant"] if found else self.grants.get(token)
        if grant is None:
            return Response(
                400, {"error": "invalid_token", "error_description": "Token expired or revoked"}
            )
        grant["revoked"] = True
        for key, value in list(self.access.items()):
            if value["grant"] is grant:
                del self.access[key]
        return {}

    def revoke_all(self) -> None:
        for grant in self.grants.values():
            grant["revoked"] = True
        self.access.clear()

    def expire_access_tokens(self) -> None:
        for value in self.access.values():
            value["expires"] = time.time() - 1

    def _auth(self, request) -> None:
        header = request.headers.get("authorization", "")
        grant = self.access.get(header[7:]) if header.startswith("Bearer ") else None
        if grant is None or grant["expires"] < time.time():
            raise HTTPError(
                401,
                g_error(
                    401,
                    "Request had invalid authentication credentials. "
                    "Expected OAuth 2 access token.",
                    "UNAUTHENTICATED",
                ),
            )

    def _limit(self, account: str) -> None:
        if self.limiter.take(account):
            raise HTTPError(
                429,
                g_error(
                    429,
                    "Quota exceeded for quota metric 'Product inputs per minute'.",
                    "RESOURCE_EXHAUSTED",
                ),
                {"Retry-After": self.retry_after},
            )

    # -- accounts and data sources ----------------------------------------------------------

    @route("GET", r"/accounts/v1/accounts")
    def accounts_list(self, request):
        self._auth(request)
        return {
            "accounts": [
                {
                    "name": f"accounts/{a}",
                    "accountId": a,
                    "accountName": v["name"],
                    "adultContent": False,
                    "languageCode": v["language"],
                    "timeZone": {"id": "America/New_York"},
                }
                for a, v in self.accounts.items()
            ]
        }

    @route("GET", r"/datasources/v1/accounts/(?P<account>\d+)/dataSources")
    def sources_list(self, request):
        self._auth(request)
        return {"dataSources": self.data_sources.get(request.params["account"], [])}

    @route("POST", r"/datasources/v1/accounts/(?P<account>\d+)/dataSources")
    def sources_create(self, request):
        self._auth(request)
        account = request.params["account"]
        body = request.json() or {}
        primary = body.get("primaryProductDataSource") or {}
        if (
            not body.get("displayName")
            or not primary.get("contentLanguage")
            or not primary.get("feedLabel")
        ):
            raise HTTPError(
                400,
                g_error(
                    400,
                    "displayName, contentLanguage and feedLabel are required.",
                    "INVALID_ARGUMENT",
                ),
            )
        source_id = str(next(self.ids))
        source = {
            "name": f"accounts/{account}/dataSources/{source_id}",
            "dataSourceId": source_id,
            "displayName": body["displayName"],
            "input": "API",
            "primaryProductDataSource": primary,
        }
        self.data_sources.setdefault(account, []).append(source)
        return source

    # -- products -------------------------------------------------------------------------

    def _insert_errors(self, item: dict) -> list[str]:
        attrs = item.get("productAttributes") or {}
        errors = []
        for name in ("offerId", "contentLanguage", "feedLabel"):
            if not item.get(name):
                errors.append(f"[{name}] is required")
        if len(item.get("offerId", "")) > 50:
            errors.append("[offerId] is longer than 50 characters")
        for name in ("title", "link", "imageLink", "availability", "price"):
            if not attrs.get(name):
                errors.append(f"Missing value [{name}]")
        if attrs.get("availability") not in (
            None,
            "IN_STOCK",
            "OUT_OF_STOCK",
            "PREORDER",
            "BACKORDER",
        ):
            errors.append(f"Invalid value [availability]: {attrs.get('availability')}")
        price = attrs.get("price") or {}
        if price and (
            not str(price.get("amountMicros", "")).isdigit() or not price.get("currencyCode")
        ):
            errors.append("Invalid value [price]")
        if len(attrs.get("title", "")) > 150:
            errors.append("Value too long [title]")
        if (
            not attrs.get("brand")
            and not attrs.get("gtins")
            and attrs.get("identifierExists") is not False
        ):
            errors.append("Missing value [brand]")
        return errors

    def _inner(self, method: str, target: str, body: bytes) -> tuple[int, dict]:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        source = query.get("dataSource", "")
        if method == "POST" and (match := INSERT_RE.match(parts.path)):
            account = match.group("account")
            if not source.startswith(f"accounts/{account}/dataSources/"):
                return 400, g_error(400, "dataSource is required.", "INVALID_ARGUMENT")
            try:
                item = json.loads(body or b"{}")
            except ValueError:
                return 400, g_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
            errors = self._insert_errors(item)
            if errors:
                return 400, g_error(400, "; ".join(errors), "INVALID_ARGUMENT")
            injected = self.item_fail_rate and self._random.random() < self.item_fail_rate
            if injected or item["offerId"] in self.fail_offer_ids:
                return 500, g_error(500, "Internal error encountered (injected).", "INTERNAL")
            name = f"{item['contentLanguage']}~{item['feedLabel']}~{item['offerId']}"
            stored = {
                **item,
                "name": f"accounts/{account}/productInputs/{name}",
                "product": f"accounts/{account}/products/{name}",
                "dataSource": source,
            }
            with self._lock:
                self.products[f"{account}/{name}"] = stored
            return 200, stored
        if method == "DELETE" and (match := DELETE_RE.match(parts.path)):
            key = f"{match.group('account')}/{unquote(match.group('name'))}"
            if not source:
                return 400, g_error(400, "dataSource is required.", "INVALID_ARGUMENT")
            with self._lock:
                if self.products.pop(key, None) is None:
                    return 404, g_error(404, "Requested entity was not found.", "NOT_FOUND")
            return 200, {}
        return 404, g_error(404, f"No such method {method} {parts.path}", "NOT_FOUND")

    @route("POST", r"/batch/products/v1")
    def batch(self, request):
        self._auth(request)
        content_type = request.headers.get("content-type", "")
        match = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
        if not content_type.startswith("multipart/mixed") or not match:
            raise HTTPError(
                400, g_error(400, "A batch request must be multipart/mixed.", "INVALID_ARGUMENT")
            )
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
        )
        parts = list(message.iter_parts())
        if len(parts) > 1000:
            raise HTTPError(
                400, g_error(400, "A batch holds at most 1000 calls.", "INVALID_ARGUMENT")
            )
        accounts = set()
        answers = []
        for part in parts:
            if part.get_content_type() != "application/http":
                raise HTTPError(
                    400, g_error(400, "Each part must be application/http.", "INVALID_ARGUMENT")
                )
            raw = part.get_payload(decode=True) or b""
            head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
            request_line = head.split(b"\n", 1)[0].decode()
            method, target = request_line.split(" ")[:2]
            found = re.search(r"/accounts/(\d+)/", target)
            if found:
                accounts.add(found.group(1))
            answers.append((part.get("Content-ID", ""), method, target, body))
        for account in accounts:
            self._limit(account)
        boundary = "batch_" + secrets.token_hex(8)
        out = []
        for content_id, method, target, body in answers:
            status, payload = self._inner(method, target, body)
            reason = {
                200: "OK",
                400: "Bad Request",
                404: "Not Found",
                500: "Internal Server Error",
            }.get(status, "")
            response_id = content_id.replace("<", "<response-", 1) if content_id else ""
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                f"Content-ID: {response_id}\r\n\r\n"
                f"HTTP/1.1 {status} {reason}\r\n"
                "Content-Type: application/json; charset=UTF-8\r\n\r\n"
                f"{json.dumps(payload)}\r\n"
            )
        self.batch_applied.set()
        if self.hold is not None:
            self.hold.wait(timeout=60)
        return Response(
            200,
            "".join(out) + f"--{boundary}--\r\n",
            {"Content-Type": f"multipart/mixed; boundary={boundary}"},
        )

    # -- helpers for tests -------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        return next(iter(self.accounts))

    def offers(self) -> dict:
        return {key.split("~")[-1]: value for key, value in self.products.items()}


if __name__ == "__main__":
    from testservers.base import run_standalone

    run_standalone(Server)
