"""Instagram Graph API (Instagram API with Facebook Login) for UGC: hashtags, tags, media,
comments and replies. The token is the Meta connection's; every call carries
`appsecret_proof` and goes through the connection's rate-limited session, and Meta's errors
are classified by `clients.meta.classify` (190: dead token; 4, 17, 32, 613: rate limits).

- `GET /ig_hashtag_search?user_id=&q=` -> the hashtag's id (30 unique hashtags a week);
- `GET /{hashtag-id}/recent_media|top_media?user_id=&fields=` (no `username`: hashtag media
  carry no personal data), `GET /{ig-user-id}/tags`, `GET /{ig-user-id}/media`: pages with
  `paging.cursors.after`, present with `paging.next` while there are more;
- `GET /{ig-media-id}?fields=id`: code 100 subcode 33 when the post no longer exists;
- `POST /{ig-user-id}/mentions` (`media_id`, `message`): a comment on a post that mentions or
  tags the account; `GET /{ig-comment-id}/replies?fields=id,text,username,timestamp`.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from integrations.clients.meta import appsecret_proof, classify, get, graph_url
from integrations.http import PlatformError

MEDIA_FIELDS = "id,caption,media_type,media_url,permalink,timestamp"
EDGES = {
    "ig_hashtag_recent": "recent_media",
    "ig_hashtag_top": "top_media",
    "ig_tags": "tags",
    "ig_own_media": "media",
}


@dataclass(frozen=True)
class Page:
    media: list[dict]
    after: str  # the cursor of the next page, "" when this was the last


def hashtag_id(session, *, token: str, ig_user_id: str, hashtag: str) -> str:
    data = get(
        session, "/ig_hashtag_search", token=token, params={"user_id": ig_user_id, "q": hashtag}
    )
    found = data.get("data") or []
    if not found:
        raise PlatformError(f"Instagram has no hashtag #{hashtag}.", code="100")
    return str(found[0]["id"])


def media_page(
    session, *, token: str, kind: str, ig_user_id: str, hashtag_id: str = "", after: str = "",
    limit: int = 50,
) -> Page:  # fmt: skip
    edge = EDGES[kind]
    fields = MEDIA_FIELDS if kind.startswith("ig_hashtag") else MEDIA_FIELDS + ",username"
    params = {"fields": fields, "limit": str(limit)}
    if after:
        params["after"] = after
    if kind.startswith("ig_hashtag"):
        path = f"/{hashtag_id}/{edge}"
        params["user_id"] = ig_user_id
    else:
        path = f"/{ig_user_id}/{edge}"
    data = get(session, path, token=token, params=params)
    paging = data.get("paging") or {}
    after = (paging.get("cursors") or {}).get("after", "") if paging.get("next") else ""
    return Page(media=list(data.get("data") or []), after=after)


def media_exists(session, *, token: str, media_id: str) -> bool:
    try:
        get(session, f"/{media_id}", token=token, params={"fields": "id"})
    except PlatformError as exc:
        if exc.code == "100" and "does not exist" in exc.message:
            return False
        raise
    return True


def comment_on_mention(session, *, token: str, ig_user_id: str, media_id: str, message: str) -> str:
    response = session.request(
        "POST",
        graph_url(f"/{ig_user_id}/mentions"),
        headers={"Authorization": f"Bearer {token}"},
        data={"media_id": media_id, "message": message, "appsecret_proof": appsecret_proof(token)},
        classify=classify,
    )
    return str(response.json()["id"])


def replies(session, *, token: str, comment_id: str) -> list[dict]:
    data = get(
        session, f"/{comment_id}/replies", token=token,
        params={"fields": "id,text,username,timestamp"},
    )  # fmt: skip
    return list(data.get("data") or [])


def parse_time(value: str) -> datetime | None:
    """Graph timestamps look like 2026-12-07T10:15:00+0000."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
    except ValueError:
        return None
