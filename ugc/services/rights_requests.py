"""Rights requests: asking a post's author for the rights, and recording the answer.

A moderator asks (one item or many, `rights_request_create`); the message comes from a
template with the program's terms link, the reply hashtag and the consent page's address, and
`integrations` sends it as a comment on the post (`rights_request_mark_sent`). The author
answers either by replying with the hashtag (the watcher job finds the reply and calls
`rights_request_record_reply`) or on the consent page (`rights_request_answer`). A grant goes
through `ugc_rights_grant` with its proof: the reply's id, text and time, or the page's answer,
and the terms version. Open requests expire (`rights_requests_expire`). Nothing here
publishes: the rights gate in `ugc_publish` decides, as for every item.

Lock order: the item row (`moderation._lock`), then the request row.
"""

import logging
import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from core.absolute_urls import absolute_url
from core.errors import ApplicationError, full_clean
from ugc.models import CHANNELS, RightsRequest, UGCItem, UGCRights
from ugc.services.ingest import normalize_text
from ugc.services.moderation import _event, _lock, rights_problem
from ugc.services.rights import ugc_rights_grant

logger = logging.getLogger(__name__)

Status = RightsRequest.Status
MAX_MESSAGE_CHARS = 2200  # Instagram's limit for a comment's text
PLACEHOLDERS = ("{handle}", "{terms_url}", "{hashtag}", "{consent_url}", "{brand}")


def consent_url(token: str) -> str:
    return absolute_url(reverse("ugc:consent", args=[token]))


def render_message(template: str, *, handle: str, terms_url: str, hashtag: str, token: str) -> str:
    """Fill the template's placeholders (plain replacement: a template is never code)."""
    values = {
        "{handle}": f"@{handle}" if handle else "",
        "{terms_url}": terms_url,
        "{hashtag}": hashtag,
        "{consent_url}": consent_url(token),
        "{brand}": settings.UGC_RIGHTS_BRAND_NAME,
    }
    message = template
    for placeholder, value in values.items():
        message = message.replace(placeholder, value)
    return message.strip()


def _hashtag(value: str) -> str:
    tag = (value or "").strip()
    if not re.fullmatch(r"#?\w{2,99}", tag):
        raise ApplicationError(
            "The reply hashtag is one word of letters, digits or _, e.g. #yesbrand.",
            code="invalid",
            fields={"reply_hashtag": ["Use one word, e.g. #yesbrand."]},
        )
    return "#" + tag.lstrip("#")


def rights_request_create(
    *,
    item_id: int,
    actor,
    channel: str = RightsRequest.Channel.COMMENT,
    template: str | None = None,
    reply_hashtag: str | None = None,
    terms_url: str | None = None,
    terms_version: str | None = None,
    allowed_channels: list[str] | None = None,
    licence_type: str = "",
    expires_in_days: int | None = None,
) -> RightsRequest:
    """Open a rights request for an item pulled from a platform; the settings give defaults."""
    hashtag = _hashtag(reply_hashtag or settings.UGC_RIGHTS_REPLY_HASHTAG)
    terms_url = terms_url or settings.UGC_RIGHTS_TERMS_URL
    terms_version = terms_version or settings.UGC_RIGHTS_TERMS_VERSION
    days = expires_in_days or settings.UGC_RIGHTS_REQUEST_DAYS
    channels = list(allowed_channels or settings.UGC_RIGHTS_REQUEST_CHANNELS)
    template = template or settings.UGC_RIGHTS_REQUEST_TEMPLATE
    if "{hashtag}" not in template and "{consent_url}" not in template:
        raise ApplicationError(
            "The template must tell the author how to answer: {hashtag} or {consent_url}.",
            code="invalid",
            fields={"template": ["Include {hashtag} or {consent_url}."]},
        )
    if not terms_url or not terms_version:
        raise ApplicationError(
            "Set the program's terms link and version (UGC_RIGHTS_TERMS_URL, "
            "UGC_RIGHTS_TERMS_VERSION) before asking for rights.",
            code="terms_missing",
        )
    unknown = sorted(set(channels) - set(CHANNELS))
    if unknown:
        raise ApplicationError(
            f"Unknown channel(s) {', '.join(unknown)}; choose from {', '.join(CHANNELS)}.",
            code="invalid",
            fields={"allowed_channels": ["Choose from " + ", ".join(CHANNELS) + "."]},
        )
    with transaction.atomic():
        item = _lock(item_id)
        if item.source not in (UGCItem.Source.INSTAGRAM, UGCItem.Source.TIKTOK):
            raise ApplicationError(
                f"Item #{item.pk} came from {item.get_source_display()}, not a platform post: "
                "record its rights directly.",
                code="not_a_post",
            )
        now = timezone.now()
        if not rights_problem(UGCRights.objects.filter(item=item).first(), now=now):
            raise ApplicationError(f"Item #{item.pk} already has rights.", code="has_rights")
        token = secrets.token_urlsafe(24)
        request = RightsRequest(
            item=item,
            channel=channel,
            token=token,
            reply_hashtag=hashtag,
            terms_url=terms_url,
            terms_version=terms_version,
            allowed_channels=[c for c in CHANNELS if c in channels],
            licence_type=licence_type,
            requested_by=actor,
            requested_at=now,
            expires_at=now + timedelta(days=days),
            message=render_message(
                template, handle=item.author_handle, terms_url=terms_url, hashtag=hashtag,
                token=token,
            ),
        )  # fmt: skip
        if len(request.message) > MAX_MESSAGE_CHARS:
            raise ApplicationError(
                f"The message is {len(request.message)} characters; a comment takes "
                f"{MAX_MESSAGE_CHARS}.",
                code="invalid",
                fields={"template": ["Shorten the template."]},
            )
        full_clean(request, validate_constraints=False)
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError:
            raise ApplicationError(
                f"Item #{item.pk} already has an open rights request.", code="already_requested"
            ) from None
        _event(
            item, action="rights_request", actor=actor, from_status=item.status, at=now,
            reason=f"Asked @{item.author_handle or '?'} by {request.get_channel_display().lower()}"
            f" (reply {hashtag}, terms {terms_version}).",
        )  # fmt: skip
    return request


def rights_request_mark_sent(*, request_id: int, sent_ref: str = "", error: str = "") -> None:
    """What sending the message gave: the platform's id of the comment, or why it failed."""
    updates = {"send_error": error[:2000]}
    if sent_ref:
        updates.update(sent_ref=sent_ref[:200], sent_at=timezone.now(), send_error="")
    RightsRequest.objects.filter(pk=request_id).update(**updates)


def reply_accepts(text: str, hashtag: str) -> bool:
    """The reply holds the hashtag as a whole word (any case, any width)."""
    tag = normalize_text(hashtag).lstrip("#")
    return bool(re.search(rf"#{re.escape(tag)}(?!\w)", normalize_text(text)))


def _lock_open(request_id: int) -> tuple[UGCItem, RightsRequest]:
    item_id = RightsRequest.objects.filter(pk=request_id).values_list("item_id", flat=True).first()
    if item_id is None:
        raise ApplicationError(f"Rights request #{request_id} does not exist.", code="not_found")
    item = _lock(item_id)
    request = RightsRequest.objects.select_for_update().get(pk=request_id)
    return item, request


def _decide(item, request, *, status, answer, at, proof_text, reply=None) -> RightsRequest:
    request.status = status
    request.answer = answer
    request.decided_at = at
    if reply:
        request.reply_id, request.reply_text, request.reply_at = reply
    request.save()
    if status == Status.GRANTED:
        ugc_rights_grant(
            item_id=item.pk,
            consent_method=(
                UGCRights.ConsentMethod.COMMENT_REPLY
                if answer == RightsRequest.Answer.REPLY
                else UGCRights.ConsentMethod.SIGNED_RELEASE
            ),
            allowed_channels=request.allowed_channels,
            licence_type=request.licence_type,
            starts_at=at,
            proof_url=request.terms_url,
            proof_text=proof_text,
        )
    else:
        _event(
            item, action=f"rights_{status}", actor=None, from_status=item.status, at=at,
            reason=proof_text,
        )  # fmt: skip
    logger.info("ugc.rights_request", extra={"request_id": request.pk, "status": status})
    return request


def rights_request_record_reply(
    *, request_id: int, reply_id: str, reply_text: str, reply_at: datetime, author_handle: str
) -> bool:
    """A reply the watcher found: the author's reply with the hashtag grants the rights.

    Returns whether it granted. A reply from someone else, or without the hashtag, changes
    nothing; so does a reply to a request no longer open.
    """
    with transaction.atomic():
        item, request = _lock_open(request_id)
        if request.status != Status.REQUESTED or request.expires_at <= timezone.now():
            return False
        author = normalize_text(author_handle).lstrip("@")
        if not item.author_handle or author != normalize_text(item.author_handle):
            return False
        if not reply_accepts(reply_text, request.reply_hashtag):
            return False
        proof = (
            f"@{author_handle} replied {request.reply_hashtag} (reply {reply_id} at "
            f"{reply_at:%Y-%m-%d %H:%M:%S} UTC): “{reply_text[:1000]}”; terms version "
            f"{request.terms_version} ({request.terms_url})."
        )
        _decide(
            item, request, status=Status.GRANTED, answer=RightsRequest.Answer.REPLY,
            at=reply_at, proof_text=proof, reply=(reply_id, reply_text[:5000], reply_at),
        )  # fmt: skip
    return True


def rights_request_answer(*, token: str, accept: bool, terms_version: str) -> RightsRequest:
    """The author's answer on the consent page. `terms_version` is the one the page showed:
    if the terms changed since, the author must read them again."""
    request_id = RightsRequest.objects.filter(token=token).values_list("pk", flat=True).first()
    if request_id is None:
        raise ApplicationError("This consent link is not valid.", code="not_found")
    with transaction.atomic():
        item, request = _lock_open(request_id)
        now = timezone.now()
        if request.status != Status.REQUESTED:
            raise ApplicationError(
                f"This request was already answered: {request.get_status_display().lower()}.",
                code="already_answered",
            )
        if request.expires_at <= now:
            raise ApplicationError("This request has expired.", code="expired")
        if terms_version != request.terms_version:
            raise ApplicationError(
                "The terms changed while the page was open; read them again.",
                code="terms_changed",
            )
        verb = "accepted" if accept else "declined"
        proof = (
            f"@{item.author_handle or '?'} {verb} on the consent page at "
            f"{now:%Y-%m-%d %H:%M:%S} UTC (request #{request.pk}); terms version "
            f"{request.terms_version} ({request.terms_url})."
        )
        return _decide(
            item, request, status=Status.GRANTED if accept else Status.DECLINED,
            answer=RightsRequest.Answer.CONSENT_PAGE, at=now, proof_text=proof,
        )  # fmt: skip


def rights_requests_expire(*, now: datetime | None = None) -> int:
    """Open requests past their expiry become expired (the periodic job)."""
    now = now or timezone.now()
    ids = list(
        RightsRequest.objects.filter(status=Status.REQUESTED, expires_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    expired = 0
    for request_id in ids:
        with transaction.atomic():
            item, request = _lock_open(request_id)
            if request.status != Status.REQUESTED:
                continue
            _decide(
                item, request, status=Status.EXPIRED, answer="", at=now,
                proof_text=f"No answer by {request.expires_at:%Y-%m-%d %H:%M} UTC.",
            )  # fmt: skip
            expired += 1
    return expired
