"""The merchant's lists: rejection reasons and the blocklist, by service and in the console."""

import pytest

from core.errors import ApplicationError
from tests.ugc.admin_helpers import login
from tests.ugc.factories import BlocklistEntryFactory, RejectionReasonFactory
from ugc import services
from ugc.models import BlocklistEntry, RejectionReason

pytestmark = pytest.mark.django_db


def test_a_rejection_reason_is_added_changed_and_refused_when_repeated_or_empty():
    reason = services.rejection_reason_save(label="  Blurry  ", active=True)
    assert (reason.label, reason.active) == ("Blurry", True)
    changed = services.rejection_reason_save(reason_id=reason.pk, label="Blurry", active=False)
    assert changed.pk == reason.pk and not RejectionReason.objects.get().active

    with pytest.raises(ApplicationError) as repeated:
        services.rejection_reason_save(label="BLURRY", active=True)
    assert repeated.value.fields == {"__all__": ["This rejection reason already exists."]}
    with pytest.raises(ApplicationError) as empty:
        services.rejection_reason_save(label="   ", active=True)
    assert "label" in empty.value.fields
    with pytest.raises(ApplicationError) as missing:
        services.rejection_reason_save(reason_id=reason.pk + 100, label="Other", active=True)
    assert missing.value.code == "not_found"
    assert list(RejectionReason.objects.values_list("label", flat=True)) == ["Blurry"]


def test_a_blocklist_entry_is_normalised_and_refused_when_repeated_or_empty():
    handle, reject = BlocklistEntry.Kind.HANDLE, BlocklistEntry.Action.REJECT
    entry = services.blocklist_entry_save(
        term=" @Spammer ", kind=handle, action=reject, active=True
    )
    assert (entry.term, entry.kind, entry.action) == ("Spammer", "handle", "reject")
    with pytest.raises(ApplicationError) as repeated:
        services.blocklist_entry_save(term="spammer", kind=handle, action=reject, active=True)
    assert repeated.value.fields == {"__all__": ["This term is already on the blocklist."]}
    with pytest.raises(ApplicationError) as empty:
        services.blocklist_entry_save(
            entry_id=entry.pk, term="@ ", kind=handle, action=reject, active=True
        )
    assert empty.value.fields == {"term": ["Enter a word, phrase or handle."]}
    entry.refresh_from_db()
    assert entry.term == "Spammer"


def test_the_console_adds_and_turns_off_list_entries_through_the_services(client):
    login(client, "Moderator")
    added = client.post(
        "/admin/ugc/blocklistentry/add/",
        {"term": "  giveaway ", "kind": "word", "action": "flag", "active": "on"},
    )
    assert added.status_code == 302, added.content
    entry = BlocklistEntry.objects.get()
    assert entry.term == "giveaway"
    assert added["Location"] == "/admin/ugc/blocklistentry/"

    reason = RejectionReasonFactory(label="Blurry")
    changed = client.post(
        f"/admin/ugc/rejectionreason/{reason.pk}/change/", {"label": " Blurry photo "}
    )
    assert changed.status_code == 302, changed.content
    reason.refresh_from_db()
    assert (reason.label, reason.active) == ("Blurry photo", False)

    BlocklistEntryFactory(term="spam")
    repeated = client.post(
        "/admin/ugc/blocklistentry/add/", {"term": "SPAM", "kind": "word", "action": "flag"}
    )
    assert repeated.status_code == 200  # the form again, with the reason
    assert "This term is already on the blocklist." in repeated.content.decode()


def test_the_default_rejection_reasons_are_added_once_and_a_turned_off_one_stays_off():
    RejectionReasonFactory(label="off-brand", active=False)  # the merchant turned it off
    assert services.rejection_reasons_add_defaults() == 5
    assert services.rejection_reasons_add_defaults() == 0
    labels = dict(RejectionReason.objects.values_list("label", "active"))
    assert labels == {
        "off-brand": False, "Low quality": True, "No rights": True, "Offensive": True,
        "Wrong product": True, "Duplicate": True,
    }  # fmt: skip
    assert [label.lower() for label in services.DEFAULT_REJECTION_REASONS] == [
        "off-brand", "low quality", "no rights", "offensive", "wrong product", "duplicate"
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_adding_the_defaults_twice_at_once_adds_each_reason_once():
    import threading

    from django.db import connections

    barrier = threading.Barrier(2)
    added, failed = [], []

    def add():
        try:
            barrier.wait(timeout=10)
            added.append(services.rejection_reasons_add_defaults())
        except Exception as exc:  # reported by the assertion below
            failed.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failed == []
    assert RejectionReason.objects.count() == len(services.DEFAULT_REJECTION_REASONS)
    assert len(added) == 2
