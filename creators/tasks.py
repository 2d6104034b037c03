"""Thin creators jobs."""

from core.jobs import shoploop_task
from creators import accounts


@shoploop_task(name="creators.prune_login_links", time_limit=120)
def prune_login_links() -> int:
    """Delete one-time login links that expired over a day ago (safe to run twice)."""
    return accounts.login_links_prune()
