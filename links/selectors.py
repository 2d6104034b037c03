"""Reads of links and their clicks for the console, the API and dashboards."""

from datetime import UTC
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from links.destinations import AllowedHost, normalize_host, parse_ports
from links.models import AllowedDomain, ClickEvent, ShortLink


def allowed_domains() -> dict[str, AllowedHost]:
    """Normalised domain -> what it allows. The shop's own host is always allowed."""
    allowed = {
        domain: AllowedHost(include_subdomains=subdomains, ports=_ports(ports))
        for domain, subdomains, ports in AllowedDomain.objects.values_list(
            "domain", "include_subdomains", "ports"
        )
    }
    own = urlsplit(settings.PUBLIC_BASE_URL).hostname if settings.PUBLIC_BASE_URL else None
    if own:
        own_port = urlsplit(settings.PUBLIC_BASE_URL).port
        allowed.setdefault(
            normalize_host(own), AllowedHost(ports=frozenset({own_port} if own_port else ()))
        )
    return allowed


def _ports(value: str) -> frozenset[int]:
    try:
        return parse_ports(value)
    except ValueError:
        return frozenset()  # saved only through the service, which refuses bad ports


def links_with_status(queryset, status: str):
    now = timezone.now()
    live = Q(active=True) & (Q(starts_at__isnull=True) | Q(starts_at__lte=now))
    not_expired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    return {
        ShortLink.Status.ACTIVE: queryset.filter(live & not_expired),
        ShortLink.Status.INACTIVE: queryset.filter(active=False),
        ShortLink.Status.SCHEDULED: queryset.filter(active=True, starts_at__gt=now),
        ShortLink.Status.EXPIRED: queryset.filter(active=True, expires_at__lte=now),
    }.get(status, queryset)


def link_status(link: ShortLink) -> str:
    now = timezone.now()
    if not link.active:
        return ShortLink.Status.INACTIVE
    if link.starts_at and link.starts_at > now:
        return ShortLink.Status.SCHEDULED
    if link.expires_at and link.expires_at <= now:
        return ShortLink.Status.EXPIRED
    return ShortLink.Status.ACTIVE


# What click counts can be grouped by, and the column behind each.
GROUPINGS = {
    "day": TruncDate("clicked_at", tzinfo=UTC),
    "country": F("country"),
    "device": F("device_type"),
    "source": F("utm_source"),
    "route": F("route"),
}


def link_click_counts(link: ShortLink, *, group_by: str, since=None, until=None) -> list[dict]:
    """Total, unique and bot clicks of a link, grouped. Human clicks only count as clicks."""
    clicks = ClickEvent.objects.filter(link=link)
    if since:
        clicks = clicks.filter(clicked_at__gte=since)
    if until:
        clicks = clicks.filter(clicked_at__lt=until)
    rows = (
        clicks.annotate(key=GROUPINGS[group_by])
        .values("key")
        .annotate(
            clicks=Count("pk", filter=Q(is_bot=False)),
            unique_clicks=Count("pk", filter=Q(is_bot=False, is_unique=True)),
            bot_hits=Count("pk", filter=Q(is_bot=True)),
        )
        .order_by("key")
    )
    return [{**row, "key": str(row["key"]) if row["key"] is not None else ""} for row in rows]
