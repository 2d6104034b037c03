"""What the redirect needs to know about a link, cached so that it never waits on PostgreSQL.

A snapshot is a plain dict built from the link, its rules and split arms, its creator and
products, with every destination already resolved to a URL. It lives in the shared cache
(Redis in production) for `LINK_SNAPSHOT_TTL`, and for `LINK_SNAPSHOT_LOCAL_TTL` seconds in
each process.

Invalidation bumps a generation number that is part of the cache key, instead of deleting
keys: one counter per code, and one for every link at once (the allowed domains changed). A
process that read the database just before a change and stores its (stale) snapshot stores it
under the old generation, which nobody reads again; the TTL clears such leftovers. Saving a
link, rule, arm, allowed domain, creator, product or variant invalidates after commit; other
processes see the change within the local TTL.
"""

import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db.models import Prefetch, Q
from django.db.models.functions import Lower

from core.errors import ApplicationError
from links.destinations import normalize_destination
from links.models import UTM_FIELDS

CACHE_PREFIX = "links:snapshot:v2"
GLOBAL_GENERATION = "links:snapshot-gen"
MISSING = {"missing": True}  # cached for unknown codes, so scanners do not hit the database
MISSING_TTL = 30
LOCAL_MAX_ENTRIES = 10_000

_local: dict[str, tuple[float, dict]] = {}
_local_lock = threading.Lock()


def _generation_key(code: str) -> str:
    return f"links:snapshot-gen:{code.lower()}"


def get(code: str) -> dict | None:
    """The snapshot of `code`, or None if there is no such link.

    Raises DatabaseError only when the snapshot is in no cache and the database is down.
    """
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


def cached(code: str) -> dict | None:
    """The snapshot of `code` if this process or the shared cache has it, without ever
    asking the database; None when neither has it (or the cache cannot be reached).

    A cached unknown code comes back as a dict with "missing" set."""
    now = time.monotonic()
    lowered = code.lower()
    hit = _local.get(lowered)
    if hit and hit[0] > now:
        return hit[1]
    try:
        snapshot = cache.get(_current_key(code))
    except Exception:  # the cache is down: the caller takes the road that can build it
        return None
    if snapshot is not None:
        with _local_lock:
            if len(_local) >= LOCAL_MAX_ENTRIES:
                _local.clear()
            _local[lowered] = (now + settings.LINK_SNAPSHOT_LOCAL_TTL, snapshot)
    return snapshot


def _current_key(code: str) -> str:
    """The cache key of the snapshot of `code` at the current generations."""
    generations = cache.get_many([GLOBAL_GENERATION, _generation_key(code)])
    everything = generations.get(GLOBAL_GENERATION, 0)
    this_link = generations.get(_generation_key(code), 0)
    return f"{CACHE_PREFIX}:{everything}:{this_link}:{code.lower()}"


def _from_shared_cache(code: str) -> dict:
    try:
        key = _current_key(code)
        snapshot = cache.get(key)
    except Exception:  # the cache is down: go to the database
        key, snapshot = None, None
    if snapshot is None:
        snapshot = build(code)
        if key is not None:
            ttl = MISSING_TTL if snapshot is MISSING else settings.LINK_SNAPSHOT_TTL
            try:
                cache.set(key, snapshot, timeout=ttl)
            except Exception:  # noqa: S110 - a cache outage must not break the redirect
                pass
    return snapshot


def _bump(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:  # no counter yet
        if not cache.add(key, 1, timeout=None):
            cache.incr(key)


def invalidate(code: str) -> None:
    _bump(_generation_key(code))
    with _local_lock:
        _local.pop(code.lower(), None)


def invalidate_links(link_filter: Q) -> None:
    """Invalidate every link matching `link_filter` (one generation bump per link)."""
    from links.models import ShortLink

    for code in ShortLink.objects.filter(link_filter).values_list("code", flat=True).distinct():
        invalidate(code)


def invalidate_link(link_id: int) -> None:
    invalidate_links(Q(pk=link_id))


def invalidate_all() -> None:
    """After a change to the allowed domains every link must be checked again."""
    _bump(GLOBAL_GENERATION)
    with _local_lock:
        _local.clear()


def for_products(product_ids) -> Q:
    """Links whose destination, rules or arms go to one of these products."""
    return (
        Q(product_id__in=product_ids)
        | Q(rules__product_id__in=product_ids)
        | Q(split_arms__product_id__in=product_ids)
    )


def destination_url(obj, *, allowed) -> str | None:
    """A path for our own product pages, or the external URL re-checked against the list.

    None when the product is no longer on sale.
    """
    if obj.product_id:
        if not obj.product.active:
            return None
        path = obj.product.get_absolute_url()
        if obj.variant_id:
            path += f"?variant={obj.variant.sku}"
        return settings.PUBLIC_BASE_URL + path if settings.PUBLIC_BASE_URL else path
    return normalize_destination(obj.url, allowed=allowed)


def build(code: str) -> dict:
    """Build a snapshot from the database; MISSING when there is no such link."""
    from links.models import RoutingRule, ShortLink, SplitArm
    from links.selectors import allowed_domains

    link = (
        ShortLink.objects.alias(code_lower=Lower("code"))
        .select_related("product", "variant", "creator")
        .prefetch_related(
            Prefetch("rules", RoutingRule.objects.select_related("product", "variant")),
            Prefetch("split_arms", SplitArm.objects.select_related("product", "variant")),
        )
        .filter(code_lower=code.lower())  # the unique index on lower(code)
        .first()
    )
    if link is None:
        return MISSING
    allowed = allowed_domains()
    try:
        destination = destination_url(link, allowed=allowed)
    except ApplicationError:
        # The domain was removed from the allowed list after the link was saved.
        destination = None
    fallback = None
    if link.fallback_url:
        try:
            fallback = normalize_destination(link.fallback_url, allowed=allowed)
        except ApplicationError:
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
        "utm": {field: getattr(link, field) for field in UTM_FIELDS if getattr(link, field)},
        "extra": {k: str(v) for k, v in link.extra_params.items()},
        "rules": [_rule(rule, allowed) for rule in link.rules.all()],
        "arms": [_arm(arm, allowed) for arm in link.split_arms.all()],
    }


def _safe_destination(obj, allowed) -> str | None:
    try:
        return destination_url(obj, allowed=allowed)
    except ApplicationError:
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
