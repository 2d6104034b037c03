"""Claims: one moderator per item, proven with concurrent sessions; stale claims released."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from core.errors import ApplicationError
from tests.ugc.factories import UGCItemFactory, UserFactory
from ugc import services, tasks
from ugc.models import ModerationEvent, UGCItem

S = UGCItem.Status


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(5))
def test_two_moderators_claiming_at_once_exactly_one_wins(attempt):
    item = UGCItemFactory()
    moderators = [UserFactory(username=f"a{attempt}"), UserFactory(username=f"b{attempt}")]
    barrier = threading.Barrier(len(moderators))
    outcomes = {}

    def claim(moderator):
        try:
            barrier.wait(timeout=10)
            services.ugc_claim(item_id=item.pk, moderator=moderator)
            outcomes[moderator.pk] = "won"
        except ApplicationError as exc:
            outcomes[moderator.pk] = exc.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(m,)) for m in moderators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes.values()) == ["already_claimed", "won"]
    winner = next(pk for pk, outcome in outcomes.items() if outcome == "won")
    item.refresh_from_db()
    assert (item.status, item.claimed_by_id) == (S.REVIEWING, winner)
    claim_events = ModerationEvent.objects.filter(item=item, action="claim")
    assert list(claim_events.values_list("actor_id", flat=True)) == [winner]


def _claimed(by, *, seconds_ago):
    return UGCItemFactory(
        status=S.REVIEWING,
        claimed_by=by,
        claimed_at=timezone.now() - timedelta(seconds=seconds_ago),
    )


@pytest.mark.django_db
def test_a_stale_claim_can_be_taken_over(settings, moderator, other_moderator):
    settings.UGC_CLAIM_TIMEOUT = 60
    fresh = _claimed(moderator, seconds_ago=30)
    stale = _claimed(moderator, seconds_ago=61)
    with pytest.raises(ApplicationError) as exc:
        services.ugc_claim(item_id=fresh.pk, moderator=other_moderator)
    assert exc.value.code == "already_claimed"

    services.ugc_claim(item_id=stale.pk, moderator=other_moderator)
    stale.refresh_from_db()
    assert (stale.status, stale.claimed_by) == (S.REVIEWING, other_moderator)
    events = list(stale.events.values_list("action", "from_status", "to_status", "actor"))
    assert events == [
        ("release", "reviewing", "queued", None),
        ("claim", "queued", "reviewing", other_moderator.pk),
    ]
    assert "timeout 60 s" in stale.events.first().reason


@pytest.mark.django_db
def test_the_sweep_releases_only_stale_claims(settings, moderator):
    settings.UGC_CLAIM_TIMEOUT = 600
    fresh = _claimed(moderator, seconds_ago=599)
    stale = [_claimed(moderator, seconds_ago=601), _claimed(moderator, seconds_ago=5000)]
    assert tasks.release_stale_claims() == 2  # the periodic task calls the service
    for item in stale:
        item.refresh_from_db()
        assert (item.status, item.claimed_by, item.claimed_at) == (S.QUEUED, None, None)
        assert item.events.get().action == "release"
    fresh.refresh_from_db()
    assert fresh.status == S.REVIEWING
    assert services.ugc_release_stale_claims() == 0


@pytest.mark.django_db
def test_the_timeout_comes_from_settings(settings):
    settings.UGC_CLAIM_TIMEOUT = 60
    assert services.claim_timeout() == timedelta(minutes=1)
