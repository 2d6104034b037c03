"""Shared fixtures. Tests run on PostgreSQL and Redis; an unreachable one stops the run."""

import os
import socket
from urllib.parse import urlsplit

import pytest


def _reachable(url: str, default_port: int) -> tuple[bool, str]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            return True, f"{host}:{port}"
    except OSError as exc:
        return False, f"{host}:{port} ({exc.strerror or exc})"


def pytest_sessionstart(session):
    """Fail fast, and say which service is missing, instead of erroring in every test."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    checks = {
        "PostgreSQL (DATABASE_URL)": (
            f"postgres://{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}",
            5432,
        ),
        "Redis (REDIS_URL)": (os.environ["REDIS_URL"], 6379),
    }
    down = []
    for name, (url, port) in checks.items():
        ok, where = _reachable(url, port)
        if not ok:
            down.append(f"{name} at {where}")
    if down:
        pytest.exit(
            "Cannot reach " + " and ".join(down) + ". The tests run on PostgreSQL and Redis only "
            "(start them, or set DATABASE_URL / REDIS_URL); they never fall back to SQLite.",
            returncode=3,
        )


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def redis_client():
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"])


# Browser tests (Playwright with Debian's Chromium): the fixtures live in tests/browser.py.
from tests.browser import browser, page  # noqa: E402,F401


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Run `browser` tests after every other test (after pytest-django's own reordering).

    The session's browser keeps Playwright's event loop marked as running in the main thread
    until the run ends, which would break asyncio in any test that came after it.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture
def merchant_roles():
    """The role groups (Owner, Catalog manager, ...) that core's data migration creates.

    A transactional test (`transaction=True`, `live_server`) empties every table when it
    ends, groups included; this puts them back the way the migration does. Needs a test
    with database access.
    """
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType

    from core.roles import ROLES, sync_roles

    # The flush after a transactional test re-creates content types under new ids, but a
    # test run inside a transaction earlier may have cached the old ones: the console would
    # then write its LogEntry rows against ids that no longer exist.
    ContentType.objects.clear_cache()

    if Group.objects.filter(name__in=ROLES).count() < len(ROLES):
        from django.db import connection
        from django.db.migrations.loader import MigrationLoader

        sync_roles(MigrationLoader(connection).project_state().apps)
    return {group.name: group for group in Group.objects.filter(name__in=ROLES)}


@pytest.fixture
def query_budget(django_assert_num_queries):
    """`query_budget(client, url, grow)`: the page costs as many queries after `grow()` adds
    rows as before it. Returns that count, for the test to pin."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def check(client, url, grow, params=None) -> int:
        assert client.get(url, params).status_code == 200  # warm per-process caches
        with CaptureQueriesContext(connection) as small:
            assert client.get(url, params).status_code == 200
        grow()
        with django_assert_num_queries(len(small.captured_queries)):
            assert client.get(url, params).status_code == 200
        return len(small.captured_queries)

    return check


@pytest.fixture
def owner_client(client, db):
    """A client logged in as a staff user in the Owner role."""
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user("owner-user", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Owner"))
    client.force_login(user)
    return client
