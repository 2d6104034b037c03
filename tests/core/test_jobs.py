"""One retry policy for every job (core/jobs.py): inline and bounded in-process (the
embedded default, no broker), over the broker on Celery workers; a give-up records the
reason and ends the job quietly."""

import importlib
import importlib.util
import logging
from collections import Counter

import pytest
from django.apps import apps
from django.db import OperationalError
from hypothesis import given
from hypothesis import strategies as st

from config.celery import app
from core.jobs import (
    TRANSIENT_ERRORS,
    RetryLater,
    ShoploopTask,
    enqueue_on_commit,
    retry_delay,
    shoploop_task,
)
from tests.core.test_worker import RUNS, celery_worker, wait_for  # noqa: F401 (fixture)

ATTEMPTS: Counter = Counter()
GAVE_UP: list = []


def _record_give_up(key, failures=0, *, error, attempts):
    GAVE_UP.append((key, type(error).__name__, str(error), attempts))


@shoploop_task(name="tests.jobs.flaky", time_limit=30, max_retries=4, give_up=_record_give_up)
def flaky(key: str, failures: int) -> str:
    """Fails `failures` times with a transient error, then succeeds."""
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] <= failures:
        raise OperationalError(f"the database went away (attempt {ATTEMPTS[key]})")
    return "done"


@shoploop_task(name="tests.jobs.not_now", time_limit=30, max_retries=1)
def not_now(key: str) -> None:
    ATTEMPTS[key] += 1
    raise RetryLater("The host is busy.", countdown=0.15, code="host_busy")


@shoploop_task(name="tests.jobs.broken", time_limit=30)
def broken(key: str) -> None:
    ATTEMPTS[key] += 1
    raise ValueError("a bug, not a passing failure")


@shoploop_task(name="tests.jobs.self_retry", time_limit=30, bind=True, max_retries=3)
def self_retry(self, key: str) -> int:
    """A task that asks Celery for a retry itself, as tasks written before the policy did."""
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] < 3:
        raise self.retry(countdown=5)
    return self.request.retries


@pytest.fixture(autouse=True)
def _fresh_records(settings):
    ATTEMPTS.clear()
    GAVE_UP.clear()
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0.01  # the bound is checked below, not waited for


def events(caplog, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == name]


# --- in-process: the embedded default, no broker ------------------------------------------


@pytest.mark.django_db
def test_in_process_a_job_retries_inline_and_succeeds(caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO, logger="core.jobs")
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(flaky, "a", 2)
    assert ATTEMPTS["a"] == 3
    assert GAVE_UP == []
    retries = events(caplog, "job.retry")
    assert [r.attempt for r in retries] == [1, 2]
    assert all(r.inline and r.delay <= 0.01 for r in retries)
    assert retries[0].reason == "the database went away (attempt 1)"


@pytest.mark.django_db
def test_in_process_a_job_gives_up_after_a_few_retries_and_records_why(
    caplog, settings, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO)
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(flaky, "b", 100)  # the task allows 4 retries; in-process 2
    assert ATTEMPTS["b"] == settings.JOBS_INLINE_MAX_RETRIES + 1 == 3
    assert GAVE_UP == [("b", "OperationalError", "the database went away (attempt 3)", 3)]
    (gave_up,) = events(caplog, "job.gave_up")
    assert gave_up.levelno == logging.WARNING and gave_up.exc_info is None
    assert (gave_up.task, gave_up.ids) == ("tests.jobs.flaky", ("b", 100))
    # Nothing that reads as a crash: no enqueue failure, no traceback, no error.
    assert not events(caplog, "job.enqueue_failed") and not events(caplog, "job.failed")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.django_db
def test_inline_retries_wait_by_the_same_backoff_bounded(
    caplog, settings, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger="core.jobs")
    settings.JOBS_RETRY_BACKOFF = 0.1
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0.3
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(flaky, "c", 2)
        enqueue_on_commit(not_now, "d")
    first, second, busy = (r.delay for r in events(caplog, "job.retry"))
    assert 0.05 <= first <= 0.1  # retry 0: between half and all of 0.1 * 2**0
    assert 0.1 <= second <= 0.2  # retry 1: of 0.1 * 2**1
    assert busy == 0.15  # never sooner than the countdown RetryLater asks for
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0.12
    caplog.clear()
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(not_now, "e")
    assert [r.delay for r in events(caplog, "job.retry")] == [0.12]  # bounded in-process


@pytest.mark.django_db
def test_a_failure_that_is_not_transient_is_not_retried(caplog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(broken, "f")  # the request that enqueued it goes on
    assert ATTEMPTS["f"] == 1
    (failed,) = events(caplog, "job.failed")
    assert failed.exc_info[0] is ValueError  # a bug keeps its traceback
    assert not events(caplog, "job.enqueue_failed")


def test_in_process_a_task_calling_self_retry_retries_inline(caplog):
    caplog.set_level(logging.INFO, logger="core.jobs")
    assert self_retry.delay("s").get() == 2  # in-process: the third attempt, two retries in
    assert [r.delay for r in events(caplog, "job.retry")] == [0.01, 0.01]  # bounded pauses


def test_a_direct_call_follows_the_inline_policy():
    assert flaky("g", 1) == "done"
    assert ATTEMPTS["g"] == 2


@given(
    retries=st.integers(min_value=0, max_value=60),
    base=st.floats(min_value=0.01, max_value=10),
    cap=st.floats(min_value=0.01, max_value=1000),
    minimum=st.none() | st.floats(min_value=0, max_value=100),
)
def test_the_backoff_is_exponential_with_jitter_and_bounded(retries, base, cap, minimum):
    from django.test import override_settings

    with override_settings(JOBS_RETRY_BACKOFF=base, JOBS_RETRY_BACKOFF_MAX=cap):
        delay = retry_delay(retries, minimum=minimum)
    ceiling = min(cap, base * 2 ** min(retries, 32))
    assert ceiling / 2 <= delay <= ceiling or delay == minimum
    assert delay >= (minimum or 0)


def test_every_job_of_every_app_follows_the_one_policy():
    for config in apps.get_app_configs():
        if importlib.util.find_spec(config.name) and importlib.util.find_spec(
            f"{config.name}.tasks"
        ):
            importlib.import_module(f"{config.name}.tasks")
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert {"previews.fetch", "ugc.process_media", "catalog.product_image_make_thumbnail"} <= set(
        ours
    )
    for name, task in ours.items():
        assert isinstance(task, ShoploopTask), f"{name} is not declared with shoploop_task"
        assert set(TRANSIENT_ERRORS) <= set(task.autoretry_for), name
        assert RetryLater in task.autoretry_for, name
        assert task.acks_late and task.time_limit, name


# --- on a real Celery worker -------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_on_a_worker_a_job_retries_over_the_broker_then_succeeds(celery_worker, settings):  # noqa: F811
    settings.JOBS_RETRY_BACKOFF = 0.05
    enqueue_on_commit(flaky, "h", 2)
    assert wait_for(lambda: ("tests.jobs.flaky", ("h", 2), False) in RUNS and ATTEMPTS["h"] == 3)
    assert wait_for(lambda: len([r for r in RUNS if r[1] == ("h", 2)]) == 3)
    assert all(not eager for name, args, eager in RUNS if args == ("h", 2))
    assert GAVE_UP == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_on_a_worker_a_job_gives_up_after_max_retries(celery_worker, settings):  # noqa: F811
    settings.JOBS_RETRY_BACKOFF = 0.05
    enqueue_on_commit(flaky, "i", 100)
    assert wait_for(lambda: GAVE_UP, timeout=30)
    assert GAVE_UP == [("i", "OperationalError", "the database went away (attempt 5)", 5)]
    assert ATTEMPTS["i"] == flaky.max_retries + 1 == 5


# --- a real transient failure: a lock the thumbnail job waits for too long ---------------------


class _ReleaseOnRetry(logging.Handler):
    """Releases a lock when the job logs its first retry: the failure is then certain to
    have happened, and the retry certain to find the row free, whatever the timing."""

    def __init__(self, unlock):
        super().__init__()
        self.unlock = unlock

    def emit(self, record):
        if record.getMessage() == "job.retry":
            self.unlock.set()


@pytest.mark.django_db(transaction=True)
def test_in_process_the_thumbnail_job_retries_a_database_lock_timeout(settings, caplog):
    import threading

    from django.db import connection, connections, transaction

    from catalog import services
    from catalog.models import ProductImage
    from catalog.tasks import product_image_make_thumbnail
    from tests.catalog.factories import ProductFactory, upload

    caplog.set_level(logging.INFO, logger="core.jobs")
    image = services.product_image_add(product=ProductFactory(), upload=upload())
    ProductImage.objects.filter(pk=image.pk).update(thumbnail="")  # made on commit: undo it
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():  # another request editing the image, in its own connection
        try:
            with transaction.atomic():
                ProductImage.objects.select_for_update().get(pk=image.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(10)
    handler = _ReleaseOnRetry(release)
    logging.getLogger("core.jobs").addHandler(handler)
    with connection.cursor() as cursor:  # PostgreSQL gives up waiting: OperationalError
        cursor.execute("SET lock_timeout = '100ms'")
    try:
        product_image_make_thumbnail.delay(image.pk)
    finally:
        logging.getLogger("core.jobs").removeHandler(handler)
        release.set()
        holder.join(10)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert ProductImage.objects.get(pk=image.pk).thumbnail  # the inline retry made it
    (retry,) = events(caplog, "job.retry")
    assert retry.task == "catalog.product_image_make_thumbnail"
    assert "lock timeout" in retry.reason
