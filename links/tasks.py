from core.jobs import shoploop_task
from links import clicks


@shoploop_task(name="links.clicks_drain", time_limit=120)
def clicks_drain() -> int:
    """Move buffered clicks to PostgreSQL (one drain at a time; safe to run twice)."""
    return clicks.drain()
