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
