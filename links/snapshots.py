"""What the redirect needs to know about a link, cached so that it never waits on PostgreSQL.

A snapshot is a plain dict built from the link, its rules and split arms, with every
destination already resolved to a URL. It lives in the shared cache (Redis in production)
with no expiry, and for a couple of seconds in each process. Saving a link, rule, arm or
allowed domain invalidates it after commit; other processes see the change within
`LINK_SNAPSHOT_LOCAL_TTL` seconds.
"""

import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Prefetch

from links.destinations import normalize_destination

CACHE_PREFIX = "links:snapshot:v1:"
MISSING = {"missing": True}  # cached for unknown codes, so scanners do not hit the database
MISSING_TTL = 30
LOCAL_MAX_ENTRIES = 10_000

_local: dict[str, tuple[float, dict]] = {}
_local_lock = threading.Lock()


def _key(code: str) -> str:
    return CACHE_PREFIX + code.lower()


def get(code: str) -> dict | None:
    """The snapshot of `code`, or None if there is no such link."""
    now = time.monotonic()
    hit = _local.get(code.lower())
    if hit and hit[0] > now:
        snapshot = hit[1]
    else:
        snapshot = _from_shared_cache(code)
        with _local_lock:
            if len(_local) >= LOCAL_MAX_ENTRIES:  # bounded, whatever codes scanners try
                _local.clear()
            _local[code.lower()] = (now + settings.LINK_SNAPSHOT_LOCAL_TTL, snapshot)
    return None if snapshot.get("missing") else snapshot


def _from_shared_cache(code: str) -> dict:
    try:
        snapshot = cache.get(_key(code))
    except Exception:  # the cache is down: go to the database
        snapshot = None
    if snapshot is None:
        snapshot = build(code)
        try:
            cache.set(_key(code), snapshot, timeout=MISSING_TTL if snapshot is MISSING else None)
        except Exception:  # noqa: S110 - a cache outage must not break the redirect
            pass
    return snapshot


def invalidate(code: str) -> None:
    cache.delete(_key(code))
    with _local_lock:
        _local.pop(code.lower(), None)


def invalidate_link(link_id: int) -> None:
    from links.models import ShortLink

    code = ShortLink.objects.filter(pk=link_id).values_list("code", flat=True).first()
    if code:
        invalidate(code)


def invalidate_all() -> None:
    """After a change to the allowed domains every link must be checked again."""
    from links.models import ShortLink

    for code in ShortLink.objects.values_list("code", flat=True).iterator():
        cache.delete(_key(code))
    with _local_lock:
        _local.clear()


def destination_url(obj, *, allowed) -> str:
    """A path for our own product pages, or the external URL re-checked against the list."""
    if obj.product_id:
        path = obj.product.get_absolute_url()
        if obj.variant_id:
            path += f"?variant={obj.variant.sku}"
        return settings.PUBLIC_BASE_URL + path if settings.PUBLIC_BASE_URL else path
    return normalize_destination(obj.url, allowed=allowed)


def build(code: str) -> dict:
    """Build a snapshot from the database; MISSING when there is no such link."""
    from links.models import RoutingRule, ShortLink, SplitArm
    from links.services import allowed_domains

    link = (
        ShortLink.objects.select_related("product", "variant", "creator")
        .prefetch_related(
            Prefetch("rules", RoutingRule.objects.select_related("product", "variant")),
            Prefetch("split_arms", SplitArm.objects.select_related("product", "variant")),
        )
        .filter(code__iexact=code)
        .first()
    )
    if link is None:
        return MISSING
    allowed = allowed_domains()
    try:
        destination = destination_url(link, allowed=allowed)
    except ValidationError:
        # The domain was removed from the allowed list after the link was saved.
        destination = None
    fallback = None
    if link.fallback_url:
        try:
            fallback = normalize_destination(link.fallback_url, allowed=allowed)
        except ValidationError:
            fallback = None
    return {
        "id": link.pk,
        "code": link.code,
        "active": link.active and destination is not None,
        "starts_at": link.starts_at.timestamp() if link.starts_at else None,
        "expires_at": link.expires_at.timestamp() if link.expires_at else None,
        "fallback_url": fallback,
        "destination": destination,
        "product_id": link.product_id,
        "creator_id": link.creator_id,
        "affiliate_code": link.creator.affiliate_code if link.creator_id else "",
        "utm": {
            field: getattr(link, field)
            for field in ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
            if getattr(link, field)
        },
        "extra": {k: str(v) for k, v in link.extra_params.items()},
        "rules": [_rule(rule, allowed) for rule in link.rules.all()],
        "arms": [_arm(arm, allowed) for arm in link.split_arms.all()],
    }


def _safe_destination(obj, allowed) -> str | None:
    try:
        return destination_url(obj, allowed=allowed)
    except ValidationError:
        return None


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _rule(rule, allowed) -> dict:
    return {
        "id": rule.pk,
        "countries": _split(rule.countries),
        "languages": _split(rule.languages),
        "os": rule.device_os,
        "in_app": rule.in_app,
        "param": rule.query_param,
        "value": rule.query_value,
        "from": rule.active_from.timestamp() if rule.active_from else None,
        "until": rule.active_until.timestamp() if rule.active_until else None,
        "destination": _safe_destination(rule, allowed),
        "product_id": rule.product_id,
    }


def _arm(arm, allowed) -> dict:
    return {
        "id": arm.pk,
        "label": arm.label,
        "weight": arm.weight,
        "destination": _safe_destination(arm, allowed),
        "product_id": arm.product_id,
    }
