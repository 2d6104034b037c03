"""A local Meta Graph API for commerce catalogs: Facebook Login with PKCE and the Catalog
Batch API.

It follows Meta's documents closely enough to catch real mistakes:
- `/{version}/dialog/oauth` needs `client_id`, `redirect_uri`, `state`, `response_type=code`
  and, with PKCE, `code_challenge` with `code_challenge_method=S256`; its "Continue" button
  sends the browser back with `code` and `state`.
- `GET /{version}/oauth/access_token` trades the code (once, with the same redirect URI, the
  app secret and the `code_verifier` whose S256 hash is the challenge) for a short-lived token,
  and `grant_type=fb_exchange_token` trades that for a long-lived one (60 days).
- Every Graph call needs the token (Authorization: Bearer, or `access_token`) and
  `appsecret_proof` = HMAC-SHA256(token, app secret); errors are
  `{"error": {"message", "type": "OAuthException", "code", "error_subcode", "fbtrace_id"}}`
  (190: bad token; 100: bad parameter; 80014: catalog batch rate limit, with
  `X-Business-Use-Case-Usage`).
- `POST /{catalog_id}/items_batch` (`item_type=PRODUCT_ITEM`, `requests` a JSON list of at most
  5,000 `{"method": "UPDATE"|"DELETE", "data": {...}}`) checks each item's required fields
  (id, title, description, availability, condition, price as "12.00 USD", link, image_link,
  brand or gtin or mpn) and answers `handles` and `validation_status`; the batch is applied
  when `GET /{catalog_id}/check_batch_request_status?handle=` reports it `finished` (after
  `polls_until_finished` polls), with per-item `errors` (`item_fail_rate` injects some).
- `DELETE /me/permissions` revokes the token.

Stand-alone for the demo: `python -m testservers meta --port 8803`.
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
from urllib.parse import urlencode

from testservers.base import HTTPError, PlatformServer, RateLimiter, Response, route

V = r"/(?P<version>v\d+\.\d+)"
PRICE_RE = re.compile(r"^\d+(\.\d{1,4})? [A-Z]{3}$")
REQUIRED = ("title", "description", "availability", "condition", "price", "link", "image_link")


class Server(PlatformServer):
    name = "meta"

    def __init__(
        self,
        *,
        app_id="meta-app-id",
        app_secret="meta-app-secret",  # noqa: S107 - the local server's own
        rate=20.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.app_id, self.app_secret = app_id, app_secret
        self.limiter = RateLimiter(rate=rate)
        self.polls_until_finished = 1
        self.item_fail_rate = 0.0
        self.long_lived_seconds = 60 * 24 * 3600
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}  # token -> {"user", "expires", "long"}
        self.catalogs = {"880000000000001": {"name": "Demo catalog", "items": {}}}
        self.businesses = [
            {"id": "770000000000001", "name": "Demo business", "catalogs": ["880000000000001"]}
        ]
        self.batches: dict[str, dict] = {}
        self.ids = itertools.count(1)
        self._lock = threading.RLock()

    # -- errors ---------------------------------------------------------------------------

    def graph_error(
        self, status, code, message, *, subcode=None, type_="OAuthException", headers=None
    ):
        error = {
            "message": message,
            "type": type_,
            "code": code,
            "fbtrace_id": secrets.token_urlsafe(8),
        }
        if subcode:
            error["error_subcode"] = subcode
        return Response(status, {"error": error}, headers or {})

    def error(self, status: int, message: str) -> Response:
        return self.graph_error(status, 100, message, type_="GraphMethodException")

    def random_failure(self, request) -> Response:
        error = self.graph_error(500, 2, "An unexpected error has occurred. Please retry.")
        error.body["error"]["is_transient"] = True
        return error

    # -- login ----------------------------------------------------------------------------

    @route("GET", rf"{V}/dialog/oauth")
    def dialog(self, request):
        missing = [n for n in ("client_id", "redirect_uri", "state") if not request.arg(n)]
        if missing or request.arg("client_id") != self.app_id:
            return Response(400, f"Invalid request: {', '.join(missing) or 'unknown client_id'}")
        if request.arg("response_type", "code") != "code":
            return Response(400, "Unsupported response_type")
        challenge = request.arg("code_challenge", "")
        if challenge and request.arg("code_challenge_method") != "S256":
            return Response(400, "code_challenge_method must be S256")
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "redirect_uri": request.arg("redirect_uri"),
            "challenge": challenge,
            "scope": request.arg("scope", ""),
            "at": time.time(),
        }
        back = urlencode({"code": code, "state": request.arg("state")})
        target = f"{request.arg('redirect_uri')}?{back}"
        page = (
            "<!doctype html><title>Log in with Facebook</title><h1>Continue as Demo User?</h1>"
            f"<a id='continue' href='{html.escape(target)}'>Continue</a>"
        )
        return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})

    @route("GET", rf"{V}/oauth/access_token")
    def access_token(self, request):
        if (
            request.arg("client_id") != self.app_id
            or request.arg("client_secret") != self.app_secret
        ):
            return self.graph_error(400, 1, "Error validating client secret.")
        if request.arg("grant_type") == "fb_exchange_token":
            short = self.tokens.get(request.arg("fb_exchange_token", ""))
            if short is None or short["expires"] < time.time():
                return self.graph_error(400, 190, "Error validating access token.", subcode=463)
            return self._issue(short["scope"], self.long_lived_seconds, long=True)
        grant = self.codes.pop(request.arg("code", ""), None)
        if grant is None:
            return self.graph_error(
                400, 100, "This authorization code has been used.", subcode=36009
            )
        if grant["redirect_uri"] != request.arg("redirect_uri"):
            return self.graph_error(
                400,
                100,
                "Error validating verification code. Please make "
                "sure your redirect_uri is identical to the one you used in "
                "the OAuth dialog request",
                subcode=36008,
            )
        if grant["challenge"]:
            verifier = request.arg("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if digest.rstrip(b"=").decode() != grant["challenge"]:
                return self.graph_error(400, 100, "Invalid code_verifier.")
        return self._issue(grant["scope"], 3600, long=False)

    def _issue(self, scope: str, seconds: int, *, long: bool) -> dict:
        token = "EAAG" + secrets.token_urlsafe(32)
        self.tokens[token] = {"scope": scope, "expires": time.time() + seconds, "long": long}
        return {"access_token": token, "token_type": "bearer", "expires_in": seconds}

    def _auth(self, request) -> dict:
        header = request.headers.get("authorization", "")
        token = (
            header[7:] if header.lower().startswith("bearer ") else request.arg("access_token", "")
        )
        if (
            not token
            and request.body
            and "x-www-form-urlencoded" in request.headers.get("content-type", "")
        ):
            token = request.form().get("access_token", "")
        grant = self.tokens.get(token)
        if grant is None or grant["expires"] < time.time():
            raise HTTPError(
                400,
                {
                    "error": {
                        "message": "Error validating access token: Session "
                        "has expired or the user has changed the password.",
                        "type": "OAuthException",
                        "code": 190,
                        "error_subcode": 463,
                        "fbtrace_id": "x",
                    }
                },
            )
        proof = request.arg("appsecret_proof", "")
        if not proof and "x-www-form-urlencoded" in request.headers.get("content-type", ""):
            proof = request.form().get("appsecret_proof", "")
        expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(proof, expected):
            raise HTTPError(
                400,
                {
                    "error": {
                        "message": "Invalid appsecret_proof provided in the API argument",
                        "type": "GraphMethodException",
                        "code": 100,
                        "fbtrace_id": "x",
                    }
                },
            )
        grant["token"] = token
        return grant

    @route("GET", rf"{V}/me/permissions")
    def permissions(self, request):
        grant = self._auth(request)
        return {
            "data": [{"permission": p, "status": "granted"} for p in grant["scope"].split(",") if p]
        }

    @route("DELETE", rf"{V}/me/permissions")
    def revoke(self, request):
        grant = self._auth(request)
        self.tokens.pop(grant["token"], None)
        return {"success": True}

    @route("GET", rf"{V}/me/businesses")
    def businesses_list(self, request):
        self._auth(request)
        return {
            "data": [
                {
                    "id": b["id"],
                    "name": b["name"],
                    "owned_product_catalogs": {
                        "data": [{"id": c, "name": self.catalogs[c]["name"]} for c in b["catalogs"]]
                    },
                }
                for b in self.businesses
            ]
        }

    # -- catalog batch --------------------------------------------------------------------

    def _item_errors(self, request_item: dict) -> list[dict]:
        data = request_item.get("data") or {}
        method = request_item.get("method")
        if method not in ("CREATE", "UPDATE", "DELETE"):
            return [{"message": f"Invalid method {method!r}"}]
        if not data.get("id"):
            return [{"message": "id (retailer_id) is required"}]
        if method == "DELETE":
            return []
        errors = [
            {"message": f"Missing required field: {name}"}
            for name in REQUIRED
            if not data.get(name)
        ]
        if data.get("price") and not PRICE_RE.match(str(data["price"])):
            errors.append({"message": "price must look like '9.99 USD'"})
        if data.get("sale_price") and not PRICE_RE.match(str(data["sale_price"])):
            errors.append({"message": "sale_price must look like '9.99 USD'"})
        if data.get("availability") not in (
            None,
            "in stock",
            "out of stock",
            "preorder",
            "available for order",
            "discontinued",
        ):
            errors.append({"message": f"Invalid availability {data.get('availability')!r}"})
        if not (data.get("brand") or data.get("gtin") or data.get("mpn")):
            errors.append({"message": "At least one of brand, gtin or mpn is required"})
        if len(str(data.get("title", ""))) > 200:
            errors.append({"message": "title is longer than 200 characters"})
        return errors

    @route("POST", rf"{V}/(?P<catalog>\d+)/items_batch")
    def items_batch(self, request):
        self._auth(request)
        catalog = self.catalogs.get(request.params["catalog"])
        if catalog is None:
            return self.graph_error(
                400,
                100,
                "Unsupported post request. Object does not exist.",
                subcode=33,
                type_="GraphMethodException",
            )
        if self.limiter.take(request.params["catalog"]):
            usage = {
                request.params["catalog"]: [
                    {
                        "type": "catalog_batch",
                        "call_count": 100,
                        "total_cputime": 1,
                        "total_time": 1,
                        "estimated_time_to_regain_access": 0,
                    }
                ]
            }
            return self.graph_error(
                400,
                80014,
                "There have been too many calls for the catalog batch API.",
                headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
            )
        form = request.form()
        if form.get("item_type") != "PRODUCT_ITEM":
            return self.graph_error(400, 100, "(#100) item_type must be PRODUCT_ITEM")
        try:
            requests_ = json.loads(form.get("requests", ""))
        except ValueError:
            return self.graph_error(400, 100, "(#100) requests must be a JSON array")
        if not isinstance(requests_, list) or not 1 <= len(requests_) <= 5000:
            return self.graph_error(400, 100, "(#100) requests must hold 1 to 5000 items")
        statuses, accepted = [], []
        for item in requests_:
            errors = self._item_errors(item)
            retailer_id = str((item.get("data") or {}).get("id", ""))
            if errors:
                statuses.append({"retailer_id": retailer_id, "errors": errors, "warnings": []})
            else:
                accepted.append(item)
        handle = f"AQ{next(self.ids):06d}" + secrets.token_hex(6)
        self.batches[handle] = {
            "catalog": request.params["catalog"],
            "items": accepted,
            "polls": 0,
            "status": "started",
            "errors": [],
        }
        return {"handles": [handle], "validation_status": statuses}

    @route("GET", rf"{V}/(?P<catalog>\d+)/check_batch_request_status")
    def batch_status(self, request):
        self._auth(request)
        batch = self.batches.get(request.arg("handle", ""))
        if batch is None or batch["catalog"] != request.params["catalog"]:
            return self.graph_error(400, 100, "Invalid handle")
        with self._lock:
            batch["polls"] += 1
            if batch["status"] != "finished" and batch["polls"] >= self.polls_until_finished:
                items = self.catalogs[batch["catalog"]]["items"]
                for line, item in enumerate(batch["items"]):
                    data = item["data"]
                    if self.item_fail_rate and self._random.random() < self.item_fail_rate:
                        batch["errors"].append(
                            {
                                "line": line,
                                "id": data["id"],
                                "message": "The item could not be saved (injected).",
                            }
                        )
                    elif item["method"] == "DELETE":
                        items.pop(data["id"], None)
                    else:
                        items[data["id"]] = {**items.get(data["id"], {}), **data}
                batch["status"] = "finished"
        return {
            "data": [
                {
                    "handle": request.arg("handle"),
                    "status": batch["status"],
                    "errors_total_count": len(batch["errors"]),
                    "errors": batch["errors"],
                    "warnings_total_count": 0,
                    "warnings": [],
                }
            ]
        }

    # -- helpers for tests -------------------------------------------------------------------

    @property
    def catalog_id(self) -> str:
        return next(iter(self.catalogs))

    def items(self, catalog_id: str | None = None) -> dict:
        return self.catalogs[catalog_id or self.catalog_id]["items"]


if __name__ == "__main__":
    from testservers.base import run_standalone

    run_standalone(Server)
