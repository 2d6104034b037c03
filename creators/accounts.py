"""Creator accounts: the Django user behind a creator, one-time login links, the profile,
and erasing an account.

- A creator's user is never staff and has no permissions: the console (`/admin/`) refuses
  it, and the portal refuses users without a `CreatorAccount`. Its user name is
  `creator-<id>`; creators log in by email (`creators.portal.auth.CreatorEmailBackend`).
- Login links: a random token is emailed; only its keyed hash is stored. Redeeming it is one
  conditional UPDATE (`used_at IS NULL AND expires_at > now`), so a link logs in once even
  when two requests race with it.
- Erasing (`account_erase`): personal data is removed or replaced by a pseudonym in one
  transaction; the ledger is not touched, its entries keep pointing at the (pseudonymised)
  creator row, so every balance and transaction stays as it was. Apps above creators react
  to `creator_erased` inside the same transaction (their content is withdrawn, their links
  deactivated): see `creators/signals.py`.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.crypto import keyed_hash
from core.errors import ApplicationError, full_clean
from creators import emails
from creators.models import Creator
from creators.portal_models import (
    NETWORKS,
    CreatorAccount,
    CreatorApplication,
    CreatorInvitation,
    CreatorLoginLink,
)
from creators.program_models import CreatorFingerprint, DiscountCode, GroupMembership
from creators.signals import creator_changed, creator_erased

logger = logging.getLogger(__name__)

LOGIN_LINK_PURPOSE = "creator-login-link"
PROFILE_FIELDS = {"name", "country", "notify_content", "notify_earnings"} | {
    f"handle_{n}" for n in NETWORKS
}


def token_hash(purpose: str, token: str) -> str:
    return keyed_hash(purpose, token)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def account_for_email(email: str) -> CreatorAccount | None:
    """The live account whose login email is `email` (case-insensitive)."""
    email = normalise_email(email)
    if not email:
        return None
    return (
        CreatorAccount.objects.select_related("user", "creator")
        .filter(user__email__iexact=email, erased_at__isnull=True)
        .first()
    )


def check_password(password: str, user=None) -> None:
    """Django's password validators, as an ApplicationError on `password`."""
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ApplicationError(
            " ".join(exc.messages), code="weak_password", fields={"password": exc.messages}
        ) from None


def _create_account(*, creator: Creator, email: str, password: str | None = None, **profile):
    """A user and account for `creator` (inside the caller's transaction)."""
    User = get_user_model()
    user = User(username=f"creator-{creator.pk}", email=normalise_email(email), is_staff=False)
    if password:
        check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    account = CreatorAccount(creator=creator, user=user, **profile)
    full_clean(account, exclude=["user", "creator"])
    account.save()
    if creator.email != user.email:
        creator.email = user.email
        creator.save(update_fields=["email", "updated_at"])
    from creators.services import creator_fingerprint_record

    creator_fingerprint_record(
        creator_id=creator.pk, kind=CreatorFingerprint.Kind.EMAIL, value=user.email,
        source="portal account",
    )  # fmt: skip
    return account


# -- login links ----------------------------------------------------------------------------


def login_link_request(*, email: str, login_url) -> bool:
    """Email a one-time login link to the account with this email. Returns whether one was
    sent; the page says the same either way, so nobody learns who has an account.
    `login_url(token)` makes the link's absolute URL."""
    account = account_for_email(email)
    if account is None or not account.user.is_active:
        return False
    token = new_token()
    with transaction.atomic():
        CreatorLoginLink.objects.create(
            user=account.user,
            token_hash=token_hash(LOGIN_LINK_PURPOSE, token),
            expires_at=timezone.now() + timedelta(minutes=settings.PORTAL_LOGIN_LINK_MINUTES),
        )
        emails.send_on_commit(
            "login_link",
            to=account.user.email,
            context={
                "name": account.creator.name,
                "url": login_url(token),
                "minutes": settings.PORTAL_LOGIN_LINK_MINUTES,
            },
        )
    return True


def login_link_redeem(*, token: str):
    """The user a login link logs in, once; ApplicationError when it is unknown, used or
    expired (one message for all three)."""
    now = timezone.now()
    refused = ApplicationError(
        "This login link is not valid any more: links work once, for "
        f"{settings.PORTAL_LOGIN_LINK_MINUTES} minutes. Ask for a new one.",
        code="link_invalid",
    )
    if not token or len(token) > 200:
        raise refused
    with transaction.atomic():
        hashed = token_hash(LOGIN_LINK_PURPOSE, token)
        used = CreatorLoginLink.objects.filter(
            token_hash=hashed, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if not used:
            raise refused
        link = CreatorLoginLink.objects.select_related("user").get(token_hash=hashed)
        user = link.user
        if not user.is_active or not hasattr(user, "creator_account"):
            raise refused
    return user


def login_links_prune(*, now=None) -> int:
    """Delete login links that expired over a day ago (the daily job)."""
    now = now or timezone.now()
    deleted, _ = CreatorLoginLink.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    return deleted


# -- the profile ----------------------------------------------------------------------------


def account_update(*, creator_id: int, **fields) -> CreatorAccount:
    """Change a creator's name, handles, country and notification choices."""
    unknown = sorted(set(fields) - PROFILE_FIELDS)
    if unknown:
        raise ApplicationError(
            f"Unknown fields: {', '.join(unknown)}.",
            fields={name: "Not a profile field." for name in unknown},
        )
    with transaction.atomic():
        account = _lock_account(creator_id)
        creator = Creator.objects.select_for_update().get(pk=creator_id)
        name = fields.pop("name", None)
        if name is not None:
            name = name.strip()
            if not name:
                raise ApplicationError("Your name is empty.", fields={"name": "Required."})
            creator.name = name
            full_clean(creator)
            creator.save(update_fields=["name", "updated_at"])
        for field, value in fields.items():
            setattr(account, field, value.strip() if isinstance(value, str) else value)
        account.country = (account.country or "").upper()
        full_clean(account, exclude=["user", "creator"])
        account.save()
    return account


def _lock_account(creator_id: int) -> CreatorAccount:
    account = (
        CreatorAccount.objects.select_for_update()
        .filter(creator_id=creator_id, erased_at__isnull=True)
        .first()
    )
    if account is None:
        raise ApplicationError(f"Creator #{creator_id} has no account.", code="not_found")
    return account


def account_set_password(*, creator_id: int, password: str):
    """Set a new password (the caller checked the old one or a reset token)."""
    with transaction.atomic():
        account = _lock_account(creator_id)
        user = account.user
        check_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


# -- erasing --------------------------------------------------------------------------------


def pseudonym(creator_id: int) -> str:
    return f"erased-{creator_id}"


def account_erase(*, creator_id: int) -> Creator:
    """Erase a creator's personal data; keep the ledger whole.

    In one transaction: the creator row becomes a pseudonym (name, handle, affiliate code,
    email), the user can no longer log in and loses its name and email (every session ends,
    since the password hash changes), the account's handles and country are cleared, their
    applications and invitations lose name, email, handles and text, their login links and
    identifying fingerprints are deleted, their discount codes are deactivated and their
    memberships ended. `creator_erased` then lets higher apps withdraw their content and
    links in the same transaction. Commissions, ledger accounts and transactions are not
    touched: they point at the same creator row, now a pseudonym, so every balance stays.
    """
    with transaction.atomic(durable=True):
        account = _lock_account(creator_id)
        creator = Creator.objects.select_for_update().get(pk=creator_id)
        email = account.user.email
        alias = pseudonym(creator_id)
        creator.name = f"Erased creator #{creator_id}"
        creator.handle = alias
        creator.affiliate_code = alias.upper()
        creator.email = ""
        creator.status = Creator.Status.REMOVED
        creator.save()
        user = account.user
        user.username = f"erased-creator-{creator_id}"
        user.email = ""
        user.first_name = user.last_name = ""
        user.is_active = False
        user.set_unusable_password()
        user.save()
        for network in NETWORKS:
            setattr(account, f"handle_{network}", "")
        account.country = ""
        account.notify_content = account.notify_earnings = False
        account.erased_at = timezone.now()
        account.save()
        scrub = {"name": "(erased)", "email": f"{alias}@invalid", "country": "", "why": "",
                 "answer": "", **{f"handle_{n}": "" for n in NETWORKS}}  # fmt: skip
        applications = CreatorApplication.objects.filter(creator=creator)
        if email:
            applications = applications | CreatorApplication.objects.filter(email__iexact=email)
        for application in applications.order_by("pk").select_for_update():
            if application.status in CreatorApplication.OPEN:
                application.status = CreatorApplication.Status.REJECTED
                application.decision_reason = "The applicant erased their account."
            for field, value in scrub.items():
                setattr(application, field, value)
            application.save()
        if email:
            CreatorInvitation.objects.filter(email__iexact=email).update(
                email=f"{alias}@invalid", message=""
            )
        CreatorLoginLink.objects.filter(user=user).delete()
        CreatorFingerprint.objects.filter(creator=creator).delete()
        DiscountCode.objects.filter(creator=creator).update(active=False)
        GroupMembership.objects.filter(creator=creator, status="active").update(
            status=GroupMembership.Status.REMOVED
        )
        creator_erased.send(sender=Creator, creator_id=creator_id)
        transaction.on_commit(lambda: creator_changed.send(sender=Creator, creator_id=creator_id))
    logger.info("creator.erased", extra={"creator_id": creator_id})
    return creator
