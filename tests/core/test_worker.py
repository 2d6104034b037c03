"""End to end: a job enqueued in a transaction runs on a real Celery worker after commit."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections, transaction

from catalog import services
from catalog.models import ProductImage
from config.celery import app
from tests.catalog.factories import ProductFactory, image_bytes, upload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


RUNS = []  # (task name, args, ran eagerly?) of every task the worker finished


def _record_run(task=None, args=None, **kwargs):
    RUNS.append((task.name, tuple(args or ()), bool(task.request.is_eager)))


def _close_worker_connections(**kwargs):
    # The worker thread opens its own database connections; close them like a real worker
    # does between tasks, so the test database can be dropped at the end of the run.
    connections.close_all()


@pytest.fixture
def celery_worker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    RUNS.clear()
    task_postrun.connect(_record_run)
    task_postrun.connect(_close_worker_connections)
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=10
        ) as worker:
            yield worker
    finally:
        task_postrun.disconnect(_record_run)
        task_postrun.disconnect(_close_worker_connections)
        app.conf.task_always_eager = True


def queued_messages() -> int:
    with app.connection_for_write() as conn:
        return conn.default_channel.client.llen("celery")


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_job_runs_on_a_real_worker_after_commit(celery_worker):
    product = ProductFactory()
    with transaction.atomic():
        image = services.product_image_add(
            product=product, upload=upload("shot.jpg", image_bytes("JPEG", size=(800, 800)))
        )
        # Inside the transaction nothing has been sent yet: the worker could not see the row.
        assert queued_messages() == 0
    assert wait_for(lambda: bool(ProductImage.objects.get(pk=image.pk).thumbnail)), (
        "the worker did not make the thumbnail"
    )
    image.refresh_from_db()
    assert image.thumbnail.name.endswith("-thumb.jpg")
    # It was the worker, over the broker, not an in-process call.
    # (recorded once the task has returned, a moment after its commit)
    assert wait_for(lambda: ("catalog.product_image_make_thumbnail", (image.pk,), False) in RUNS)


def test_a_rolled_back_transaction_sends_nothing(celery_worker):
    product = ProductFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.product_image_add(product=product, upload=upload())
        raise RuntimeError("abort")
    assert queued_messages() == 0
    assert not ProductImage.objects.exists()


def test_enqueue_refuses_model_instances():
    from catalog.tasks import product_image_make_thumbnail
    from core.jobs import enqueue_on_commit

    with pytest.raises(TypeError, match="takes ids"):
        enqueue_on_commit(product_image_make_thumbnail, ProductFactory())
