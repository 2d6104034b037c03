"""Tokens: refreshed one at a time per connection (threads on PostgreSQL), a rotating refresh
token never used twice, a refused grant marks the connection "needs reconnecting", and no
token ever reaches a log line or an API answer."""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from core.errors import ApplicationError
from integrations import services, sync
from integrations.access import Access
from integrations.clients import google as google_client
from integrations.clients import tiktok_shop as tiktok_client
from integrations.models import Connection
from tests.integrations.helpers import connect


def expire(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )


def shops_with_a_fresh_access(connection_id: int) -> tuple[str, str]:
    """What a job does: take the connection's token (refreshing it if due) and call the API."""
    access = Access(Connection.objects.get(pk=connection_id))
    try:
        data = access.call(tiktok_client.call, "GET", "/authorization/202309/shops")
        return access.token(), data["shops"][0]["id"]
    finally:
        access.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_jobs_refresh_once_and_all_use_the_new_token(
    attempt, owner_client, tiktok_server
):
    connection = connect(owner_client, "tiktok_shop")
    old_access, old_refresh = connection.access_token, connection.refresh_token
    tiktok_server.expire_access_tokens()
    expire(connection)
    workers = 6
    barrier = threading.Barrier(workers)
    outcomes, errors = [], []

    def job():
        try:
            barrier.wait(timeout=10)
            outcomes.append(shops_with_a_fresh_access(connection.pk))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=job) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert tiktok_server.refresh_calls == 1  # one refresh while the others waited
    assert tiktok_server.refresh_reuses == 0  # the rotating refresh token was never sent twice
    connection.refresh_from_db()
    assert connection.status == "active"
    assert connection.token_version == 2
    assert connection.access_token != old_access and connection.refresh_token != old_refresh
    assert {token for token, _ in outcomes} == {connection.access_token}
    assert len(outcomes) == workers


@pytest.mark.django_db(transaction=True)
def test_a_token_the_platform_refuses_is_refreshed_once_by_concurrent_jobs(
    owner_client, tiktok_server
):
    """The access token has not expired by our clock, but TikTok refuses it (401): every job
    that saw the refusal asks for a refresh of the token version it held; one refreshes."""
    connection = connect(owner_client, "tiktok_shop")
    tiktok_server.expire_access_tokens()
    barrier = threading.Barrier(4)
    errors = []

    def job():
        try:
            barrier.wait(timeout=10)
            shops_with_a_fresh_access(connection.pk)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=job) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert tiktok_server.refresh_calls == 1
    assert tiktok_server.refresh_reuses == 0


@pytest.mark.django_db
def test_a_refused_refresh_marks_the_connection_needs_reconnecting(owner_client, tiktok_server):
    connection = connect(owner_client, "tiktok_shop")
    tiktok_server.revoke_all()  # the seller removed the app
    expire(connection)
    with pytest.raises(ApplicationError) as exc:
        shops_with_a_fresh_access(connection.pk)
    assert exc.value.code == "needs_reconnect"
    connection.refresh_from_db()
    assert connection.status == "needs_reconnect"
    assert "refresh_token is invalid" in connection.status_reason
    event = connection.events.order_by("-pk").first()
    assert (event.action, event.from_status, event.to_status) == (
        "needs_reconnect",
        "active",
        "needs_reconnect",
    )
    # The console says so, with a button to reconnect.
    page = owner_client.get(f"/admin/integrations/connection/{connection.pk}/change/")
    assert b"Needs reconnecting." in page.content
    assert b"refresh_token is invalid" in page.content
    assert b">Reconnect</button>" in page.content
    listing = owner_client.get("/admin/integrations/connection/")
    assert b"Needs reconnecting" in listing.content


@pytest.mark.django_db
def test_google_invalid_grant_needs_reconnecting_and_a_new_grant_fixes_it(
    owner_client, google_server
):
    connection = connect(owner_client, "google")
    google_server.revoke_all()
    expire(connection)
    access = Access(Connection.objects.get(pk=connection.pk))
    with pytest.raises(ApplicationError):
        access.call(google_client.get, "/accounts/v1/accounts")
    connection.refresh_from_db()
    assert connection.status == "needs_reconnect"
    assert "invalid_grant" in connection.status_reason
    # Reconnecting (a new OAuth grant for the same account) makes it active again.
    from tests.integrations.helpers import callback, consent, start

    callback(owner_client, consent(start(owner_client, "google", connection=connection.pk)))
    connection.refresh_from_db()
    assert connection.status == "active" and connection.status_reason == ""


@pytest.mark.django_db
def test_a_transient_refresh_failure_changes_nothing(owner_client, tiktok_server):
    connection = connect(owner_client, "tiktok_shop")
    expire(connection)
    tiktok_server.fail_next(10, status=503, body={"code": 1, "message": "busy"}, path="/token/")
    with pytest.raises(Exception) as exc:
        shops_with_a_fresh_access(connection.pk)
    assert getattr(exc.value, "transient", False)
    fresh = Connection.objects.get(pk=connection.pk)
    assert (fresh.status, fresh.token_version, fresh.refresh_token) == (
        "active",
        1,
        connection.refresh_token,
    )


@pytest.mark.django_db
def test_meta_tokens_cannot_be_refreshed_so_a_refused_one_needs_reconnecting(
    owner_client, meta_server
):
    from integrations.clients import meta as meta_client

    connection = connect(owner_client, "meta")
    meta_server.tokens.clear()  # expired at Meta (code 190)
    access = Access(Connection.objects.get(pk=connection.pk))
    with pytest.raises(ApplicationError):
        access.call(meta_client.get, "/me/permissions")
    connection.refresh_from_db()
    assert connection.status == "needs_reconnect"
    assert "Error validating access token" in connection.status_reason


@pytest.mark.django_db
def test_the_refresh_job_refreshes_tokens_before_they_expire(owner_client, tiktok_server):
    connection = connect(owner_client, "tiktok_shop")
    Connection.objects.filter(pk=connection.pk).update(
        refresh_token_expires_at=timezone.now() + timedelta(days=1)
    )
    assert sync.tokens_refresh_due() == 1
    connection.refresh_from_db()
    assert connection.token_version == 2
    assert connection.refresh_token_expires_at > timezone.now() + timedelta(days=30)
    assert sync.tokens_refresh_due() == 0


@pytest.mark.django_db
def test_no_token_or_secret_reaches_the_logs(owner_client, tiktok_server, caplog):
    caplog.set_level(logging.DEBUG)
    connection = connect(owner_client, "tiktok_shop")
    expire(connection)
    shops_with_a_fresh_access(connection.pk)
    connection.refresh_from_db()
    secrets_ = [
        connection.access_token,
        connection.refresh_token,
        tiktok_server.app_secret,
    ]
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        for secret in secrets_:
            assert secret not in text
    assert any(r.getMessage() == "integrations.token.refreshed" for r in caplog.records)


@pytest.mark.django_db
def test_refresh_service_refuses_a_connection_that_is_not_active(owner_client, tiktok_server):
    connection = connect(owner_client, "tiktok_shop")
    services.connection_disconnect(connection_id=connection.pk)
    with pytest.raises(ApplicationError) as exc:
        services.connection_refresh_token(connection_id=connection.pk, seen_version=0, force=True)
    assert exc.value.code == "needs_reconnect"
