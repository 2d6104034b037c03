"""The preview fetch job on the embedded default (in-process, no broker) and on a real
Celery worker: an unreachable URL ends Failed with the reason instead of Pending forever,
and "Fetch again now" really fetches again (issue 10)."""

import logging
import socket

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authtoken.models import Token

from previews import services
from previews.models import LinkPreview
from previews.normalize import normalize_url
from previews.tasks import MAX_RETRIES, preview_fetch_task
from tests.core.test_worker import RUNS, celery_worker, wait_for  # noqa: F401 (fixture)

PAGE = """<!doctype html><html><head><title>{title}</title>
<meta property="og:description" content="Fresh linen."></head><body></body></html>"""


@pytest.fixture(autouse=True)
def _quick(settings, allow_local):
    """Politeness and pauses shortened: these tests count attempts, they do not time them."""
    cache.clear()
    settings.PREVIEW_HOST_INTERVAL = 0
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0.01
    settings.JOBS_RETRY_BACKOFF = 0.05
    yield
    cache.clear()


@pytest.fixture
def api(client, merchant_roles):
    user = User.objects.create_user("cm", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    token = Token.objects.create(user=user).key

    def post(url):
        return client.post(
            "/api/previews",
            {"url": url},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )

    return post


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    return port


# --- the embedded default -------------------------------------------------------------------
# Real commits (transaction=True): in-process, a job runs when its transaction commits, and
# the test's own transaction would otherwise never commit.
EMBEDDED = pytest.mark.django_db(transaction=True)


@EMBEDDED
def test_a_server_error_ends_failed_with_the_reason_after_inline_retries(server, api, caplog):
    server.reply("/shirt", status=503)
    response = api(server.url("/shirt"))
    # The job ran in the request, retried inline and gave up: the answer says so.
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"] == "The server answered with HTTP status 503. Gave up after 3 attempts."
    assert len(server.seen) == 3
    preview = LinkPreview.objects.get()
    assert (preview.status, preview.error_code) == ("failed", "http_status")
    assert preview.next_refresh_at > timezone.now()  # tried again later by refresh_due
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@EMBEDDED
def test_an_unreachable_url_ends_failed_instead_of_pending(api, caplog):
    caplog.set_level(logging.INFO)  # a real worker, started by an earlier test, raised it
    response = api(f"http://127.0.0.1:{closed_port()}/gone")
    assert response.status_code == 202
    assert response.json()["status"] == "failed"
    preview = LinkPreview.objects.get()
    assert preview.status == LinkPreview.Status.FAILED
    assert preview.error == "The connection failed. Gave up after 3 attempts."
    assert preview.error_code == "connection_failed"
    logged = [r.getMessage() for r in caplog.records]
    assert logged.count("job.retry") == 2 and logged.count("job.gave_up") == 1
    assert "job.enqueue_failed" not in logged and "job.failed" not in logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@EMBEDDED
def test_a_refresh_that_keeps_failing_keeps_the_card(server):
    server.page("/shirt", PAGE.format(title="Linen Shirt"))
    preview, fresh = services.preview_request(url=server.url("/shirt"))
    assert fresh and preview.title == "Linen Shirt"
    server.reply("/shirt", status=502)
    preview_fetch_task.delay(preview.pk, 1)
    preview.refresh_from_db()
    # A site down for an hour does not lose its card; the error is recorded.
    assert preview.status == LinkPreview.Status.OK
    assert preview.title == "Linen Shirt"
    assert preview.error.startswith("The server answered with HTTP status 502.")


@EMBEDDED
def test_a_fetch_that_finds_another_running_does_not_mark_it_failed(server):
    server.page("/shirt", PAGE.format(title="Linen Shirt"))
    preview = LinkPreview.objects.create(url=normalize_url(server.url("/shirt")))
    cache.set(f"previews:fetching:{preview.pk}", "someone else", 60)
    preview_fetch_task.delay(preview.pk, 0)
    preview.refresh_from_db()
    assert (preview.status, preview.error) == ("pending", "")  # the other fetch records it
    assert server.seen == []


def owner_client(client):  # needs merchant_roles
    owner = User.objects.create_user("owner", password="pw", is_staff=True)
    owner.groups.add(Group.objects.get(name="Owner"))
    client.force_login(owner)
    return client


@EMBEDDED
def test_fetch_again_now_really_fetches_again(server, client, merchant_roles):
    server.page("/shirt", PAGE.format(title="Old name"))
    server.reply("/gone", status=500)
    preview, _ = services.preview_request(url=server.url("/shirt"))
    other = LinkPreview.objects.create(url=normalize_url(server.url("/gone")))
    server.page("/shirt", PAGE.format(title="New name"))
    response = owner_client(client).post(
        "/admin/previews/linkpreview/",
        {"action": "refetch", "_selected_action": [preview.pk, other.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "Fetched 2 preview(s) again: 1 Failed, 1 OK." in html
    assert (
        f"No preview of {other.url}: The server answered with HTTP status 500. Gave up after 3"
        in html
    )
    preview.refresh_from_db()
    assert preview.title == "New name"  # fresh, yet fetched again: forced
    assert LinkPreview.objects.get(pk=other.pk).status == "failed"


@EMBEDDED
def test_the_change_page_button_fetches_again(server, client, merchant_roles):
    server.page("/shirt", PAGE.format(title="Old name"))
    preview, _ = services.preview_request(url=server.url("/shirt"))
    server.page("/shirt", PAGE.format(title="New name"))
    client = owner_client(client)
    page = client.get(f"/admin/previews/linkpreview/{preview.pk}/change/").content.decode()
    assert f'action="/admin/previews/linkpreview/{preview.pk}/fetch/"' in page
    response = client.post(f"/admin/previews/linkpreview/{preview.pk}/fetch/", follow=True)
    assert "made: New name" in response.content.decode()
    assert client.get(f"/admin/previews/linkpreview/{preview.pk}/fetch/").status_code == 405


# --- on a real Celery worker ----------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_on_a_worker_a_server_error_is_retried_with_backoff_then_failed(
    celery_worker,  # noqa: F811
    server,
):
    server.reply("/shirt", status=503)
    preview, fresh = services.preview_request(url=server.url("/shirt"))
    assert not fresh and preview.status == "pending"  # queued: the worker fetches it
    assert wait_for(
        lambda: LinkPreview.objects.get(pk=preview.pk).status == "failed", timeout=30
    ), "the worker did not give up on the preview"
    preview.refresh_from_db()
    attempts = MAX_RETRIES + 1
    assert preview.error == (
        f"The server answered with HTTP status 503. Gave up after {attempts} attempts."
    )
    assert len(server.seen) == attempts
    runs = [run for run in RUNS if run[0] == "previews.fetch"]
    assert len(runs) == attempts and not any(eager for _, _, eager in runs)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_on_a_worker_a_preview_is_made(celery_worker, server):  # noqa: F811
    server.page("/shirt", PAGE.format(title="Linen Shirt"))
    preview, _ = services.preview_request(url=server.url("/shirt"))
    assert wait_for(lambda: LinkPreview.objects.get(pk=preview.pk).status == "ok")
    assert LinkPreview.objects.get(pk=preview.pk).title == "Linen Shirt"
