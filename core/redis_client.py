"""Redis clients for code on request paths and in jobs: the event buffers, the integrations'
token buckets and locks.

Short timeouts, because a shopper's request may wait on them and each caller has a fallback,
and Lua scripts registered as methods. `release_lock` deletes a lock only while it still
holds the caller's token.
"""

import redis

RELEASE_LOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def connect(url: str, **scripts: str) -> redis.Redis:
    """A client for `url` with `release_lock` and each of `scripts` (name=Lua) as methods."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=2, health_check_interval=30
    )
    for name, source in {"release_lock": RELEASE_LOCK_SCRIPT, **scripts}.items():
        setattr(client, name, client.register_script(source))
    return client
