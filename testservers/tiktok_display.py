"""A local TikTok for Developers: Login Kit for Web (OAuth 2) and the Display API.

It speaks what TikTok documents, closely enough to catch real mistakes:

- `GET /v2/auth/authorize/` needs `client_key`, `response_type=code`, a `scope` (comma
  separated, `user.info.basic` and `video.list` at least), the registered `redirect_uri` and
  `state`; its page's "Authorize" link sends the browser back with `code`, `scopes` and
  `state`.
- `POST /v2/oauth/token/` is form-encoded (`client_key`, `client_secret`): `grant_type=
  authorization_code` trades a code once (same redirect URI) for `access_token` (`expires_in`
  86400), `refresh_token` (`refresh_expires_in` 31536000), `open_id`, `scope`,
  `token_type`; `grant_type=refresh_token` gives a new access token and a new refresh token
  (the old one stops working). Errors: `{"error", "error_description", "log_id"}`, e.g.
  `invalid_grant`, `invalid_client`, `invalid_request`. `refuse_refreshes()` makes every
  refresh answer `invalid_grant` (a grant the creator revoked). `POST /v2/oauth/revoke/`.
- `GET /v2/user/info/?fields=`: `{"data": {"user": {...}}, "error": {"code": "ok"}}`;
  `username` only with the `user.info.profile` scope.
- `POST /v2/video/list/?fields=` with JSON `{"max_count": 1..20, "cursor": ms}`: the
  account's videos posted before the cursor, newest first, with the next `cursor` (the last
  video's time in milliseconds) and `has_more`.
- `POST /v2/video/query/?fields=` with `{"filters": {"video_ids": [...]}}` (1 to 20 ids):
  the videos that still exist (a deleted one is left out).
- API errors: `{"data": {}, "error": {"code", "message", "log_id"}}` with
  `access_token_invalid` (401; `expire_tokens_after(n)` kills every access token after n more
  API calls), `scope_not_authorized` (401), `invalid_params` (400), `rate_limit_exceeded`
  (429; past `rate` calls a second per token, or `throttle_next(n, path)`).
- Cover images are served at `/cdn/<name>` without a token, as TikTok's CDN URLs are.

Stand-alone for the demo: `python -m testservers tiktok_display --port 8806` (client key
`demo-tiktok-client-key`, secret `demo-tiktok-client-secret`, account @demo_brand_tt with
four videos and the token `act.demo-tiktok-access` that `seed_demo`'s TikTok connection holds;
the redirect URI is not checked).
"""

from __future__ import annotations

import html
import itertools
import secrets
import threading
import time
from urllib.parse import urlencode

from testservers.base import FileCDN, HTTPError, PlatformServer, RateLimiter, Response, route
from testservers.instagram import _png

ACCESS_TTL = 86_400
REFRESH_TTL = 31_536_000
KNOWN_SCOPES = {"user.info.basic", "user.info.profile", "user.info.stats", "video.list"}
VIDEO_FIELDS = {
    "id", "create_time", "cover_image_url", "share_url", "video_description", "duration",
    "height", "width", "title", "embed_html", "embed_link", "like_count", "comment_count",
    "share_count", "view_count",
}  # fmt: skip
USER_FIELDS = {"open_id", "union_id", "avatar_url", "display_name", "username", "bio_description"}


def _log_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


class Server(FileCDN, PlatformServer):
    name = "tiktok_display"

    def __init__(
        self,
        *,
        client_key="tiktok-client-key",
        client_secret="tiktok-client-secret",  # noqa: S107 - the local server's own
        redirect_uri: str | None = None,
        rate=50.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.client_key, self.client_secret = client_key, client_secret
        self.redirect_uri = redirect_uri  # None: any (the demo)
        self.limiter = RateLimiter(rate=rate, burst=int(rate))
        self.users: dict[str, dict] = {}  # open_id -> {username, display_name}
        self.login_as: str | None = None  # the account the authorize page logs in
        self.codes: dict[str, dict] = {}
        self.access: dict[str, dict] = {}  # access token -> {open_id, scope, expires}
        self.refresh: dict[str, dict] = {}  # refresh token -> {open_id, scope, expires}
        self.videos: dict[str, dict] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.ids = itertools.count(7_300_000_000_000_000_001)
        self.refresh_calls = 0
        self.api_calls = 0
        self._refuse_refresh = False
        self._expire_after: int | None = None
        self._throttles = 0
        self._throttle_path = ""
        self._lock = threading.RLock()

    # -- data for tests and the demo -------------------------------------------------------

    def add_user(self, open_id: str, username: str, display_name: str = "") -> str:
        self.users[open_id] = {"username": username, "display_name": display_name or username}
        self.login_as = self.login_as or open_id
        return open_id

    def token_for(self, open_id: str, scope: str = "user.info.basic,user.info.profile,video.list"):
        """A fresh grant, as the token endpoint would give: (access, refresh)."""
        return self._issue(open_id, scope)

    def add_video(
        self,
        open_id: str,
        *,
        description: str = "",
        title: str = "",
        size: tuple[int, int] = (720, 1280),
        cover: bytes | None = None,
        create_time: int | None = None,
        duration: int = 15,
    ) -> str:
        video_id = str(next(self.ids))
        name = f"{video_id}.jpeg" if cover is not None else f"{video_id}.png"
        data = cover if cover is not None else _png(*size, seed=int(video_id) % 997)
        self.files[name] = ("image/jpeg" if cover is not None else "image/png", data)
        handle = self.users[open_id]["username"]
        self.videos[video_id] = {
            "id": video_id,
            "open_id": open_id,
            "create_time": create_time or int(time.time()),
            "cover": name,
            "share_url": f"https://www.tiktok.com/@{handle}/video/{video_id}",
            "embed_link": f"https://www.tiktok.com/player/v1/{video_id}",
            "video_description": description,
            "title": title,
            "duration": duration,
            "width": size[0],
            "height": size[1],
            "deleted": False,
        }
        return video_id

    def delete_video(self, video_id: str) -> None:
        self.videos[video_id]["deleted"] = True

    def throttle_next(self, count: int = 1, path: str = "") -> None:
        """Answer the next `count` API calls (to `path` only, if given) with a 429."""
        self._throttles += count
        self._throttle_path = path

    def expire_tokens_after(self, calls: int) -> None:
        self._expire_after = calls

    def refuse_refreshes(self, refuse: bool = True) -> None:
        self._refuse_refresh = refuse

    # -- plumbing ----------------------------------------------------------------------------

    def error(self, status: int, message: str) -> Response:
        return Response(status, self._api_error("invalid_params", message))

    def random_failure(self, request) -> Response:
        return Response(500, self._api_error("internal_error", "Something went wrong."))

    @staticmethod
    def _api_error(code: str, message: str) -> dict:
        return {"data": {}, "error": {"code": code, "message": message, "log_id": _log_id()}}

    def _fail(self, status: int, code: str, message: str, headers=None):
        raise HTTPError(status, self._api_error(code, message), headers)

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> Response:
        return Response(
            status, {"error": error, "error_description": description, "log_id": _log_id()}
        )

    def _issue(self, open_id: str, scope: str) -> tuple[str, str]:
        access = "act." + secrets.token_urlsafe(30)
        refresh = "rft." + secrets.token_urlsafe(30)
        now = time.time()
        with self._lock:
            self.access[access] = {"open_id": open_id, "scope": scope, "expires": now + ACCESS_TTL}
            self.refresh[refresh] = {
                "open_id": open_id, "scope": scope, "expires": now + REFRESH_TTL,
            }  # fmt: skip
        return access, refresh

    def _grant_body(self, open_id: str, scope: str) -> dict:
        access, refresh = self._issue(open_id, scope)
        return {
            "access_token": access,
            "expires_in": ACCESS_TTL,
            "open_id": open_id,
            "refresh_expires_in": REFRESH_TTL,
            "refresh_token": refresh,
            "scope": scope,
            "token_type": "Bearer",
        }

    def _api_call(self, request, scope: str) -> dict:
        """Every Display API call: a planned expiry, the bearer token and its scope, the rate."""
        with self._lock:
            self.api_calls += 1
            if self._expire_after is not None:
                self._expire_after -= 1
                if self._expire_after < 0:
                    for grant in self.access.values():
                        grant["expires"] = 0
                    self._expire_after = None
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        grant = self.access.get(token)
        if grant is None or grant["expires"] < time.time():
            self._fail(
                401, "access_token_invalid",
                "The access token is invalid or not found in the request.",
            )  # fmt: skip
        if scope not in grant["scope"].split(","):
            self._fail(
                401, "scope_not_authorized", f"The user did not authorize the scope {scope}."
            )
        with self._lock:
            throttled = self._throttles > 0 and request.path.startswith(self._throttle_path)
            if throttled:
                self._throttles -= 1
        if throttled or self.limiter.take(token):
            self._fail(
                429, "rate_limit_exceeded",
                "The API rate limit was exceeded. Please try again later.",
            )  # fmt: skip
        return grant

    def _fields(self, request, allowed: set[str]) -> list[str]:
        fields = [f for f in (request.arg("fields") or "").split(",") if f]
        if not fields:
            self._fail(400, "invalid_params", "The fields query parameter is required.")
        unknown = sorted(set(fields) - allowed)
        if unknown:
            self._fail(400, "invalid_params", f"Unknown field(s): {', '.join(unknown)}.")
        return fields

    def _json(self, request) -> dict:
        if not request.headers.get("content-type", "").startswith("application/json"):
            self._fail(400, "invalid_params", "Content-Type must be application/json.")
        try:
            body = request.json() or {}
        except ValueError:
            self._fail(400, "invalid_params", "The body is not JSON.")
        if not isinstance(body, dict):
            self._fail(400, "invalid_params", "The body must be a JSON object.")
        return body

    def _video(self, video: dict, fields: list[str]) -> dict:
        out = {}
        for name in fields:
            if name == "cover_image_url":
                out[name] = f"{self.url}/cdn/{video['cover']}?x-expires={int(time.time()) + 21600}"
            elif name in video:
                out[name] = video[name]
        return out

    # -- OAuth ------------------------------------------------------------------------------

    @route("GET", r"/v2/auth/authorize/")
    def authorize(self, request):
        problems = []
        if request.arg("client_key") != self.client_key:
            problems.append("client_key is not valid")
        if request.arg("response_type") != "code":
            problems.append("response_type must be code")
        scopes = [s for s in (request.arg("scope") or "").split(",") if s]
        if not {"user.info.basic", "video.list"} <= set(scopes) or set(scopes) - KNOWN_SCOPES:
            problems.append("scope must list user.info.basic and video.list (known scopes only)")
        redirect = request.arg("redirect_uri") or ""
        if not redirect or (self.redirect_uri and redirect != self.redirect_uri):
            problems.append("redirect_uri does not match the app's registered redirect URI")
        if not request.arg("state"):
            problems.append("state is required")
        if problems or self.login_as is None:
            return Response(400, "param_error: " + "; ".join(problems or ["no account"]))
        code = secrets.token_urlsafe(40) + "*0!6410"
        self.codes[code] = {"redirect_uri": redirect, "scope": ",".join(scopes),
                            "open_id": self.login_as}  # fmt: skip
        back = {"code": code, "scopes": ",".join(scopes), "state": request.arg("state")}
        target = html.escape(f"{redirect}?{urlencode(back)}", quote=True)
        page = (
            "<!doctype html><title>TikTok</title><h1>Shoploop would like to access your "
            f"TikTok account @{html.escape(self.users[self.login_as]['username'])}</h1>"
            f"<p>{html.escape(', '.join(scopes))}</p>"
            f"<a id='authorize' href='{target}'>Authorize</a>"
        )
        return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})

    @route("POST", r"/v2/oauth/token/")
    def token(self, request):
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return self._oauth_error(400, "invalid_request", "Content-Type must be form-encoded.")
        form = request.form()
        if form.get("client_key") != self.client_key or form.get("client_secret") != (
            self.client_secret
        ):
            return self._oauth_error(401, "invalid_client", "Client key or secret is invalid.")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            entry = self.codes.pop(form.get("code", ""), None)
            if entry is None:
                return self._oauth_error(400, "invalid_grant", "Authorization code is expired.")
            if form.get("redirect_uri") != entry["redirect_uri"]:
                return self._oauth_error(400, "invalid_grant", "redirect_uri does not match.")
            return self._grant_body(entry["open_id"], entry["scope"])
        if grant_type == "refresh_token":
            with self._lock:
                self.refresh_calls += 1
                entry = self.refresh.get(form.get("refresh_token", ""))
                if self._refuse_refresh or entry is None or entry["expires"] < time.time():
                    return self._oauth_error(
                        400, "invalid_grant", "Refresh token is invalid or expired."
                    )
                del self.refresh[form["refresh_token"]]  # a new one replaces it
            return self._grant_body(entry["open_id"], entry["scope"])
        return self._oauth_error(400, "unsupported_grant_type", "grant_type is not supported.")

    @route("POST", r"/v2/oauth/revoke/")
    def revoke(self, request):
        form = request.form()
        if form.get("client_key") != self.client_key or form.get("client_secret") != (
            self.client_secret
        ):
            return self._oauth_error(401, "invalid_client", "Client key or secret is invalid.")
        grant = self.access.pop(form.get("token", ""), None)
        if grant is not None:
            for token in [t for t, g in self.refresh.items() if g["open_id"] == grant["open_id"]]:
                del self.refresh[token]
        return Response(200, b"")

    # -- Display API ------------------------------------------------------------------------

    @route("GET", r"/v2/user/info/")
    def user_info(self, request):
        grant = self._api_call(request, "user.info.basic")
        fields = self._fields(request, USER_FIELDS)
        user = self.users[grant["open_id"]]
        has_profile = "user.info.profile" in grant["scope"].split(",")
        out = {}
        for name in fields:
            if name == "open_id":
                out[name] = grant["open_id"]
            elif name in ("username", "bio_description") and not has_profile:
                continue  # user.info.profile fields
            elif name in user:
                out[name] = user[name]
        return {"data": {"user": out}, "error": {"code": "ok", "message": "", "log_id": _log_id()}}

    @route("POST", r"/v2/video/list/")
    def video_list(self, request):
        grant = self._api_call(request, "video.list")
        fields = self._fields(request, VIDEO_FIELDS)
        body = self._json(request)
        try:
            max_count = int(body.get("max_count", 10))
            cursor = int(body["cursor"]) if body.get("cursor") else None
        except (TypeError, ValueError):
            self._fail(400, "invalid_params", "max_count and cursor must be integers.")
        if not 1 <= max_count <= 20:
            self._fail(400, "invalid_params", "max_count must be between 1 and 20.")
        videos = sorted(
            (
                v for v in self.videos.values()
                if v["open_id"] == grant["open_id"] and not v["deleted"]
                and (cursor is None or v["create_time"] * 1000 < cursor)
            ),
            key=lambda v: (-v["create_time"], v["id"]),
        )  # fmt: skip
        page = videos[:max_count]
        next_cursor = page[-1]["create_time"] * 1000 if page else (cursor or 0)
        return {
            "data": {
                "videos": [self._video(v, fields) for v in page],
                "cursor": next_cursor,
                "has_more": len(videos) > max_count,
            },
            "error": {"code": "ok", "message": "", "log_id": _log_id()},
        }

    @route("POST", r"/v2/video/query/")
    def video_query(self, request):
        grant = self._api_call(request, "video.list")
        fields = self._fields(request, VIDEO_FIELDS)
        ids = ((self._json(request).get("filters") or {}).get("video_ids")) or []
        if not isinstance(ids, list) or not 1 <= len(ids) <= 20:
            self._fail(400, "invalid_params", "filters.video_ids takes 1 to 20 video ids.")
        found = [
            self._video(self.videos[str(i)], fields)
            for i in ids
            if str(i) in self.videos
            and not self.videos[str(i)]["deleted"]
            and self.videos[str(i)]["open_id"] == grant["open_id"]
        ]
        return {
            "data": {"videos": found, "cursor": 0, "has_more": False},
            "error": {"code": "ok", "message": "", "log_id": _log_id()},
        }


DEMO_OPEN_ID = "-000demoOpenIdForShoploop"
DEMO_CLIENT_KEY = "demo-tiktok-client-key"
DEMO_CLIENT_SECRET = "demo-tiktok-client-secret"  # noqa: S105 - the local demo server's own
DEMO_ACCESS_TOKEN = "act.demo-tiktok-access"  # noqa: S105 - the local demo server's own
DEMO_REFRESH_TOKEN = "rft.demo-tiktok-refresh"  # noqa: S105 - the local demo server's own


class DemoServer(Server):
    """The demo's app and account with a few videos (`python -m testservers tiktok_display`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("client_key", DEMO_CLIENT_KEY)
        kwargs.setdefault("client_secret", DEMO_CLIENT_SECRET)
        super().__init__(**kwargs)
        self.add_user(DEMO_OPEN_ID, "demo_brand_tt", "Demo Brand")
        # The token `seed_demo`'s connection holds, so *Pull now* works against this server.
        scope = "user.info.basic,user.info.profile,video.list"
        self.access[DEMO_ACCESS_TOKEN] = {"open_id": DEMO_OPEN_ID, "scope": scope,
                                          "expires": time.time() + ACCESS_TTL * 365}  # fmt: skip
        self.refresh[DEMO_REFRESH_TOKEN] = {"open_id": DEMO_OPEN_ID, "scope": scope,
                                            "expires": time.time() + REFRESH_TTL}  # fmt: skip
        now = int(time.time())
        for n, text in enumerate(
            ("Unboxing the new trail shoes", "Hoodie season is here", "Pour-over morning",
             "Yoga mat test: 30 days in"),
        ):  # fmt: skip
            self.add_video(DEMO_OPEN_ID, description=f"{text} #demobrand", title=text,
                           create_time=now - n * 3600)  # fmt: skip


standalone = DemoServer

if __name__ == "__main__":
    from testservers.base import run_standalone

    run_standalone(DemoServer)
