"""Background jobs: the defaults every task shares and the one way to enqueue one."""

import logging

from celery import shared_task
from django.db import transaction
from django.db.utils import InterfaceError, OperationalError

logger = logging.getLogger(__name__)

# Failures worth another try: the database or a network service was briefly unreachable.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


def shoploop_task(*, name: str, time_limit: int = 300, **options):
    """Declare a task with Shoploop's defaults.

    Retries transient errors with exponential backoff and jitter, acknowledges late (so a
    worker that dies mid-task leaves the message for another one: tasks must be safe to run
    twice) and is killed past its time limit.
    """
    defaults = {
        "name": name,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "autoretry_for": TRANSIENT_ERRORS,
        "retry_backoff": 2,
        "retry_backoff_max": 600,
        "retry_jitter": True,
        "max_retries": 8,
        "time_limit": time_limit,
        "soft_time_limit": max(time_limit - 30, 1),
    }
    return shared_task(**{**defaults, **options})


def enqueue_on_commit(task, *ids) -> None:
    """Send `task` with `ids` once the current transaction commits (at once outside one).

    Only ids travel: the task loads fresh rows itself. If the broker cannot take the
    message, the failure is logged instead of breaking a request whose data is already
    committed; periodic sweeps pick such work up.
    """
    for value in ids:
        if not isinstance(value, int | str):
            raise TypeError(f"enqueue_on_commit takes ids, not {type(value).__name__}")

    def send():
        try:
            task.delay(*ids)
        except Exception:
            logger.exception("job.enqueue_failed", extra={"task": task.name, "ids": ids})
            raise

    transaction.on_commit(send, robust=True)
