"""Joining a program: applications, their review, invitations; and what the merchant sets
for the portal (content licences, options) and custom code requests.

Applications move only through `MOVES`, each move locking the row, checking it and writing
an `ApplicationEvent` in the same transaction:

```
pending ──approve──> approved          (into a group: the creator, their account and
   │  ^                                 membership are made; they get a set-password email)
   │  └──answer── needs_info <──ask──┐  (the applicant gets the question and a link to answer)
   ├──ask────────────────────────────┘
   └──reject (with a reason)──> rejected   (needs_info can be approved or rejected too)
```

A group whose application mode is auto-approve approves at once. Invitations are single-use
(one conditional UPDATE marks them accepted) and expire after `PORTAL_INVITATION_DAYS`.
"""

import logging
import re
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from core.errors import ApplicationError, full_clean
from creators import emails
from creators.accounts import (
    _create_account,
    account_for_email,
    check_password,
    new_token,
    normalise_email,
    token_hash,
)
from creators.models import Creator
from creators.portal_models import (
    NETWORKS,
    ApplicationEvent,
    ContentLicence,
    CreatorApplication,
    CreatorInvitation,
    ProgramPortalOptions,
)
from creators.program_models import CreatorGroup, DiscountCode, GroupMembership, Program

logger = logging.getLogger(__name__)

Status = CreatorApplication.Status
MOVES = {
    (Status.PENDING, "approve"): Status.APPROVED,
    (Status.PENDING, "reject"): Status.REJECTED,
    (Status.PENDING, "ask"): Status.NEEDS_INFO,
    (Status.NEEDS_INFO, "approve"): Status.APPROVED,
    (Status.NEEDS_INFO, "reject"): Status.REJECTED,
    (Status.NEEDS_INFO, "answer"): Status.PENDING,
}
INFO_PURPOSE = "creator-application-info"
INVITATION_PURPOSE = "creator-invitation"
APPLY_FIELDS = {"name", "email", "country", "audience_size", "why"} | {
    f"handle_{n}" for n in NETWORKS
}
OPEN_MODES = (CreatorGroup.ApplicationMode.OPEN, CreatorGroup.ApplicationMode.AUTO_APPROVE)

# What the caller gives for links in emails: path makers turned absolute by the view.
UrlMaker = Callable[[str], str]


def program_for_applying(slug: str) -> Program:
    """The active program at `slug` that takes applications (a group open or auto-approve)."""
    program = Program.objects.filter(slug=slug, active=True).first()
    if program is None:
        raise ApplicationError("There is no such program.", code="not_found")
    if not program.groups.filter(application_mode__in=OPEN_MODES).exists():
        raise ApplicationError(
            f"{program.name} takes creators by invitation only.", code="invite_only"
        )
    return program


# -- applying -------------------------------------------------------------------------------


def application_submit(
    *,
    program_slug: str,
    terms_version: int,
    accept_terms: bool,
    network_hash: str = "",
    set_password_url: UrlMaker,
    **fields,
) -> CreatorApplication:
    """Apply to a program. The terms shown (`terms_version`) must be the current ones and
    accepted; the version and time are kept. One open application per email and program."""
    unknown = sorted(set(fields) - APPLY_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown fields: {', '.join(unknown)}.")
    program = program_for_applying(program_slug)
    terms = program.current_terms()
    if terms is None:
        raise ApplicationError(
            f"{program.name} has no published terms yet; applications open once it has.",
            code="no_terms",
        )
    if not accept_terms:
        raise ApplicationError(
            "Accept the program's terms to apply.",
            code="terms_required",
            fields={"accept_terms": "Required."},
        )
    if terms_version != terms.version:
        raise ApplicationError(
            f"The terms changed while you were reading (now version {terms.version}); "
            "read them again and accept.",
            code="terms_changed",
            fields={"accept_terms": "The terms changed."},
        )
    fields["email"] = normalise_email(fields.get("email", ""))
    fields["country"] = (fields.get("country") or "").strip().upper()
    fields = {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}
    if not any(fields.get(f"handle_{n}") for n in NETWORKS):
        raise ApplicationError(
            "Give at least one handle, so the merchant can see your content.",
            code="handle_required",
            fields={"handle_tiktok": "Give at least one handle."},
        )
    account = account_for_email(fields["email"])
    if (
        account is not None
        and GroupMembership.objects.filter(
            creator=account.creator, program=program, status="active"
        ).exists()
    ):
        raise ApplicationError(
            f"You are already in {program.name}: log in to the portal.",
            code="already_member",
            fields={"email": "Already a member."},
        )
    now = timezone.now()
    with transaction.atomic(durable=True):
        application = CreatorApplication(
            program=program, terms=terms, terms_version=terms.version, terms_accepted_at=now,
            network_hash=network_hash, created_at=now, **fields,
        )  # fmt: skip
        full_clean(application, validate_constraints=False)
        try:
            with transaction.atomic():
                application.save()
        except IntegrityError:
            raise ApplicationError(
                "An application from this email is already waiting for review.",
                code="conflict",
                fields={"email": "Already applied."},
            ) from None
        _event(application, action="submit", from_status="", actor=None,
               reason=f"Accepted terms v{terms.version}.")  # fmt: skip
        auto = (
            program.groups.filter(application_mode=CreatorGroup.ApplicationMode.AUTO_APPROVE)
            .order_by("position", "pk")
            .first()
        )
        if auto is not None:
            _approve(application, auto, actor=None, set_password_url=set_password_url)
        else:
            emails.send_on_commit(
                "application_received",
                to=application.email,
                context={"name": application.name, "program": program.name},
            )
    logger.info("creator.applied", extra={"application_id": application.pk})
    return application


def _lock(application_id: int) -> CreatorApplication:
    application = CreatorApplication.objects.select_for_update().filter(pk=application_id).first()
    if application is None:
        raise ApplicationError(f"Application #{application_id} does not exist.", code="not_found")
    return application


def _target(application: CreatorApplication, action: str) -> str:
    to_status = MOVES.get((application.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action} application #{application.pk}: it is "
            f"{application.get_status_display().lower()}.",
            code="invalid_transition",
        )
    return to_status


def _event(application, *, action, from_status, actor, reason="") -> None:
    ApplicationEvent.objects.create(
        application=application, action=action, from_status=from_status,
        to_status=application.status, reason=reason,
        actor=actor if getattr(actor, "pk", None) else None,
    )  # fmt: skip


def _apply(application, action: str, *, actor, reason: str = "") -> str:
    from_status = application.status
    application.status = _target(application, action)
    if action != "answer":
        application.decided_by = actor if getattr(actor, "pk", None) else None
        application.decided_at = timezone.now()
    application.save()
    _event(application, action=action, from_status=from_status, actor=actor, reason=reason)
    return from_status


def unique_handle(base: str) -> str:
    """A creator handle from `base` that no creator has (ignoring case)."""
    stem = slugify(base.lstrip("@").replace(".", "-"))[:50].strip("-") or "creator"
    handle, n = stem, 1
    while Creator.objects.filter(handle__iexact=handle).exists():
        n += 1
        handle = f"{stem[:50]}-{n}"
    return handle


def unique_affiliate_code(handle: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9]", "", handle).upper()[:12] or "CREATOR"
    code, n = stem, 1
    while Creator.objects.filter(affiliate_code__iexact=code).exists():
        n += 1
        code = f"{stem}{n}"
    return code


def _creator_for(application: CreatorApplication) -> tuple[Creator, bool]:
    """The applicant's creator: theirs if they have an account (or a creator the merchant
    typed with this email and no account), else a new one. (creator, has_account)."""
    account = account_for_email(application.email)
    if account is not None:
        return account.creator, True
    existing = (
        Creator.objects.filter(email__iexact=application.email, account__isnull=True)
        .exclude(status=Creator.Status.REMOVED)
        .order_by("pk")
        .first()
    )
    if existing is not None:
        return existing, False
    base = next((application.handles()[n] for n in NETWORKS if n in application.handles()), "")
    if not base or "/" in base:
        base = application.name
    handle = unique_handle(base)
    creator = Creator(
        name=application.name, handle=handle, email=application.email,
        affiliate_code=unique_affiliate_code(handle), status=Creator.Status.ACTIVE,
    )  # fmt: skip
    full_clean(creator)
    creator.save()
    return creator, False


def _approve(application, group: CreatorGroup, *, actor, set_password_url: UrlMaker) -> None:
    from creators.services import membership_set

    if group.program_id != application.program_id:
        raise ApplicationError(
            f"{group} is not a group of {application.program}.",
            code="invalid",
            fields={"group": "Choose a group of this program."},
        )
    creator, has_account = _creator_for(application)
    if creator.status != Creator.Status.ACTIVE:
        creator.status = Creator.Status.ACTIVE
        creator.save(update_fields=["status", "updated_at"])
    if not has_account:
        _create_account(
            creator=creator, email=application.email, country=application.country,
            **{f"handle_{n}": getattr(application, f"handle_{n}") for n in NETWORKS},
        )  # fmt: skip
    membership_set(creator_id=creator.pk, group_id=group.pk)
    application.group = group
    application.creator = creator
    _apply(application, "approve", actor=actor, reason=f"Into {group.name}.")
    user = creator.account.user
    context = {"name": application.name, "program": application.program.name,
               "group": group.name, "has_password": user.has_usable_password()}  # fmt: skip
    if not user.has_usable_password():
        from django.contrib.auth.tokens import default_token_generator
        from django.utils.encoding import force_bytes
        from django.utils.http import urlsafe_base64_encode

        uid = urlsafe_base64_encode(force_bytes(user.pk))
        context["url"] = set_password_url(f"{uid}/{default_token_generator.make_token(user)}")
    else:
        context["url"] = set_password_url("")
    emails.send_on_commit("application_approved", to=application.email, context=context)


def application_approve(
    *, application_id: int, group_id: int, actor, set_password_url: UrlMaker
) -> CreatorApplication:
    """Approve into a group: the creator (and their account, if new) and membership are
    made, and the applicant is emailed a link to set their password."""
    with transaction.atomic(durable=True):
        application = _lock(application_id)
        _target(application, "approve")
        group = CreatorGroup.objects.filter(pk=group_id).first()
        if group is None:
            raise ApplicationError("Choose a group.", fields={"group": "Required."})
        _approve(application, group, actor=actor, set_password_url=set_password_url)
    return application


def application_reject(*, application_id: int, reason: str, actor) -> CreatorApplication:
    """Reject with a reason, which the applicant is emailed."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Say why: the applicant reads it.", code="reason_required",
            fields={"reason": "Required."},
        )  # fmt: skip
    with transaction.atomic(durable=True):
        application = _lock(application_id)
        application.decision_reason = reason
        _apply(application, "reject", actor=actor, reason=reason)
        emails.send_on_commit(
            "application_rejected",
            to=application.email,
            context={"name": application.name, "program": application.program.name,
                     "reason": reason},
        )  # fmt: skip
    return application


def application_ask(
    *, application_id: int, question: str, actor, answer_url: UrlMaker
) -> CreatorApplication:
    """Ask the applicant for more; they get the question and a one-time link to answer."""
    question = (question or "").strip()
    if not question:
        raise ApplicationError(
            "Write the question.", code="reason_required", fields={"reason": "Required."}
        )
    token = new_token()
    with transaction.atomic(durable=True):
        application = _lock(application_id)
        application.decision_reason = question
        application.info_token_hash = token_hash(INFO_PURPOSE, token)
        _apply(application, "ask", actor=actor, reason=question)
        emails.send_on_commit(
            "application_needs_info",
            to=application.email,
            context={"name": application.name, "program": application.program.name,
                     "question": question, "url": answer_url(token)},
        )  # fmt: skip
    return application


def application_for_answer(token: str) -> CreatorApplication:
    application = None
    if token and len(token) <= 200:
        application = (
            CreatorApplication.objects.select_related("program")
            .filter(info_token_hash=token_hash(INFO_PURPOSE, token), status=Status.NEEDS_INFO)
            .first()
        )
    if application is None:
        raise ApplicationError(
            "This link is not valid any more (it was answered already).", code="not_found"
        )
    return application


def application_answer(*, token: str, answer: str) -> CreatorApplication:
    """The applicant's answer: the application goes back to the review queue."""
    answer = (answer or "").strip()
    if not answer:
        raise ApplicationError("Write your answer.", fields={"answer": "Required."})
    if len(answer) > 4000:
        raise ApplicationError("At most 4,000 characters.", fields={"answer": "Too long."})
    with transaction.atomic(durable=True):
        application = _lock(application_for_answer(token).pk)
        application.answer = ((application.answer + "\n\n") if application.answer else "") + answer
        application.info_token_hash = ""
        _apply(application, "answer", actor=None, reason=answer[:500])
    return application


# -- invitations ----------------------------------------------------------------------------


def invitation_create(
    *, email: str, group_id: int, actor, accept_url: UrlMaker, message: str = ""
) -> CreatorInvitation:
    """Invite an email into a group; the link works once, for PORTAL_INVITATION_DAYS."""
    email = normalise_email(email)
    token = new_token()
    with transaction.atomic():  # the console's add view runs inside its own transaction
        group = CreatorGroup.objects.select_related("program").filter(pk=group_id).first()
        if group is None:
            raise ApplicationError("Choose a group.", fields={"group": "Required."})
        invitation = CreatorInvitation(
            email=email, group=group, message=(message or "").strip(),
            token_hash=token_hash(INVITATION_PURPOSE, token),
            expires_at=timezone.now() + timedelta(days=settings.PORTAL_INVITATION_DAYS),
            invited_by=actor if getattr(actor, "pk", None) else None,
        )  # fmt: skip
        full_clean(invitation)
        invitation.save()
        emails.send_on_commit(
            "invitation",
            to=email,
            context={"program": group.program.name, "group": group.name,
                     "message": invitation.message, "url": accept_url(token),
                     "days": settings.PORTAL_INVITATION_DAYS},
        )  # fmt: skip
    return invitation


def invitation_for_token(token: str) -> CreatorInvitation:
    """The pending, unexpired invitation of `token` (for the page that accepts it)."""
    invitation = None
    if token and len(token) <= 200:
        invitation = (
            CreatorInvitation.objects.select_related("group__program")
            .filter(token_hash=token_hash(INVITATION_PURPOSE, token))
            .first()
        )
    if invitation is None or invitation.status != CreatorInvitation.Status.PENDING:
        raise ApplicationError(
            "This invitation is not valid: it was used or withdrawn.", code="not_found"
        )
    if invitation.expired:
        raise ApplicationError(
            "This invitation has expired; ask the shop for a new one.", code="expired"
        )
    return invitation


def invitation_accept(*, token: str, name: str, password: str) -> Creator:
    """Accept an invitation: once, before it expires. Makes (or reuses) the creator and
    their account with this password, and puts them in the invitation's group."""
    from creators.services import membership_set

    name = (name or "").strip()
    if not name:
        raise ApplicationError("Your name is empty.", fields={"name": "Required."})
    invitation = invitation_for_token(token)
    check_password(password)
    now = timezone.now()
    with transaction.atomic(durable=True):
        taken = CreatorInvitation.objects.filter(
            pk=invitation.pk, status=CreatorInvitation.Status.PENDING, expires_at__gt=now
        ).update(status=CreatorInvitation.Status.ACCEPTED, accepted_at=now)
        if not taken:  # another request accepted it a moment ago
            raise ApplicationError("This invitation was used already.", code="conflict")
        account = account_for_email(invitation.email)
        if account is not None:
            creator = account.creator
        else:
            handle = unique_handle(name)
            creator = Creator(name=name, handle=handle, email=invitation.email,
                              affiliate_code=unique_affiliate_code(handle))  # fmt: skip
            full_clean(creator)
            creator.save()
            _create_account(creator=creator, email=invitation.email, password=password)
        membership_set(creator_id=creator.pk, group_id=invitation.group_id)
        CreatorInvitation.objects.filter(pk=invitation.pk).update(creator=creator)
    logger.info("creator.invitation_accepted", extra={"invitation_id": invitation.pk})
    return creator


def invitation_revoke(*, invitation_id: int) -> CreatorInvitation:
    with transaction.atomic():
        invitation = CreatorInvitation.objects.select_for_update().filter(pk=invitation_id).first()
        if invitation is None:
            raise ApplicationError(f"Invitation #{invitation_id} does not exist.", "not_found")
        if invitation.status != CreatorInvitation.Status.PENDING:
            raise ApplicationError(
                f"Invitation #{invitation.pk} is {invitation.get_status_display().lower()}.",
                code="invalid_transition",
            )
        invitation.status = CreatorInvitation.Status.REVOKED
        invitation.save(update_fields=["status"])
    return invitation


# -- what the merchant sets for the portal --------------------------------------------------


def content_licence_publish(
    *, program_id: int, text: str, channels: list[str], licence_type: str = "",
    duration_days: int | None = None, actor=None,
) -> ContentLicence:  # fmt: skip
    """Publish a new version of a program's content licence (earlier ones stay as they were:
    uploads keep the version they accepted)."""
    if not (text or "").strip():
        raise ApplicationError("Write the licence.", fields={"text": "Required."})
    with transaction.atomic():
        program = Program.objects.select_for_update().filter(pk=program_id).first()
        if program is None:
            raise ApplicationError(f"Program #{program_id} does not exist.", code="not_found")
        last = program.content_licences.aggregate(v=Max("version"))["v"] or 0
        licence = ContentLicence(
            program=program, version=last + 1, text=text.strip(), channels=list(channels or []),
            licence_type=(licence_type or "").strip() or "non-exclusive, royalty-free",
            duration_days=duration_days, created_by=actor if getattr(actor, "pk", None) else None,
        )  # fmt: skip
        full_clean(licence)
        licence.save()
    return licence


def current_licence(program_id: int) -> ContentLicence | None:
    return ContentLicence.objects.filter(program_id=program_id).order_by("-version").first()


def program_options(program_id: int) -> ProgramPortalOptions:
    """The portal options of a program (the defaults when none were saved)."""
    return ProgramPortalOptions.objects.filter(program_id=program_id).first() or (
        ProgramPortalOptions(program_id=program_id)
    )


def program_options_save(*, program_id: int, **fields) -> ProgramPortalOptions:
    allowed = {"allow_custom_slugs", "allow_code_requests"}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ApplicationError(f"Unknown fields: {', '.join(unknown)}.")
    with transaction.atomic():
        options, _ = ProgramPortalOptions.objects.select_for_update().get_or_create(
            program_id=program_id
        )
        for name, value in fields.items():
            setattr(options, name, bool(value))
        options.save()
    return options


def code_request(*, creator_id: int, program_id: int, code: str) -> DiscountCode:
    """A creator asks for a custom discount code in a program they belong to; the merchant
    approves or rejects it in the console (`discount_code_decide`)."""
    from creators.services import discount_code_create

    if not GroupMembership.objects.filter(
        creator_id=creator_id, program_id=program_id, status="active"
    ).exists():
        raise ApplicationError(
            "You are not in this program.", code="not_found", fields={"program": "Not yours."}
        )
    if not program_options(program_id).allow_code_requests:
        raise ApplicationError(
            "This program does not take custom code requests.",
            code="not_allowed",
            fields={"code": "Not taken in this program."},
        )
    waiting = DiscountCode.objects.filter(
        creator_id=creator_id, program_id=program_id, status=DiscountCode.Status.REQUESTED
    ).count()
    if waiting >= 3:
        raise ApplicationError(
            "You have 3 requests waiting already; wait for the shop's answer.",
            code="too_many",
            fields={"code": "3 requests are waiting."},
        )
    return discount_code_create(
        code=code, creator_id=creator_id, program_id=program_id, requested=True
    )
