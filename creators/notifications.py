"""Emails to creators about their own work, sent only when they chose to get them
(`CreatorAccount.notify_content`, `notify_earnings`) and only to live accounts.

Apps above creators call these with plain values when something happens (ugc when a
moderator publishes or rejects a portal submission; sales when a commission is held for
review); the email goes out after their transaction commits.
"""

from django.conf import settings

from core.absolute_urls import absolute_url
from creators import emails
from creators.portal_models import CreatorAccount


def _account(creator_id: int | None, choice: str) -> CreatorAccount | None:
    if not creator_id:
        return None
    account = (
        CreatorAccount.objects.select_related("user", "creator")
        .filter(creator_id=creator_id, erased_at__isnull=True, user__is_active=True)
        .first()
    )
    if account is None or not getattr(account, choice) or not account.user.email:
        return None
    return account


def content_decided(*, creator_id: int | None, item_id: int, published: bool, reason: str = ""):
    """A portal submission was published, or not accepted (with the reason)."""
    account = _account(creator_id, "notify_content")
    if account is None:
        return
    emails.send_on_commit(
        "content_published" if published else "content_rejected",
        to=account.user.email,
        context={
            "name": account.creator.name,
            "item_id": item_id,
            "reason": reason,
            "url": absolute_url(f"/creators/content/{item_id}/"),
        },
    )


def commission_held(*, creator_id: int, amount: str, reason: str = ""):
    """A commission of theirs is held for review."""
    account = _account(creator_id, "notify_earnings")
    if account is None:
        return
    emails.send_on_commit(
        "commission_held",
        to=account.user.email,
        context={
            "name": account.creator.name,
            "amount": amount,
            "url": absolute_url("/creators/earnings/"),
            "brand": settings.PORTAL_BRAND_NAME,
        },
    )


def payout_details_changed(*, creator_id: int, method: str, account: str, by_staff: bool):
    """Their payout details were changed: always sent (a security notice, not a choice), to
    the account's email, else the creator's."""
    account_row = (
        CreatorAccount.objects.select_related("user", "creator")
        .filter(creator_id=creator_id, erased_at__isnull=True)
        .first()
    )
    creator = account_row.creator if account_row else None
    if creator is None:
        from creators.models import Creator

        creator = Creator.objects.filter(pk=creator_id).first()
    to = (account_row.user.email if account_row else "") or getattr(creator, "email", "")
    if creator is None or not to:
        return
    emails.send_on_commit(
        "payout_details_changed",
        to=to,
        context={
            "name": creator.name,
            "method": method,
            "account": account,
            "by_staff": by_staff,
            "url": absolute_url("/creators/payouts/"),
        },
    )
