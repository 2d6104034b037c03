"""Exactly once: the order webhook's job and a late conversion event racing on two
connections make one attribution and one set of commissions."""

import threading
from datetime import timedelta

import pytest
from django.db import connections

from attribution.models import Attribution, AttributionRevision
from attribution.services import attribution_decide
from sales import ledger
from sales.ledger_models import Commission
from tests.attribution.factories import CreatorFactory, click, make_order, program_with


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_the_webhook_and_a_late_conversion_racing_give_one_attribution(attempt):
    maya = CreatorFactory(handle=f"maya{attempt}")
    program_with("10", creators=[maya])
    made = click(maya, ago=timedelta(hours=2))
    order = make_order(click_id=str(made.click_id))
    barrier = threading.Barrier(2)
    errors = []

    def run(**kwargs):
        try:
            barrier.wait(timeout=10)
            attribution_decide(order_id=order.pk, **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run),
        threading.Thread(
            target=run,
            kwargs={"late_click_id": str(made.click_id), "reason": "Late conversion event."},
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    attribution = Attribution.objects.get(order=order)
    assert (attribution.creator_id, attribution.version) == (maya.pk, 1)
    assert AttributionRevision.objects.filter(attribution=attribution).count() == 1
    assert Commission.objects.filter(order=order).count() == 1
    assert ledger.verify()["ok"]
