"""Reads of UGC: the publishable feed and the rights state the console filters on."""

from datetime import datetime

from django.db import models
from django.db.models import Case, Exists, OuterRef, Q, Value, When
from django.utils import timezone

from ugc.models import CHANNELS, UGCItem, UGCProductMap, UGCRights


class RightsState(models.TextChoices):
    NONE = "none", "No rights"
    VALID = "valid", "Valid for the site"
    SCHEDULED = "scheduled", "Not started yet"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
    NO_SITE = "no_site", "Site channel not allowed"


def _channel_q(channel: str, prefix: str) -> Q:
    # A JSON list of known channel names, matched on its text so that the same query runs on
    # PostgreSQL and on the embedded SQLite (which has no JSON containment).
    if channel not in CHANNELS:
        raise ValueError(f"Unknown channel {channel!r}")
    return Q(**{f"{prefix}allowed_channels__icontains": f'"{channel}"'})


def _started_q(now: datetime, prefix: str) -> Q:
    return Q(**{f"{prefix}starts_at__isnull": True}) | Q(**{f"{prefix}starts_at__lte": now})


def _not_expired_q(now: datetime, prefix: str) -> Q:
    return Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gt": now})


def rights_valid_q(*, now: datetime, channel: str = "site", prefix: str = "") -> Q:
    """Rights that are granted, not revoked, started, not expired and allow `channel`."""
    return (
        Q(**{f"{prefix}revoked_at__isnull": True})
        & _started_q(now, prefix)
        & _not_expired_q(now, prefix)
        & _channel_q(channel, prefix)
    )


def valid_rights_exist(*, now: datetime, channel: str = "site") -> Exists:
    return Exists(
        UGCRights.objects.filter(rights_valid_q(now=now, channel=channel), item=OuterRef("pk"))
    )


def publishable_items(*, now: datetime | None = None, channel: str = "site"):
    """Published items that may be shown right now.

    Rights are checked here as well as when publishing, so an item whose rights expired or
    were revoked disappears at once, before the daily job archives it.
    """
    now = now or timezone.now()
    return (
        UGCItem.objects.filter(
            valid_rights_exist(now=now, channel=channel),
            Exists(UGCProductMap.objects.filter(item=OuterRef("pk"))),
            status=UGCItem.Status.PUBLISHED,
            media_manifest__status="ready",
        )
        .select_related("creator")
        .order_by("-published_at", "-pk")
    )


def items_with_rights_state(queryset=None, *, now: datetime | None = None):
    """Items annotated with `rights_state` (a RightsState value) for the console's filter."""
    now = now or timezone.now()
    queryset = UGCItem.objects.all() if queryset is None else queryset
    prefix = "rights__"
    return queryset.annotate(
        rights_state=Case(
            When(rights__isnull=True, then=Value(RightsState.NONE.value)),
            When(rights__revoked_at__isnull=False, then=Value(RightsState.REVOKED.value)),
            When(~_not_expired_q(now, prefix), then=Value(RightsState.EXPIRED.value)),
            When(~_started_q(now, prefix), then=Value(RightsState.SCHEDULED.value)),
            When(~_channel_q("site", prefix), then=Value(RightsState.NO_SITE.value)),
            default=Value(RightsState.VALID.value),
            output_field=models.CharField(),
        )
    )
