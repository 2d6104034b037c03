"""Background jobs: the defaults every task shares, one retry policy, and the one way to
enqueue a job.

The retry policy, the same for every job:

- A job retries when it raises one of its retryable errors: `TRANSIENT_ERRORS` (the
  database or a network service was briefly unreachable) by default, `RetryLater` (a
  service saying "not now, try again", optionally no sooner than `countdown` seconds)
  always, and any others the task names (`autoretry_for=`).
- The pause before retry n (0 for the first) is exponential backoff with jitter: a random
  time between half and all of `min(JOBS_RETRY_BACKOFF * 2**n, JOBS_RETRY_BACKOFF_MAX)`
  seconds, and never less than the `countdown` a `RetryLater` asks for.
- On Celery workers a job retries at most `max_retries` times (8 unless the task says
  otherwise), each retry a new message with that countdown.
- In-process (`CELERY_TASK_ALWAYS_EAGER`: the embedded default of `make run`, with no
  broker) a job retries inline, in the process and request that enqueued it, with the same
  backoff but bounded: at most `JOBS_INLINE_MAX_RETRIES` retries (2), each pause at most
  `JOBS_INLINE_RETRY_MAX_DELAY` seconds (2), so a request is held for a few seconds and
  the job's own time, never minutes. A task that calls `self.retry()` itself is retried
  inline the same way (with a broker, Celery sends its message as usual).
- When the retries run out the job gives up: it logs `job.gave_up` with the reason (a
  warning, no traceback) and calls the task's `give_up(*args, error=, attempts=)` hook,
  which records the failure where a person sees it (a preview becomes Failed with the
  reason). A give-up is an outcome, not a crash: the job ends normally.

Errors that are not retryable are bugs or refusals: they fail the job at once, as Celery
does (in-process, `enqueue_on_commit` logs them as `job.failed` with the traceback and the
request that enqueued the job goes on: its data is already committed).
"""

import functools
import logging
import random
import time

from celery import Task, current_app, shared_task
from celery.exceptions import Retry
from celery.utils.functional import head_from_fun
from django.conf import settings
from django.db import transaction
from django.db.utils import InterfaceError, OperationalError

from core.errors import error_message

logger = logging.getLogger(__name__)

# Failures worth another try: the database or a network service was briefly unreachable.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
DEFAULT_MAX_RETRIES = 8


class RetryLater(Exception):  # noqa: N818 (it is not an error: a request to try again)
    """Raised by a job's service when trying again later may succeed (a timeout, a 5xx,
    a busy host). `countdown` is the least time to wait; `code` names the reason."""

    def __init__(self, message: str, *, countdown: float | None = None, code: str = "retry"):
        super().__init__(message)
        self.message = message
        self.countdown = countdown
        self.code = code


def runs_inline() -> bool:
    """True when jobs run in-process instead of on workers (`CELERY_TASK_ALWAYS_EAGER`)."""
    return bool(current_app.conf.task_always_eager)


def retry_delay(retries: int, *, minimum: float | None = None) -> float:
    """Seconds to wait before retry number `retries + 1` (see the module docstring)."""
    base = float(getattr(settings, "JOBS_RETRY_BACKOFF", 2))
    cap = float(getattr(settings, "JOBS_RETRY_BACKOFF_MAX", 600))
    ceiling = min(cap, base * 2 ** min(retries, 32))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not a secret)
    return max(delay, minimum or 0.0)


def _inline_limits() -> tuple[int, float]:
    return (
        int(getattr(settings, "JOBS_INLINE_MAX_RETRIES", 2)),
        float(getattr(settings, "JOBS_INLINE_RETRY_MAX_DELAY", 2)),
    )


class ShoploopTask(Task):
    """The base of every Shoploop task; `shoploop_task` fills in the policy.

    `autoretry_for` lists the errors the task retries. Celery wraps `run` in its own
    autoretry when that attribute is set; ours (`_run_with_retries`) replaces it, and
    `_orig_run` is how Celery knows the task is already wrapped.
    """

    _orig_run = None
    autoretry_for: tuple = TRANSIENT_ERRORS
    give_up = None  # a staticmethod(*args, error=, attempts=, **kwargs), or None


def _run_with_retries(task: ShoploopTask, call, args: tuple, kwargs: dict):
    """Run the task's body under the retry policy (see the module docstring)."""
    request = task.request
    inline = bool(request.is_eager or request.called_directly)
    retries = request.retries or 0
    limit = task.max_retries if task.max_retries is not None else DEFAULT_MAX_RETRIES
    if inline:
        inline_retries, max_pause = _inline_limits()
        limit = min(limit, inline_retries)
    while True:
        try:
            return call(*args, **kwargs)
        except Retry as retry:
            if not inline:
                raise  # the task called self.retry() itself: Celery sends the message
            # In-process there is no broker to hold that message: retry inline instead.
            exc, minimum = retry.exc or retry, retry.when
            minimum = minimum if isinstance(minimum, int | float) else None
        except task.autoretry_for as error:
            exc, minimum = error, getattr(error, "countdown", None)
        context = {"task": task.name, "ids": args, "attempt": retries + 1,
                   "reason": error_message(exc)}  # fmt: skip
        if retries >= limit:
            logger.warning("job.gave_up", extra=context)
            if task.give_up is not None:
                task.give_up(*args, error=exc, attempts=retries + 1, **kwargs)
            return None
        delay = retry_delay(retries, minimum=minimum)
        if not inline:
            logger.info("job.retry", extra={**context, "delay": round(delay, 2)})
            raise task.retry(exc=exc, countdown=delay) from exc
        pause = min(delay, max_pause)
        logger.info("job.retry", extra={**context, "delay": round(pause, 2), "inline": True})
        time.sleep(pause)
        retries += 1
        if request.is_eager:  # this run's own request: what `self.request.retries` says
            request.retries = retries


def shoploop_task(
    *,
    name: str,
    time_limit: int = 300,
    max_retries: int = DEFAULT_MAX_RETRIES,
    give_up=None,
    **options,
):
    """Declare a task with Shoploop's defaults.

    Retries its retryable errors by the module's policy (`autoretry_for=` adds to the
    transient ones; `give_up=` records the failure when retries run out), acknowledges late
    (so a worker that dies mid-task leaves the message for another one: tasks must be safe
    to run twice) and is killed past its time limit.
    """
    retry_for = tuple(options.pop("autoretry_for", TRANSIENT_ERRORS))
    if not any(issubclass(RetryLater, kind) for kind in retry_for):
        retry_for += (RetryLater,)
    bind = options.pop("bind", False)

    def decorator(fun):
        @functools.wraps(fun)
        def run(task, *args, **kwargs):
            call = functools.partial(fun, task) if bind else fun
            return _run_with_retries(task, call, args, kwargs)

        settings_ = {
            "name": name,
            "base": ShoploopTask,
            "bind": True,
            "acks_late": True,
            "reject_on_worker_lost": True,
            "autoretry_for": retry_for,
            "max_retries": max_retries,
            "give_up": staticmethod(give_up) if give_up else None,
            "time_limit": time_limit,
            "soft_time_limit": max(time_limit - 30, 1),
            # Celery checks the arguments of a call against this: the body's own signature.
            "__header__": staticmethod(head_from_fun(fun, bound=bind)),
        }
        return shared_task(**{**settings_, **options})(run)

    return decorator


def enqueue_on_commit(task, *ids) -> None:
    """Send `task` with `ids` once the current transaction commits (at once outside one).

    Only ids travel: the task loads fresh rows itself. In-process (no broker) the job runs
    right there, retrying inline by the policy above; a job that fails is logged as
    `job.failed`. With a broker, a message the broker cannot take is logged as
    `job.enqueue_failed` instead of breaking a request whose data is already committed;
    periodic sweeps pick such work up.
    """
    for value in ids:
        if not isinstance(value, int | str):
            raise TypeError(f"enqueue_on_commit takes ids, not {type(value).__name__}")

    def send():
        inline = runs_inline()
        try:
            task.delay(*ids)  # in-process, `delay` runs the job (Celery's `apply`)
        except Exception:
            event = "job.failed" if inline else "job.enqueue_failed"
            logger.exception(event, extra={"task": task.name, "ids": ids})

    transaction.on_commit(send, robust=True)
