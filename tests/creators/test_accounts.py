"""Creators' logins: email and password, one-time links, resets, throttling, sessions, and
the wall between the portal and the console."""

import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.errors import ApplicationError
from creators import services
from creators.models import CreatorLoginLink
from tests.creators.factories import PASSWORD, creator_account, log_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def maya(program):
    return creator_account(program[1], email="maya@example.com", name="Maya")


def login(client, email="maya@example.com", password=PASSWORD, **extra):
    return client.post("/creators/login/", {"email": email, "password": password}, **extra)


def test_a_creator_logs_in_by_email_and_the_session_key_changes(client, maya):
    client.get("/creators/login/")
    client.session["probe"] = 1  # an anonymous session exists before the login
    session = client.session
    session["probe"] = 1
    session.save()
    before = session.session_key
    answer = login(client, email="MAYA@example.com")
    assert answer.status_code == 302 and answer["Location"] == "/creators/"
    assert client.session.session_key != before
    assert client.get("/creators/").context["creator"] == maya


def test_a_wrong_password_says_nothing_about_which_part_was_wrong(client, maya):
    for email, password in [("maya@example.com", "wrong"), ("nobody@example.com", PASSWORD)]:
        answer = login(client, email=email, password=password)
        assert answer.status_code == 400
        assert "That email and password do not match an account." in answer.content.decode()


def test_failed_logins_are_throttled_by_axes(client, maya, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        login(client, password="wrong")
    locked = login(client)  # even the right password, while locked out
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not locked out.
    assert login(Client(), REMOTE_ADDR="10.1.2.3").status_code == 302


def test_next_only_goes_to_the_portal(client, maya):
    assert login(client, next="https://evil.example/").status_code == 302
    answer = client.post(
        "/creators/login/",
        {"email": "maya@example.com", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert answer["Location"] == "/creators/"
    client.logout()
    answer = client.post(
        "/creators/login/",
        {"email": "maya@example.com", "password": PASSWORD, "next": "/creators/earnings/"},
    )
    assert answer["Location"] == "/creators/earnings/"


def test_staff_cannot_use_the_portal_and_creators_cannot_use_the_console(client, maya):
    User.objects.create_user("staffer", email="staff@example.com", password=PASSWORD, is_staff=True)
    assert login(client, email="staff@example.com").status_code == 400
    client.login(username="staffer", password=PASSWORD)
    assert client.get("/creators/").status_code == 403
    client.logout()

    log_in(client, maya)
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith("/admin/login/")
    refused = client.post("/admin/login/", {"username": "maya@example.com", "password": PASSWORD})
    assert refused.status_code == 200
    assert "staff account" in refused.content.decode()
    user = maya.account.user
    assert not user.is_staff and not user.user_permissions.exists() and not user.groups.exists()


def link_from(message) -> str:
    return re.search(r"https?://\S+/creators/login/link/\S+/", message.body).group(0)


def test_a_login_link_logs_in_once(client, maya, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post("/creators/login/link/", {"email": "Maya@example.com"})
    assert "Check your email" in sent.content.decode()
    path = link_from(mail.outbox[-1]).removeprefix("https://shop.example.com")
    stored = CreatorLoginLink.objects.get()
    assert path.rstrip("/").rsplit("/", 1)[1] not in stored.token_hash  # only a keyed hash
    page = client.get(path)  # a mail scanner following the link does not use it up
    assert page.status_code == 200 and "Log me in" in page.content.decode()
    answer = client.post(path)
    assert answer.status_code == 302 and answer["Location"] == "/creators/"
    assert client.get("/creators/").status_code == 200
    assert Client().post(path).status_code == 404


def test_a_login_link_for_an_unknown_email_looks_the_same_and_sends_nothing(client, maya):
    answer = client.post("/creators/login/link/", {"email": "stranger@example.com"})
    assert answer.status_code == 200 and "Check your email" in answer.content.decode()
    assert mail.outbox == [] and not CreatorLoginLink.objects.exists()


def test_an_expired_login_link_is_refused(client, maya):
    tokens = []
    services.login_link_request(email="maya@example.com", login_url=tokens.append)
    CreatorLoginLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ApplicationError) as refused:
        services.login_link_redeem(token=tokens[0])
    assert refused.value.code == "link_invalid"
    assert CreatorLoginLink.objects.get().used_at is None


def test_login_links_are_rate_limited_per_email(client, maya, settings):
    settings.PORTAL_LOGIN_LINKS_PER_HOUR = 2
    for _ in range(4):
        client.post("/creators/login/link/", {"email": "maya@example.com"})
    assert CreatorLoginLink.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_login_link_redeemed_twice_at_once_logs_in_once(merchant_roles):
    from tests.creators.factories import program_with

    _, group = program_with(slug="race")
    creator_account(group, email="race@example.com")
    tokens = []
    services.login_link_request(email="race@example.com", login_url=lambda t: tokens.append(t))
    barrier = threading.Barrier(2)
    results = []

    def redeem():
        try:
            barrier.wait()
            results.append(services.login_link_redeem(token=tokens[0]).pk)
        except ApplicationError as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, results))[1] == "link_invalid"
    assert sum(isinstance(r, int) for r in results) == 1


def test_a_password_reset_emails_creators_only_and_sets_a_new_password(
    client, maya, django_capture_on_commit_callbacks
):
    User.objects.create_user("staffer", email="staff@example.com", password=PASSWORD)
    client.post("/creators/password/reset/", {"email": "staff@example.com"})
    assert mail.outbox == []
    answer = client.post("/creators/password/reset/", {"email": "maya@example.com"})
    assert answer["Location"] == "/creators/password/reset/sent/"
    link = re.search(r"https://shop.example.com(/creators/password/set/\S+/)", mail.outbox[-1].body)
    form = client.get(link.group(1), follow=True)
    new = "another-long-password-77"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.status_code == 302
    maya.account.user.refresh_from_db()
    assert maya.account.user.check_password(new)


def test_changing_the_password_keeps_this_session_and_ends_the_others(client, maya):
    other = Client()
    log_in(client, maya)
    log_in(other, maya)
    new = "a-brand-new-password-99"
    answer = client.post(
        "/creators/settings/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert answer.status_code == 302
    assert client.get("/creators/").status_code == 200
    assert other.get("/creators/").status_code == 302


def test_weak_passwords_are_refused(client, maya):
    log_in(client, maya)
    answer = client.post(
        "/creators/settings/password/",
        {"old_password": PASSWORD, "new_password1": "123", "new_password2": "123"},
    )
    assert answer.status_code == 400
    assert maya.account.user.check_password(PASSWORD)


def test_logging_out_needs_a_post(client, maya):
    log_in(client, maya)
    assert client.get("/creators/logout/").status_code == 405
    assert client.post("/creators/logout/").status_code == 302
    assert client.get("/creators/").status_code == 302


def test_the_daily_job_prunes_old_login_links(maya):
    from creators.tasks import prune_login_links

    services.login_link_request(email="maya@example.com", login_url=str)
    services.login_link_request(email="maya@example.com", login_url=str)
    old, fresh = CreatorLoginLink.objects.order_by("pk")
    CreatorLoginLink.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=2))
    assert prune_login_links.delay().get() == 1
    assert list(CreatorLoginLink.objects.all()) == [fresh]


def test_failed_console_logins_are_throttled_too(client, db, settings):
    settings.AXES_FAILURE_LIMIT = 2
    User.objects.create_user("staffer", password=PASSWORD, is_staff=True)
    for _ in range(2):
        client.post("/admin/login/", {"username": "staffer", "password": "wrong"})
    locked = client.post("/admin/login/", {"username": "staffer", "password": PASSWORD})
    assert locked.status_code == 429
    assert "reset your password" not in locked.content.decode()


def test_a_creator_who_never_set_a_password_can_still_ask_for_a_reset(client, maya):
    user = maya.account.user
    user.set_unusable_password()
    user.save()
    client.post("/creators/password/reset/", {"email": "maya@example.com"})
    assert "/creators/password/set/" in mail.outbox[-1].body
