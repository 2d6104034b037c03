"""End to end on a real Celery worker: a price saved in the console's transaction reaches
Google through the beat's job and the push it queues."""

from decimal import Decimal

import pytest
from django.db import transaction

from catalog import services as catalog_services
from catalog.models import Variant
from integrations import push, tasks
from integrations.models import Listing
from tests.core.test_worker import RUNS, celery_worker, wait_for  # noqa: F401 - the fixture
from tests.integrations.helpers import connect, product

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_price_change_reaches_the_destination_through_the_beat_job(
    owner_client,
    google_server,
    celery_worker,  # noqa: F811
):
    google = connect(owner_client, "google")
    product(sku="W-1")
    push.connection_push(connection_id=google.pk)
    variant = Variant.objects.get(sku="W-1")
    variant.price = Decimal("31.00")
    with transaction.atomic():
        catalog_services.variant_save(variant=variant)  # products_changed after the commit
    assert Listing.objects.get(connection=google).dirty
    tasks.sync_push.delay()  # what beat sends every 5 seconds

    def arrived():
        offer = google_server.offers().get("W-1") or {}
        return offer.get("productAttributes", {}).get("price", {}).get("amountMicros") == "31000000"

    assert wait_for(arrived), "the worker did not push the new price"
    assert wait_for(lambda: not Listing.objects.get(connection=google).dirty)
    ran = {name for name, _, eager in RUNS if not eager}
    assert {"integrations.sync_push", "integrations.connection_push"} <= ran
