"""A fixed-window counter in the cache, for the portal's spam guards (applications per
network, login links per address). With Redis it is shared by every web process; with the
local-memory cache of the embedded default it is per process, which is enough there."""

from django.core.cache import cache


def allow(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Count one hit of `key` in `scope`; False once more than `limit` in `window` seconds."""
    if limit <= 0:
        return True
    name = f"throttle:{scope}:{key}"
    if cache.add(name, 1, timeout=window):
        return True
    try:
        count = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.add(name, 1, timeout=window)
        return True
    return count <= limit
