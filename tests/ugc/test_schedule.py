"""The publishing calendar: scheduled items go live on time through `ugc_publish`, with the
rights gate checked at that moment; two workers running the job at once publish once."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from core.errors import ApplicationError
from tests.ugc.factories import UGCItemFactory, UserFactory, publishable_item
from ugc import services, tasks
from ugc.models import ModerationEvent, UGCItem, UGCItemLink, UGCRights, UGCSchedule

S = UGCItem.Status
PAGE = "product_page"


def schedule_soon(item, *, seconds=1.0, placement=PAGE, actor=None):
    return services.ugc_schedule_create(
        item_id=item.pk,
        placement=placement,
        publish_at=timezone.now() + timedelta(seconds=seconds),
        actor=actor,
    )


def wait_until(moment):
    time.sleep(max(0.0, (moment - timezone.now()).total_seconds()) + 0.05)


@pytest.mark.django_db
def test_the_beat_job_publishes_a_scheduled_item_on_time_and_not_before():
    moderator = UserFactory(username="mina")
    item = publishable_item()
    schedule = schedule_soon(item, seconds=1.0, actor=moderator)

    assert tasks.publish_scheduled() == {"published": 0, "failed": 0}  # not yet
    item.refresh_from_db()
    assert item.status == S.APPROVED

    wait_until(schedule.publish_at)
    assert tasks.publish_scheduled() == {"published": 1, "failed": 0}
    item.refresh_from_db()
    schedule.refresh_from_db()
    assert item.status == S.PUBLISHED
    assert schedule.publish_at <= item.published_at < schedule.publish_at + timedelta(seconds=5)
    assert (schedule.status, schedule.done_at is not None) == ("published", True)
    assert "live in Product page gallery" in schedule.outcome
    # Published through the normal service: the card links exist, the audit says so.
    assert UGCItemLink.objects.filter(item=item).exists()
    actions = list(ModerationEvent.objects.filter(item=item).values_list("action", flat=True))
    assert actions[-2:] == ["schedule", "publish"]
    # Running the job again does nothing more.
    assert tasks.publish_scheduled() == {"published": 0, "failed": 0}


@pytest.mark.django_db
def test_an_item_whose_rights_expired_in_between_is_not_published():
    item = publishable_item()
    schedule = schedule_soon(item, seconds=1.0)
    # Valid when scheduled; the rights end before the publishing time comes.
    UGCRights.objects.filter(item=item).update(
        expires_at=timezone.now() + timedelta(milliseconds=500)
    )

    wait_until(schedule.publish_at)
    assert tasks.publish_scheduled() == {"published": 0, "failed": 1}

    item.refresh_from_db()
    schedule.refresh_from_db()
    assert (item.status, item.published_at) == (S.APPROVED, None)
    assert schedule.status == "failed"
    assert schedule.outcome.startswith("rights_expired: ")
    failed = ModerationEvent.objects.get(item=item, action="schedule_failed")
    assert "rights expired" in failed.reason
    assert not UGCItemLink.objects.filter(item=item).exists()


@pytest.mark.django_db
def test_an_item_published_by_hand_meanwhile_is_left_live():
    item = publishable_item()
    schedule = schedule_soon(item, seconds=0.5)
    services.ugc_publish(item_id=item.pk, actor=None)
    published_at = UGCItem.objects.get(pk=item.pk).published_at

    wait_until(schedule.publish_at)
    assert tasks.publish_scheduled() == {"published": 1, "failed": 0}
    schedule.refresh_from_db()
    assert schedule.outcome.startswith("Already published")
    assert UGCItem.objects.get(pk=item.pk).published_at == published_at


@pytest.mark.django_db
def test_bad_schedules_are_refused_and_change_nothing():
    approved = publishable_item()
    soon = timezone.now() + timedelta(hours=1)
    cases = [
        (dict(item_id=approved.pk, placement="billboard", publish_at=soon), "invalid"),
        (
            dict(
                item_id=approved.pk,
                placement=PAGE,
                publish_at=timezone.now() - timedelta(minutes=1),
            ),
            "invalid",
        ),  # fmt: skip
        (dict(item_id=approved.pk, placement="widget", publish_at=soon), "no_product_mapping"),
        (dict(item_id=UGCItemFactory().pk, placement=PAGE, publish_at=soon), "invalid_transition"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ApplicationError) as caught:
            services.ugc_schedule_create(**kwargs)
        assert caught.value.code == code, kwargs
    assert UGCSchedule.objects.count() == 0

    services.ugc_schedule_create(item_id=approved.pk, placement=PAGE, publish_at=soon)
    with pytest.raises(ApplicationError, match="already scheduled") as caught:
        services.ugc_schedule_create(item_id=approved.pk, placement=PAGE, publish_at=soon)
    assert UGCSchedule.objects.count() == 1


@pytest.mark.django_db
def test_a_cancelled_entry_is_not_published():
    item = publishable_item()
    schedule = schedule_soon(item, seconds=0.3)
    services.ugc_schedule_cancel(schedule_id=schedule.pk)
    wait_until(schedule.publish_at)
    assert tasks.publish_scheduled() == {"published": 0, "failed": 0}
    assert UGCItem.objects.get(pk=item.pk).status == S.APPROVED
    with pytest.raises(ApplicationError, match="only pending ones"):
        services.ugc_schedule_cancel(schedule_id=schedule.pk)


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_job_at_once_publish_each_entry_once():
    items = [publishable_item() for _ in range(6)]
    schedules = [schedule_soon(item, seconds=0.5) for item in items]
    wait_until(max(s.publish_at for s in schedules))
    barrier = threading.Barrier(2)
    results = []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(services.ugc_schedule_run_due())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(r["published"] for r in results) == 6
    assert sum(r["failed"] for r in results) == 0
    assert ModerationEvent.objects.filter(action="publish").count() == 6
    assert set(UGCSchedule.objects.values_list("status", flat=True)) == {"published"}
