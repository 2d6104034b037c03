"""TikTok for Developers: Login Kit for Web (OAuth 2) and the Display API, for UGC pulls.

- Authorize at `{TIKTOK_LOGIN_URL}/v2/auth/authorize/` with `client_key`, `scope`,
  `response_type=code`, `redirect_uri` and `state` (no PKCE: Login Kit for Web does not take
  it; TikTok wants it from desktop and mobile apps only).
- `POST {TIKTOK_API_URL}/v2/oauth/token/` (form-encoded: `client_key`, `client_secret`, `code`,
  `grant_type=authorization_code`, `redirect_uri`) answers `access_token` (24 hours),
  `refresh_token` (365 days), `open_id`, `scope`, `expires_in`, `refresh_expires_in`;
  `grant_type=refresh_token` gives a new pair (the refresh token may change, so the new one
  is kept). Errors there are `{"error", "error_description", "log_id"}` (`invalid_grant`
  for a dead code or refresh token). `POST /v2/oauth/revoke/` revokes the grant.
- `GET /v2/user/info/?fields=open_id,username,display_name` (`username` needs the
  `user.info.profile` scope; without it the display name stands in).
- `POST /v2/video/list/?fields=...` with `{"max_count": <=20, "cursor": <ms>}` answers
  `{"data": {"videos", "cursor", "has_more"}, "error": {"code": "ok", "message", "log_id"}}`,
  newest first; the cursor is a UTC timestamp in milliseconds.
- `POST /v2/video/query/?fields=...` with `{"filters": {"video_ids": [...]}}` (at most 20):
  a video the answer leaves out was deleted (or made private) on TikTok.

API errors are `{"error": {"code", "message", "log_id"}}`: `access_token_invalid` (HTTP 401)
is a dead token, `rate_limit_exceeded` (HTTP 429) a rate limit (600 requests a minute per
endpoint), `internal_error` and 5xx are transient. Tokens are never logged or shown.
"""

from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings

from integrations.clients import AccountChoice, Grant, expires_in
from integrations.clients.instagram import Page
from integrations.http import (
    AuthError,
    GrantError,
    PlatformError,
    PlatformSession,
    is_transient_status,
    json_object,
)
from integrations.http import retry_after as retry_after_of

VIDEO_FIELDS = (
    "id,create_time,cover_image_url,share_url,video_description,duration,height,width,title,"
    "embed_link"
)
USER_FIELDS = "open_id,username,display_name"
MAX_COUNT = 20  # videos a page, and ids a query: TikTok's maximum
AUTH_CODES = {"access_token_invalid", "scope_not_authorized", "scope_permission_missed"}
THROTTLE_CODES = {"rate_limit_exceeded"}
TRANSIENT_CODES = {"internal_error"}


def api_url(path: str) -> str:
    return f"{settings.TIKTOK_API_URL.rstrip('/')}{path}"


def classify(response) -> PlatformError | None:
    body = json_object(response)
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = str(error.get("code") or "")
    if response.status_code < 400 and code in ("", "ok") and body:
        return None
    message = error.get("message") or f"HTTP {response.status_code}"
    if response.status_code == 429 or code in THROTTLE_CODES:
        return PlatformError(
            f"TikTok rate limit: {message}",
            status=response.status_code,
            code=code or "rate_limit_exceeded",
            throttled=True,
            retry_after=retry_after_of(response),  # none: exponential backoff
        )
    if code in AUTH_CODES or response.status_code == 401:
        return AuthError(f"TikTok refused the access token: {message} ({code})", code=code)
    if is_transient_status(response.status_code) or code in TRANSIENT_CODES:
        return PlatformError(
            f"TikTok: {message}", status=response.status_code, code=code, transient=True
        )
    return PlatformError(f"TikTok: {message} ({code or response.status_code})", code=code)


def _classify_token(response) -> PlatformError | None:
    """The token endpoint answers `{"error": "invalid_grant", ...}` (sometimes with HTTP 200)."""
    body = json_object(response)
    if isinstance(body.get("error"), str) and body["error"]:
        if response.status_code == 429 or is_transient_status(response.status_code):
            return classify(response)
        return GrantError(
            f"TikTok refused the grant: {body['error']} ({body.get('error_description', '')})",
            status=response.status_code,
            code=body["error"],
        )
    if response.status_code >= 400 or not body.get("access_token"):
        return classify(response) or PlatformError("TikTok sent no access token.")
    return None


def _grant(body: dict) -> Grant:
    return Grant(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token", ""),
        access_expires_at=expires_in(body.get("expires_in")),
        refresh_expires_at=expires_in(body.get("refresh_expires_in")),
        scopes=[s for s in str(body.get("scope", "")).replace(" ", ",").split(",") if s],
        extra={"open_id": body.get("open_id", "")},
    )


class TikTokOAuth:
    platform = "tiktok"
    pkce = False
    needs_shop = False

    def configured(self) -> bool:
        return bool(settings.TIKTOK_CLIENT_KEY and settings.TIKTOK_CLIENT_SECRET)

    def authorize_url(self, *, state, redirect_uri, shop=None, code_challenge=None):
        query = urlencode(
            {
                "client_key": settings.TIKTOK_CLIENT_KEY,
                "scope": ",".join(settings.TIKTOK_SCOPES),
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{settings.TIKTOK_LOGIN_URL.rstrip('/')}/v2/auth/authorize/?{query}"

    def _token(self, session: PlatformSession, form: dict) -> Grant:
        response = session.request(
            "POST",
            api_url("/v2/oauth/token/"),
            data={
                "client_key": settings.TIKTOK_CLIENT_KEY,
                "client_secret": settings.TIKTOK_CLIENT_SECRET,
                **form,
            },
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            classify=_classify_token,
        )
        return _grant(response.json())

    def exchange(self, session, *, code, redirect_uri, shop=None, verifier=None) -> Grant:
        return self._token(
            session,
            {"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri},
        )

    def refresh(self, session, refresh_token: str) -> Grant:
        grant = self._token(
            session, {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        grant.refresh_token = grant.refresh_token or refresh_token
        return grant

    def accounts(self, session, grant: Grant, *, shop=None) -> list[AccountChoice]:
        user = user_info(session, token=grant.access_token)
        open_id = user.get("open_id") or grant.extra.get("open_id", "")
        if not open_id:
            return []
        handle = user.get("username") or ""
        name = f"@{handle}" if handle else (user.get("display_name") or open_id)
        return [
            AccountChoice(
                account_id=open_id,
                name=name,
                settings={"username": handle, "display_name": user.get("display_name", "")},
            )
        ]

    def revoke(self, session, *, token, account_id, app_settings) -> bool:
        session.request(
            "POST",
            api_url("/v2/oauth/revoke/"),
            data={
                "client_key": settings.TIKTOK_CLIENT_KEY,
                "client_secret": settings.TIKTOK_CLIENT_SECRET,
                "token": token,
            },
            classify=_classify_token_revoke,
        )
        return True


def _classify_token_revoke(response) -> PlatformError | None:
    body = json_object(response)
    if isinstance(body.get("error"), str) and body["error"]:
        return PlatformError(f"TikTok: {body['error']} ({body.get('error_description', '')})")
    return classify(response) if response.status_code >= 400 else None


OAUTH = TikTokOAuth()


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def user_info(session, *, token: str) -> dict:
    response = session.request(
        "GET",
        api_url("/v2/user/info/"),
        headers=_auth(token),
        params={"fields": USER_FIELDS},
        classify=classify,
    )
    return dict((response.json().get("data") or {}).get("user") or {})


def video_page(session, *, token: str, cursor: str = "", max_count: int = MAX_COUNT) -> Page:
    """One page of the account's videos, newest first; `after` is "" on the last page."""
    body: dict = {"max_count": max(1, min(MAX_COUNT, int(max_count)))}
    if cursor:
        body["cursor"] = int(cursor)
    response = session.request(
        "POST",
        api_url("/v2/video/list/"),
        headers=_auth(token),
        params={"fields": VIDEO_FIELDS},
        json=body,
        classify=classify,
    )
    data = response.json().get("data") or {}
    after = str(data.get("cursor") or "") if data.get("has_more") else ""
    return Page(media=list(data.get("videos") or []), after=after)


def existing_ids(session, *, token: str, video_ids: list[str]) -> set[str]:
    """Which of these videos (at most 20) TikTok still has; the others were deleted."""
    if len(video_ids) > MAX_COUNT:
        raise ValueError(f"TikTok queries at most {MAX_COUNT} videos a call")
    response = session.request(
        "POST",
        api_url("/v2/video/query/"),
        headers=_auth(token),
        params={"fields": "id"},
        json={"filters": {"video_ids": list(video_ids)}},
        classify=classify,
    )
    videos = (response.json().get("data") or {}).get("videos") or []
    return {str(v.get("id")) for v in videos if v.get("id")}


def as_post(video: dict, *, handle: str) -> dict:
    """A video in the shape the social pull filters and ingests (Instagram's field names):
    the media is the cover image (the Display API gives no video file)."""
    caption = video.get("video_description") or video.get("title") or ""
    return {
        "id": str(video.get("id") or ""),
        "media_type": "VIDEO",  # the post is a video; what is ingested is its cover
        "media_url": video.get("cover_image_url") or "",
        "caption": caption,
        "username": handle,
        "permalink": video.get("share_url") or "",
        "embed_url": video.get("embed_link") or "",
        "posted_at": parse_time(video.get("create_time")),
        "width": int(video.get("width") or 0),
        "height": int(video.get("height") or 0),
    }


def parse_time(value) -> datetime | None:
    """`create_time` is a UTC Unix epoch in seconds."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds > 0 else None
