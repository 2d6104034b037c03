"""Social pulls and rights requests on Instagram and TikTok (issue 18): the jobs' work.

- `social_source_pull`: one pull of one source, one at a time per source (a Redis lock), within
  `SOCIAL_PULL_TIME_BUDGET`, through the connection's rate-limited session (`Access`). Pages are
  read newest first until a page holds only posts already pulled, `max_pages` pages, or the
  end; an unfinished walk (page budget, rate limit, time, a dead token) saves its cursor and
  the next pull resumes there. Each post passes the source's filters, then goes into UGC by
  `ugc.services.ugc_social_ingest` (fetched by the safe fetcher, de-duplicated by post id and
  by bytes). A post refused by the media checks is counted, not retried.
- TikTok sources (`tiktok_videos`, a TikTok connection) walk `/v2/video/list/` the same way
  (20 videos a page, TikTok's millisecond cursor); each video comes in as its cover image,
  with its share URL as permalink and its embed link, by the connected account's handle.
- `hashtag_id_for`: the hashtag's id, searched once per source; the account's ledger
  (`HashtagSearch`) refuses a 31st unique hashtag within 7 days before Instagram does.
- `social_source_check_deleted`: asks Instagram (one post a call) or TikTok
  (`/v2/video/query/`, 20 videos a call) for the posts pulled longest ago unchecked; a post
  that no longer exists is flagged and leaves the feed (`ugc_social_mark_deleted`).
- `rights_request_send`: the request's message as a comment on the post (posts that tag or
  mention the account; Instagram allows no comment on hashtag media, so there the consent link
  must reach the author another way and the request says so; TikTok's public APIs cannot
  comment or message at all, so every TikTok request goes by the consent page).
- `rights_requests_watch`: reads the replies to each open request's comment and records the
  author's reply with the hashtag (`ugc.services.rights_request_record_reply`).
"""

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta

import py3langid
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import ApplicationError, full_clean
from integrations import ratelimit
from integrations.access import Access
from integrations.clients import instagram, tiktok
from integrations.http import PlatformError
from integrations.models import Connection, HashtagSearch, PulledPost, SocialSource
from ugc import services as ugc_services
from ugc.models import RightsRequest

logger = logging.getLogger(__name__)

MIN_WORDS_FOR_LANGUAGE = 3  # shorter captions have no reliable language: they pass
_NOT_WORDS = re.compile(r"(?:[#@]\w+|https?://\S+)")


@dataclass
class PullResult:
    new: int = 0
    known: int = 0
    filtered: int = 0
    refused: int = 0
    pages: int = 0
    finished: bool = True  # False: stopped early, the cursor is saved
    errors: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {
            "new": self.new, "known": self.known, "filtered": self.filtered,
            "refused": self.refused, "pages": self.pages, "finished": self.finished,
        }  # fmt: skip


# -- filters -------------------------------------------------------------------------------


def caption_language(caption: str) -> str:
    """The caption's language code, or "" when there are too few words to tell."""
    text = _NOT_WORDS.sub(" ", caption or "")
    if len(text.split()) < MIN_WORDS_FOR_LANGUAGE:
        return ""
    return py3langid.classify(text)[0]


def filter_reason(source: SocialSource, post: dict) -> str:
    """Why a post is left out by the source's filters, or ""."""
    media_type = "video" if post.get("media_type") == "VIDEO" else "image"
    if source.media_types and media_type not in source.media_types:
        return f"media type {media_type}"
    width, height = post.get("width") or 0, post.get("height") or 0
    if source.min_side and width and height and min(width, height) < source.min_side:
        return f"resolution {width}×{height}"  # TikTok says the video's size: no fetch needed
    handle = (post.get("username") or "").lower()
    if handle and handle in {h.lower().lstrip("@") for h in source.blocked_handles or []}:
        return f"blocked handle @{handle}"
    if source.languages:
        language = caption_language(post.get("caption", ""))
        if language and language not in source.languages:
            return f"language {language}"
    if not post.get("media_url"):
        return "no media URL (a copyrighted or removed file)"
    return ""


# -- hashtags ------------------------------------------------------------------------------


def hashtag_id_for(access: Access, source: SocialSource) -> str:
    """The source's hashtag id, searching once within the account's 30 hashtags a week."""
    if source.hashtag_id:
        return source.hashtag_id
    hashtag = source.hashtag.lstrip("#").lower()
    now = timezone.now()
    since = now - HashtagSearch.WINDOW
    recent = HashtagSearch.objects.filter(ig_user_id=source.ig_user_id, first_searched_at__gt=since)
    if not recent.filter(hashtag=hashtag).exists() and recent.count() >= HashtagSearch.LIMIT:
        oldest = recent.order_by("first_searched_at").first()
        free_at = oldest.first_searched_at + HashtagSearch.WINDOW
        raise ApplicationError(
            f"The account searched {HashtagSearch.LIMIT} unique hashtags in the last 7 days "
            f"(Instagram's limit); #{hashtag} can be searched from {free_at:%Y-%m-%d %H:%M} UTC.",
            code="hashtag_limit",
        )
    found = access.call(instagram.hashtag_id, ig_user_id=source.ig_user_id, hashtag=hashtag)
    _record_search(source.ig_user_id, hashtag, now)
    SocialSource.objects.filter(pk=source.pk).update(hashtag_id=found)
    source.hashtag_id = found
    return found


def _record_search(ig_user_id: str, hashtag: str, now) -> None:
    """A hashtag counts from its first query; a query after the week starts a new count."""
    entry, created = HashtagSearch.objects.get_or_create(
        ig_user_id=ig_user_id, hashtag=hashtag, defaults={"first_searched_at": now}
    )
    if not created and entry.first_searched_at <= now - HashtagSearch.WINDOW:
        HashtagSearch.objects.filter(pk=entry.pk).update(first_searched_at=now)


# -- pulls ---------------------------------------------------------------------------------


def sources_due(*, now=None, include_not_due: bool = False) -> list[int]:
    """Active sources of active connections due for a pull (or all of them)."""
    now = now or timezone.now()
    sources = SocialSource.objects.filter(active=True, connection__status=Connection.Status.ACTIVE)
    if not include_not_due:
        sources = sources.filter(next_pull_at__lte=now)
    return list(sources.order_by("next_pull_at").values_list("pk", flat=True)[:200])


def _ingest_post(source: SocialSource, post: dict, result: PullResult) -> bool:
    """One post: filtered, known, new or refused. Returns whether it was already known."""
    external_id = str(post.get("id", ""))
    if not external_id:
        return False
    if PulledPost.objects.filter(source=source, external_id=external_id).exists():
        result.known += 1
        return True
    reason = filter_reason(source, post)
    if reason:
        result.filtered += 1
        return False
    if source.is_tiktok:  # the video's cover image; its size was checked by the filters
        media_type, posted_at, min_side = "image", post.get("posted_at"), 0
    else:
        media_type = "video" if post.get("media_type") == "VIDEO" else "image"
        posted_at = instagram.parse_time(post.get("timestamp", ""))
        min_side = source.min_side
    try:
        item, created = ugc_services.ugc_social_ingest(
            source=source.ugc_source,
            external_id=external_id,
            media_url=post["media_url"],
            media_type=media_type,
            caption=post.get("caption", ""),
            author_handle=post.get("username", ""),
            permalink=post.get("permalink", ""),
            posted_at=posted_at,
            pulled_via=str(source),
            min_side=min_side,
            embed_url=post.get("embed_url", ""),
        )
    except ApplicationError as exc:  # the fetch or the media checks refused it
        if exc.code == "below_min_side":  # the source's own filter, known only once fetched
            result.filtered += 1
            return False
        result.refused += 1
        result.errors.append(f"{external_id}: {exc.message}")
        return False
    try:
        with transaction.atomic():
            PulledPost.objects.create(source=source, external_id=external_id, item=item)
    except IntegrityError:  # a concurrent pull of the same source recorded it
        pass
    if created:
        result.new += 1
    else:
        result.known += 1
    return False


def social_source_pull(*, source_id: int) -> PullResult:
    """Pull one source now (the job `integrations.social_source_pull`)."""
    lock_name = f"social-pull:{source_id}"
    lock = ratelimit.lock(lock_name, ttl=int(settings.SOCIAL_PULL_TIME_BUDGET) + 60)
    if lock is None:
        return PullResult(finished=False, errors=["another pull of this source is running"])
    try:
        return _pull(source_id)
    finally:
        ratelimit.release(lock_name, lock)


def _pull(source_id: int) -> PullResult:
    source = SocialSource.objects.select_related("connection").get(pk=source_id)
    result = PullResult()
    deadline = time.monotonic() + settings.SOCIAL_PULL_TIME_BUDGET
    access = Access(source.connection, deadline=deadline)
    resuming = bool(source.cursor)
    after = source.cursor
    try:
        tag_id = hashtag_id_for(access, source) if source.is_hashtag else ""
        handle = _tiktok_handle(access, source) if source.is_tiktok else ""
        for _ in range(source.max_pages):
            if time.monotonic() > deadline:
                result.finished = False
                break
            if source.is_tiktok:
                page = access.call(tiktok.video_page, cursor=after)
                page = instagram.Page(
                    media=[tiktok.as_post(video, handle=handle) for video in page.media],
                    after=page.after,
                )
            else:
                page = access.call(
                    instagram.media_page, kind=source.kind, ig_user_id=source.ig_user_id,
                    hashtag_id=tag_id, after=after,
                )  # fmt: skip
            result.pages += 1
            known = [_ingest_post(source, post, result) for post in page.media]
            after = page.after
            if not after:
                break
            if known and all(known) and not resuming:
                after = ""  # caught up with what earlier pulls read
                break
        else:
            result.finished = not after
    except (ApplicationError, PlatformError) as exc:
        result.finished = False
        result.errors.insert(0, getattr(exc, "message", str(exc)))
    finally:
        access.close()
    # Finished: the next pull starts at the newest post; else it resumes where this stopped.
    _record_pull(source, result, cursor="" if result.finished else after)
    logger.info("integrations.social_pull", extra={"source_id": source.pk, **result.counts()})
    return result


def _tiktok_handle(access: Access, source: SocialSource) -> str:
    """The connected account's handle (its videos' author), asked once a pull: a renamed
    account's new videos carry the new name."""
    user = access.call(tiktok.user_info)
    if user.get("open_id") and user["open_id"] != source.connection.account_id:
        raise ApplicationError(
            "The TikTok token belongs to another account than the connection's; reconnect it.",
            code="wrong_account",
        )
    return user.get("username") or source.connection.settings.get("username", "")


def _record_pull(source: SocialSource, result: PullResult, *, cursor: str) -> None:
    now = timezone.now()
    SocialSource.objects.filter(pk=source.pk).update(
        cursor=cursor[:500],
        last_pulled_at=now,
        next_pull_at=now + timedelta(minutes=source.interval_minutes),
        last_counts=result.counts(),
        last_error="\n".join(result.errors[:20])[:5000],
    )


# -- deleted posts -------------------------------------------------------------------------


def social_source_check_deleted(*, source_id: int, limit: int | None = None) -> int:
    """Ask the platform for the posts checked longest ago; flag those deleted. Returns how
    many were flagged."""
    source = SocialSource.objects.select_related("connection").get(pk=source_id)
    limit = limit or settings.SOCIAL_DELETED_CHECK_BATCH
    posts = list(
        PulledPost.objects.filter(
            source=source, item__social_post__deleted_at__isnull=True
        ).order_by(F("checked_at").asc(nulls_first=True), "pk")[:limit]
    )
    access = Access(source.connection, deadline=time.monotonic() + settings.SOCIAL_PULL_TIME_BUDGET)
    deleted = 0
    try:
        if source.is_tiktok:
            return _tiktok_check_deleted(access, source, posts)
        for post in posts:
            if not access.call(instagram.media_exists, media_id=post.external_id):
                deleted += ugc_services.ugc_social_mark_deleted(
                    source=source.ugc_source, external_id=post.external_id
                )
            PulledPost.objects.filter(pk=post.pk).update(checked_at=timezone.now())
    finally:
        access.close()
    return deleted


def _tiktok_check_deleted(access: Access, source: SocialSource, posts: list[PulledPost]) -> int:
    """`/v2/video/query/` 20 ids at a time: an id missing from the answer was deleted."""
    deleted = 0
    for start in range(0, len(posts), tiktok.MAX_COUNT):
        chunk = posts[start : start + tiktok.MAX_COUNT]
        alive = access.call(tiktok.existing_ids, video_ids=[p.external_id for p in chunk])
        for post in chunk:
            if post.external_id not in alive:
                deleted += ugc_services.ugc_social_mark_deleted(
                    source=source.ugc_source, external_id=post.external_id
                )
        PulledPost.objects.filter(pk__in=[p.pk for p in chunk]).update(checked_at=timezone.now())
    return deleted


# -- rights requests -----------------------------------------------------------------------

NO_COMMENT_MESSAGES = {
    "instagram": (
        "Instagram takes comments only on posts that tag or mention the account, not on "
        "hashtag media: send the author the consent link from the request's page."
    ),
    "tiktok": (
        "TikTok's public APIs cannot comment on a video or message its creator (and the "
        "creator's login to Shoploop is no licence to use the video): send the creator the "
        "consent link from the request's page."
    ),
}


def _post_of(item_id: int) -> PulledPost | None:
    return (
        PulledPost.objects.select_related("source__connection")
        .filter(item_id=item_id)
        .order_by(F("source__kind").desc(), "pk")  # ig_tags (commentable) before hashtags
        .first()
    )


def rights_request_send(*, request_id: int) -> str:
    """Post the request's message as a comment; returns the comment's id or raises."""
    request = RightsRequest.objects.select_related("item").get(pk=request_id)
    if request.sent_ref or request.status != RightsRequest.Status.REQUESTED:
        return request.sent_ref
    post = _post_of(request.item_id)
    if post is None or not post.source.can_comment:
        message = NO_COMMENT_MESSAGES[request.item.source]
        ugc_services.rights_request_mark_sent(request_id=request.pk, error=message)
        raise ApplicationError(message, code="cannot_comment")
    access = Access(post.source.connection, deadline=time.monotonic() + 60)
    try:
        comment_id = access.call(
            instagram.comment_on_mention, ig_user_id=post.source.ig_user_id,
            media_id=post.external_id, message=request.message,
        )  # fmt: skip
    except (ApplicationError, PlatformError) as exc:
        ugc_services.rights_request_mark_sent(
            request_id=request.pk, error=getattr(exc, "message", str(exc))
        )
        raise
    finally:
        access.close()
    ugc_services.rights_request_mark_sent(request_id=request.pk, sent_ref=comment_id)
    return comment_id


def rights_requests_watch(*, limit: int = 200) -> int:
    """Read the replies to open requests' comments; returns how many requests were granted."""
    open_requests = list(
        RightsRequest.objects.filter(status=RightsRequest.Status.REQUESTED)
        .exclude(sent_ref="")
        .filter(expires_at__gt=timezone.now())
        .order_by(F("checked_at").asc(nulls_first=True), "pk")[:limit]
    )
    granted = 0
    for request in open_requests:
        post = _post_of(request.item_id)
        if post is None:
            continue
        access = Access(post.source.connection, deadline=time.monotonic() + 60)
        try:
            found = access.call(instagram.replies, comment_id=request.sent_ref)
        except (ApplicationError, PlatformError) as exc:
            logger.warning(
                "integrations.rights_watch_failed",
                extra={"request_id": request.pk, "error": getattr(exc, "message", str(exc))},
            )
            continue
        finally:
            access.close()
        RightsRequest.objects.filter(pk=request.pk).update(checked_at=timezone.now())
        for reply in found:
            if ugc_services.rights_request_record_reply(
                request_id=request.pk,
                reply_id=str(reply.get("id", "")),
                reply_text=reply.get("text", ""),
                reply_at=instagram.parse_time(reply.get("timestamp", "")) or timezone.now(),
                author_handle=reply.get("username", ""),
            ):
                granted += 1
                break
    return granted


# -- sources -------------------------------------------------------------------------------

SOURCE_FIELDS = (
    "connection_id", "kind", "ig_user_id", "hashtag", "active", "interval_minutes",
    "media_types", "min_side", "languages", "blocked_handles", "max_pages",
)  # fmt: skip


def social_source_save(*, source_id: int | None = None, **fields) -> SocialSource:
    """Create or change a source; a new hashtag is searched again on the next pull."""
    unknown = sorted(set(fields) - set(SOURCE_FIELDS))
    if unknown:
        raise ApplicationError(f"Unknown source field(s): {', '.join(unknown)}.", code="invalid")
    with transaction.atomic():
        source = (
            SocialSource.objects.select_for_update().get(pk=source_id)
            if source_id
            else SocialSource()
        )
        old = (source.hashtag, source.kind, source.connection_id)
        for name, value in fields.items():
            setattr(source, name, value)
        source.hashtag = (source.hashtag or "").strip().lstrip("#").lower()
        # Another hashtag, kind or account: the old cursor points into another list.
        if (source.hashtag, source.kind, source.connection_id) != old:
            source.hashtag_id = ""
            source.cursor = ""
        if source.is_tiktok and source.connection_id:
            source.ig_user_id, source.hashtag = source.connection.account_id, ""
        check_source(source)
        full_clean(source)
        source.save()
    return source


def check_source(source: SocialSource) -> None:
    errors = {}
    platform = source.connection.platform if source.connection_id else ""
    if source.is_tiktok:
        if platform and platform != "tiktok":
            errors["connection"] = ["TikTok sources use a TikTok account connection."]
        if source.media_types and "video" not in source.media_types:
            errors["media_types"] = ["TikTok posts are videos: tick Videos, or neither."]
    else:
        if platform and platform != "meta":
            errors["connection"] = ["Instagram sources use a Meta connection."]
        if not str(source.ig_user_id).isdigit():
            errors["ig_user_id"] = ["The IG User id is a number, e.g. 17841405309211844."]
    if source.is_hashtag and not re.fullmatch(r"\w{1,100}", source.hashtag):
        errors["hashtag"] = ["One hashtag without spaces or emoji, e.g. yesbrand."]
    unknown = sorted(set(source.media_types or []) - {"image", "video"})
    if unknown:
        errors["media_types"] = [f"Unknown media type(s) {', '.join(unknown)}: image, video."]
    bad = [code for code in source.languages or [] if not re.fullmatch(r"[a-z]{2}", code)]
    if bad:
        errors["languages"] = [f"Use two-letter ISO 639-1 codes, not {', '.join(bad)}."]
    if errors:
        raise ApplicationError("The source is not valid.", code="invalid", fields=errors)
