"""Thin jobs: the rollups' fold (every minute) and their nightly check."""

from analytics import services
from core.jobs import shoploop_task


@shoploop_task(name="analytics.rollups_fold", time_limit=900)
def rollups_fold() -> dict:
    return services.rollups_fold()


@shoploop_task(name="analytics.rollups_verify", time_limit=1800)
def rollups_verify() -> bool:
    return services.rollups_verify()["ok"]
