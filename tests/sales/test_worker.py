"""End to end on a real Celery worker: the endpoint answers, the worker builds the order."""

import pytest

from sales.models import Order, WebhookDelivery
from tests.catalog.factories import VariantFactory
from tests.core.test_worker import RUNS, celery_worker, wait_for  # noqa: F401
from tests.sales.adapters import ADAPTERS

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_delivery_is_processed_by_the_worker_after_the_answer(client, celery_worker):  # noqa: F811
    channel = ADAPTERS["shopify"]().channel()
    VariantFactory(sku="SKU-1", stock_on_hand=5)
    delivery = ADAPTERS["shopify"]().order(channel, "8001", quantity=2)
    response = delivery._post(client, channel)  # no in-process job: the broker carries it
    assert response.status_code == 200
    stored = WebhookDelivery.objects.get(accepted=True)
    assert wait_for(lambda: Order.objects.filter(external_id="8001").exists())
    assert wait_for(lambda: WebhookDelivery.objects.get(pk=stored.pk).status == "processed")
    # The worker records the run once the task has returned, a moment after its commit.
    assert wait_for(lambda: ("sales.process_delivery", (stored.pk,), False) in RUNS)
    assert Order.objects.get().lines.get().stock_committed == 2
