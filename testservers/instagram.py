"""A local Instagram Graph API (Instagram API with Facebook Login), on top of the Meta server.

It shares the Meta server's login, tokens and `appsecret_proof` check (`testservers/meta.py`),
and speaks the content endpoints a UGC tool uses, as Meta documents them:

- `GET /ig_hashtag_search?user_id=&q=` -> `{"data": [{"id"}]}`; an IG user may query at most
  30 unique hashtags in a rolling 7 days (a hashtag queried again within the week does not
  count again); the 31st is refused with code 24 (subcode 2207024 here).
- `GET /{ig-user-id}/recently_searched_hashtags`.
- `GET /{hashtag-id}/recent_media` and `/top_media` (`user_id` required; no `username`: hashtag
  media carry no personal data), `GET /{ig-user-id}/tags` (media the account is tagged or
  mentioned in, with `username`), `GET /{ig-user-id}/media` (its own media). Pages of `limit`
  (default 25, at most 50) with `paging.cursors.after` and `paging.next`.
- `GET /{ig-media-id}?fields=`: a deleted post answers code 100 subcode 33 ("does not exist").
- `POST /{ig-user-id}/mentions` with `media_id` and `message`: a comment on a post that tags or
  mentions the account (Meta refuses comments on hashtag media: code 10 here).
  `GET /{ig-comment-id}/replies?fields=id,text,username,timestamp`.
- Every answer carries `X-App-Usage` (`call_count`, `total_cputime`, `total_time` in percent);
  past the app's rate, code 4 "Application request limit reached". `throttle_next(code)` answers
  the next Graph call with code 4, 17, 32 or 613, and `X-Business-Use-Case-Usage` for 32/613.
- A dead token answers code 190 (subcode 463); `expire_tokens_after(n)` kills every token after
  n more Graph calls (a token expiring in the middle of a pull).
- Media files are served at `/cdn/<name>` without a token, as Instagram's CDN URLs are.

Stand-alone for the demo: `python -m testservers instagram --port 8805` (one account
`17841400000000001` @demo_brand, a long-lived token `EAAGdemo-instagram`, a few posts).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

from testservers import meta
from testservers.base import FileCDN, HTTPError, RateLimiter, route

V = meta.V
WEEK = 7 * 24 * 3600
FIELDS = ("id", "caption", "media_type", "media_url", "permalink", "timestamp", "username")
THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
}


def _png(width: int, height: int, seed: int) -> bytes:
    """A real PNG of a solid colour (no Pillow needed in the server)."""
    import struct
    import zlib

    colour = bytes(((seed * 67) % 256, (seed * 131) % 256, (seed * 199) % 256))
    row = b"\x00" + colour * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


class Server(FileCDN, meta.Server):
    name = "instagram"

    def __init__(self, *, ig_rate=50.0, **kwargs):
        super().__init__(**kwargs)
        self.ig_limiter = RateLimiter(rate=ig_rate, burst=int(ig_rate))
        self.users: dict[str, dict] = {}
        self.media: dict[str, dict] = {}
        self.hashtags: dict[str, str] = {}
        self.searched: dict[str, dict[str, float]] = {}  # user id -> hashtag -> first query
        self.comments: dict[str, dict] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.ig_ids = itertools.count(17_900_000_000_000_001)
        self.calls = 0
        self._expire_after: int | None = None
        self._throttles: list[int] = []

    # -- data for tests and the demo -------------------------------------------------------

    def add_user(self, user_id: str, username: str) -> str:
        self.users[user_id] = {"username": username}
        return user_id

    def token_for(self, scope: str = "instagram_basic,instagram_manage_comments") -> str:
        return self._issue(scope, self.long_lived_seconds, long=True)["access_token"]

    def add_file(self, name: str, content_type: str, data: bytes) -> str:
        self.files[name] = (content_type, data)
        return f"{self.url}/cdn/{name}"

    def add_media(
        self,
        *,
        username: str,
        media_type: str = "IMAGE",
        caption: str = "",
        hashtags: tuple[str, ...] = (),
        owner: str | None = None,
        tagged: tuple[str, ...] = (),
        content: bytes | None = None,
        content_type: str = "image/png",
        size: tuple[int, int] = (640, 800),
        timestamp: float | None = None,
    ) -> str:
        media_id = str(next(self.ig_ids))
        name = f"{media_id}.{'mp4' if media_type == 'VIDEO' else 'png'}"
        data = content if content is not None else _png(*size, seed=int(media_id) % 997)
        self.files[name] = (content_type, data)
        self.media[media_id] = {
            "id": media_id,
            "media_type": media_type,
            "file": name,
            "permalink": f"https://www.instagram.com/p/{secrets.token_urlsafe(8)}/",
            "caption": caption,
            "timestamp": timestamp or time.time(),
            "username": username,
            "hashtags": {h.lstrip("#").lower() for h in hashtags},
            "owner": owner,
            "tagged": set(tagged),
            "deleted": False,
            "likes": int(media_id) % 500,
        }
        return media_id

    def delete_media(self, media_id: str) -> None:
        self.media[media_id]["deleted"] = True

    def reply(self, comment_id: str, *, username: str, text: str) -> str:
        reply_id = str(next(self.ig_ids))
        self.comments[reply_id] = {
            "id": reply_id, "text": text, "username": username, "timestamp": time.time(),
            "parent": comment_id, "replies": [], "media_id": self.comments[comment_id]["media_id"],
        }  # fmt: skip
        self.comments[comment_id]["replies"].append(reply_id)
        return reply_id

    def throttle_next(self, code: int = 4, count: int = 1) -> None:
        self._throttles.extend([code] * count)

    def expire_tokens_after(self, calls: int) -> None:
        self._expire_after = calls

    # -- plumbing ----------------------------------------------------------------------------

    def _usage(self) -> str:
        used = min(100, int(self.ig_limiter.throttled * 10 + self.calls % 100))
        return json.dumps({"call_count": used, "total_cputime": used // 2, "total_time": used})

    def _graph_call(self, request) -> dict:
        """Every content call: the token (and a planned expiry), then the app's rate."""
        self.calls += 1
        if self._expire_after is not None:
            self._expire_after -= 1
            if self._expire_after < 0:
                for grant in self.tokens.values():
                    grant["expires"] = 0
                self._expire_after = None
        grant = self._auth(request)
        code = self._throttles.pop(0) if self._throttles else None
        if code is None and self.ig_limiter.take(grant["token"]):
            code = 4
        if code is not None:
            headers = {"X-App-Usage": json.dumps({"call_count": 100, "total_cputime": 40,
                                                  "total_time": 100})}  # fmt: skip
            if code in (32, 613):
                usage = {"17841400000000001": [{"type": "instagram", "call_count": 100,
                         "total_cputime": 30, "total_time": 100,
                         "estimated_time_to_regain_access": 0}]}  # fmt: skip
                headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
            raise HTTPError(
                400,
                {
                    "error": {
                        "message": THROTTLE_MESSAGES[code],
                        "type": "OAuthException",
                        "is_transient": True,
                        "code": code,
                        "fbtrace_id": "x",
                    }
                },  # fmt: skip
                headers,
            )
        return grant

    def dispatch(self, request):
        response = super().dispatch(request)
        if not request.path.startswith("/cdn/"):
            response.headers.setdefault("X-App-Usage", self._usage())
        return response

    def _not_found(self, object_id: str):
        raise HTTPError(
            400,
            {
                "error": {
                    "message": f"Unsupported get request. Object with ID '{object_id}' does "
                    "not exist, cannot be loaded due to missing permissions, or does not "
                    "support this operation.",
                    "type": "GraphMethodException",
                    "code": 100,
                    "error_subcode": 33,
                    "fbtrace_id": "x",
                }
            },  # fmt: skip
        )

    def _user(self, request, user_id: str | None) -> dict:
        if not user_id or user_id not in self.users:
            raise HTTPError(
                400,
                {
                    "error": {
                        "message": "(#100) The parameter user_id is required and must be an "
                        "Instagram professional account.",
                        "type": "OAuthException",
                        "code": 100,
                        "fbtrace_id": "x",
                    }
                },  # fmt: skip
            )
        return self.users[user_id]

    def _fields(self, media: dict, fields: list[str], *, with_username: bool) -> dict:
        out = {}
        for name in fields:
            if name == "media_url":
                out["media_url"] = f"{self.url}/cdn/{media['file']}"
            elif name == "timestamp":
                out["timestamp"] = datetime.fromtimestamp(media["timestamp"], UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S+0000"
                )
            elif name == "username":
                if with_username:
                    out["username"] = media["username"]
            elif name == "like_count":
                out["like_count"] = media["likes"]
            elif name in media and name not in ("file", "hashtags", "owner", "tagged"):
                out[name] = media[name]
        out["id"] = media["id"]
        return out

    def _page(self, request, media: list[dict], *, with_username: bool) -> dict:
        fields = [f for f in (request.arg("fields") or "id").split(",") if f]
        try:
            limit = max(1, min(50, int(request.arg("limit") or 25)))
        except ValueError:
            return self.error(400, "(#100) limit must be a number")
        after = request.arg("after")
        start = int(base64.urlsafe_b64decode(after.encode()).decode()) if after else 0
        chunk = media[start : start + limit]
        body = {"data": [self._fields(m, fields, with_username=with_username) for m in chunk]}
        if chunk:
            cursors = {
                "before": base64.urlsafe_b64encode(str(start).encode()).decode(),
                "after": base64.urlsafe_b64encode(str(start + len(chunk)).encode()).decode(),
            }
            body["paging"] = {"cursors": cursors}
            if start + len(chunk) < len(media):
                query = {k: v[-1] for k, v in request.query.items()}
                query["after"] = cursors["after"]
                body["paging"]["next"] = f"{self.url}{request.path}?{urlencode(query)}"
        return body

    def _live(self, predicate) -> list[dict]:
        found = [m for m in self.media.values() if not m["deleted"] and predicate(m)]
        return sorted(found, key=lambda m: (-m["timestamp"], m["id"]))

    # -- endpoints --------------------------------------------------------------------------

    @route("GET", rf"{V}/ig_hashtag_search")
    def hashtag_search(self, request):
        self._graph_call(request)
        user_id = request.arg("user_id")
        self._user(request, user_id)
        name = (request.arg("q") or "").lstrip("#").lower()
        if not name or not name.replace("_", "").isalnum():
            return self.graph_error(400, 100, "(#100) q must be a hashtag without spaces")
        now = time.time()
        searched = {
            tag: at for tag, at in self.searched.get(user_id, {}).items() if now - at < WEEK
        }
        if name not in searched and len(searched) >= 30:
            return self.graph_error(
                400, 24, "(#24) The user has reached the maximum number of unique hashtags "
                "(30) searched in 7 days.", subcode=2207024,
            )  # fmt: skip
        searched.setdefault(name, now)
        self.searched[user_id] = searched
        hashtag_id = self.hashtags.setdefault(
            name, str(17_843_000_000_000_000 + len(self.hashtags))
        )
        return {"data": [{"id": hashtag_id}]}

    @route("GET", rf"{V}/(?P<user>\d+)/recently_searched_hashtags")
    def recently_searched(self, request):
        self._graph_call(request)
        now = time.time()
        searched = self.searched.get(request.params["user"], {})
        return {"data": [{"id": self.hashtags[t]} for t, at in searched.items() if now - at < WEEK]}

    @route("GET", rf"{V}/(?P<hashtag>\d+)/(?P<edge>recent_media|top_media)")
    def hashtag_media(self, request):
        self._graph_call(request)
        self._user(request, request.arg("user_id"))
        name = next((n for n, i in self.hashtags.items() if i == request.params["hashtag"]), None)
        if name is None:
            self._not_found(request.params["hashtag"])
        media = self._live(lambda m: name in m["hashtags"])
        if request.params["edge"] == "top_media":
            media.sort(key=lambda m: (-m["likes"], m["id"]))
        return self._page(request, media, with_username=False)

    @route("GET", rf"{V}/(?P<user>\d+)/tags")
    def tags(self, request):
        self._graph_call(request)
        user = self._user(request, request.params["user"])
        handle = user["username"]
        media = self._live(
            lambda m: request.params["user"] in m["tagged"] or f"@{handle}" in m["caption"]
        )
        return self._page(request, media, with_username=True)

    @route("GET", rf"{V}/(?P<user>\d+)/media")
    def own_media(self, request):
        self._graph_call(request)
        self._user(request, request.params["user"])
        media = self._live(lambda m: m["owner"] == request.params["user"])
        return self._page(request, media, with_username=True)

    @route("GET", rf"{V}/(?P<object>\d+)")
    def get_object(self, request):
        self._graph_call(request)
        media = self.media.get(request.params["object"])
        if media is None or media["deleted"]:
            self._not_found(request.params["object"])
        fields = [f for f in (request.arg("fields") or "id").split(",") if f]
        return self._fields(media, fields, with_username=True)

    @route("POST", rf"{V}/(?P<user>\d+)/mentions")
    def mention_reply(self, request):
        self._graph_call(request)
        user_id = request.params["user"]
        user = self._user(request, user_id)
        form = {**{k: v[-1] for k, v in request.query.items()}, **request.form()}
        media = self.media.get(form.get("media_id", ""))
        if media is None or media["deleted"]:
            self._not_found(form.get("media_id", ""))
        if user_id not in media["tagged"] and f"@{user['username']}" not in media["caption"]:
            return self.graph_error(
                400, 10, "(#10) The account can only comment on media it is mentioned in.",
                type_="OAuthException",
            )  # fmt: skip
        message = form.get("message", "")
        if not message or len(message) > 2200:
            return self.graph_error(400, 100, "(#100) message must be 1 to 2200 characters")
        comment_id = str(next(self.ig_ids))
        self.comments[comment_id] = {
            "id": comment_id, "text": message, "username": user["username"],
            "timestamp": time.time(), "parent": None, "replies": [], "media_id": media["id"],
        }  # fmt: skip
        return {"id": comment_id}

    @route("GET", rf"{V}/(?P<comment>\d+)/replies")
    def replies(self, request):
        self._graph_call(request)
        comment = self.comments.get(request.params["comment"])
        if comment is None:
            self._not_found(request.params["comment"])
        found = [self.comments[r] for r in comment["replies"]]
        shaped = [
            {**{k: c[k] for k in ("id", "text", "username")},
             "timestamp": datetime.fromtimestamp(c["timestamp"], UTC).strftime(
                 "%Y-%m-%dT%H:%M:%S+0000")}
            for c in found
        ]  # fmt: skip
        return {"data": shaped}


DEMO_USER = "17841400000000001"
DEMO_TOKEN = "EAAGdemo-instagram"  # noqa: S105 - the local demo server's own


class DemoServer(Server):
    """The demo's account, token and a few tagged posts (`python -m testservers instagram`)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_user(DEMO_USER, "demo_brand")
        self.tokens[DEMO_TOKEN] = {"scope": "instagram_basic", "expires": time.time() + WEEK * 8,
                                   "long": True}  # fmt: skip
        for n, handle in enumerate(("sunny.days", "trail_mix", "cafe_lena", "mo.rides")):
            self.add_media(
                username=handle, caption=f"Loving my new gear #demobrand @demo_brand ({n + 1})",
                hashtags=("demobrand",), tagged=(DEMO_USER,), timestamp=time.time() - n * 3600,
            )  # fmt: skip


standalone = DemoServer

if __name__ == "__main__":
    from testservers.base import run_standalone

    run_standalone(DemoServer)
