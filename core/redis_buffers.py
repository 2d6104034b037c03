"""Redis connections for the buffers that sit on request paths (clicks, feed counters).

Short timeouts, because a shopper's request waits on them and each caller has a fallback, and
Lua scripts registered as methods. Every buffer's flush holds a lock with a token of its own;
`release_lock` deletes the lock only while it still holds that token.
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
