"""The merchant invites by email into a group; the link works once and expires."""

import re
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.errors import ApplicationError
from creators import services
from creators.models import CreatorInvitation, GroupMembership
from tests.creators.factories import creator_account, program_with

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-long-invited-password-5"


def invite(owner_client, group, capture, email="leo@example.com"):
    with capture(execute=True):
        owner_client.post(
            "/admin/creators/creatorinvitation/add/",
            {"email": email, "group": group.pk, "message": "Join us!"},
        )
    body = mail.outbox[-1].body
    return re.search(r"https://shop.example.com(/creators/invitation/\S+/)", body).group(1)


def test_an_invitation_makes_the_account_once(
    owner_client, client, program, django_capture_on_commit_callbacks
):
    path = invite(owner_client, program[1], django_capture_on_commit_callbacks)
    invitation = CreatorInvitation.objects.get()
    assert invitation.status == "pending" and invitation.invited_by.username == "owner-user"
    assert path.rstrip("/").rsplit("/", 1)[1] not in invitation.token_hash
    page = client.get(path)
    assert "Join us!" in page.content.decode() and "leo@example.com" in page.content.decode()
    answer = client.post(
        path, {"name": "Leo Lifts", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert answer.status_code == 302 and answer["Location"] == "/creators/"
    assert client.get("/creators/").context["creator"].name == "Leo Lifts"
    invitation.refresh_from_db()
    assert invitation.status == "accepted" and invitation.creator.handle == "leo-lifts"
    assert GroupMembership.objects.filter(creator=invitation.creator, group=program[1]).exists()
    again = Client().post(
        path, {"name": "Mallory", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert again.status_code == 404


def test_an_expired_or_revoked_invitation_is_refused(
    owner_client, client, program, django_capture_on_commit_callbacks
):
    path = invite(owner_client, program[1], django_capture_on_commit_callbacks)
    CreatorInvitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    page = client.get(path)
    assert page.status_code == 404 and "expired" in page.content.decode()
    path = invite(
        owner_client, program[1], django_capture_on_commit_callbacks, email="other@example.com"
    )
    invitation = CreatorInvitation.objects.get(email="other@example.com")
    owner_client.post(
        "/admin/creators/creatorinvitation/",
        {"action": "revoke", "_selected_action": [invitation.pk]},
    )
    invitation.refresh_from_db()
    assert invitation.status == "revoked"
    assert client.get(path).status_code == 404


def test_a_weak_password_keeps_the_invitation(client, program):
    tokens = []
    services.invitation_create(
        email="leo@example.com", group_id=program[1].pk, actor=None, accept_url=tokens.append
    )
    answer = client.post(
        f"/creators/invitation/{tokens[0]}/",
        {"name": "Leo", "password1": "1234", "password2": "1234"},
    )
    assert answer.status_code == 200 and "too short" in answer.content.decode()
    assert CreatorInvitation.objects.get().status == "pending"


def test_an_existing_creator_accepting_joins_the_group(program):
    _, other = program_with(slug="other")
    leo = creator_account(program[1], email="leo@example.com")
    tokens = []
    services.invitation_create(
        email="leo@example.com", group_id=other.pk, actor=None, accept_url=tokens.append
    )
    assert services.invitation_accept(token=tokens[0], name="Leo", password=NEW_PASSWORD) == leo
    assert GroupMembership.objects.filter(creator=leo, group=other, status="active").exists()


@pytest.mark.django_db(transaction=True)
def test_two_people_accepting_one_invitation_at_once_make_one_account(merchant_roles):
    _, group = program_with(slug="race-invite")
    tokens = []
    services.invitation_create(
        email="race@example.com", group_id=group.pk, actor=None, accept_url=tokens.append
    )
    barrier = threading.Barrier(2)
    results = []

    def accept(name):
        try:
            barrier.wait()
            results.append(
                services.invitation_accept(token=tokens[0], name=name, password=NEW_PASSWORD).pk
            )
        except ApplicationError as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(n,)) for n in ("One", "Two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(r, int) for r in results) == 1
    assert [r for r in results if not isinstance(r, int)] in (["conflict"], ["not_found"])
    assert GroupMembership.objects.filter(group=group).count() == 1
