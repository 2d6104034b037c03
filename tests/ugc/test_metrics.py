"""Daily metrics are added in batches, one statement per batch."""

from datetime import date

import pytest

from core.errors import ApplicationError
from tests.ugc.factories import UGCItemFactory
from ugc.models import UGCMetricDaily
from ugc.services import feed as feed_services

DAY1, DAY2 = date(2026, 3, 1), date(2026, 3, 2)


@pytest.mark.django_db
def test_counts_are_added_to_what_is_there(django_assert_num_queries):
    a, b = UGCItemFactory(), UGCItemFactory()
    counts = {
        (a.pk, DAY1, "impressions"): 10,
        (a.pk, DAY1, "clicks"): 2,
        (b.pk, DAY1, "impressions"): 5,
        (a.pk, DAY2, "purchases"): 1,
        (b.pk, DAY2, "clicks"): 0,  # nothing to add: no row
    }
    # The item check, then one INSERT ... ON CONFLICT (inside a savepoint in this test).
    with django_assert_num_queries(4):
        assert feed_services.ugc_metrics_add(counts=counts) == 3
    assert (
        feed_services.ugc_metrics_add(
            counts={(a.pk, DAY1, "impressions"): 3, (a.pk, DAY1, "add_to_carts"): 1}
        )
        == 1
    )
    rows = {
        (m.item_id, m.day): (m.impressions, m.clicks, m.add_to_carts, m.purchases)
        for m in UGCMetricDaily.objects.all()
    }
    assert rows == {
        (a.pk, DAY1): (13, 2, 1, 0),
        (b.pk, DAY1): (5, 0, 0, 0),
        (a.pk, DAY2): (0, 0, 0, 1),
    }


@pytest.mark.django_db
def test_large_batches_are_split(monkeypatch):
    monkeypatch.setattr(feed_services, "METRICS_BATCH", 2)
    items = [UGCItemFactory() for _ in range(5)]
    assert feed_services.ugc_metrics_add(counts={(i.pk, DAY1, "clicks"): 1 for i in items}) == 5
    assert sorted(UGCMetricDaily.objects.values_list("clicks", flat=True)) == [1] * 5


@pytest.mark.django_db
def test_counts_for_deleted_items_are_dropped():
    item = UGCItemFactory()
    assert (
        feed_services.ugc_metrics_add(
            counts={(item.pk, DAY1, "clicks"): 1, (999_999, DAY1, "clicks"): 4}
        )
        == 1
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "n"), [("likes", 1), ("clicks", -1), ("clicks", 1.5)])
def test_bad_counts_are_refused(field, n):
    item = UGCItemFactory()
    with pytest.raises(ApplicationError) as exc:
        feed_services.ugc_metrics_add(counts={(item.pk, DAY1, field): n})
    assert exc.value.code == "invalid_metric"
    assert not UGCMetricDaily.objects.exists()
