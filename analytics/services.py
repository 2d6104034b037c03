"""Writes of the analytics app: folding facts into the rollups and checking them."""

import logging
from datetime import date

from analytics import checks, rollups

logger = logging.getLogger(__name__)


def rollups_fold() -> dict:
    """Fold what arrived since the last fold (see `analytics.rollups`)."""
    result = rollups.fold()
    logger.info("analytics.rollups_folded", extra=result)
    return result


def rollups_rebuild(*, first: date | None = None, last: date | None = None) -> dict:
    """Compute the rollups of these local days again from the facts (default: all)."""
    result = rollups.rebuild(first, last)
    logger.info("analytics.rollups_rebuilt", extra=result)
    return result


def rollups_verify() -> dict:
    """Fold, then compare the rollups' commission with the ledger's and their net revenue
    with the orders' and refunds'. `ok` is False when any differs."""
    rollups_fold()
    problems = checks.commission_matches_ledger() + checks.revenue_matches_orders()
    for problem in problems:
        logger.error("analytics.rollups_mismatch", extra={"problem": problem})
    return {"ok": not problems, "problems": problems}
