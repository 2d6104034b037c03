import pytest


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and axes' failures live in the cache: start each test clean."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def program(db):
    from tests.creators.factories import program_with

    return program_with(name="Glow Program", slug="glow")


@pytest.fixture
def owner_client(db, merchant_roles):
    """Its own client, logged in as a staff user in the Owner role (the roles put back
    first, in case a transactional test emptied them), beside a creator's `client`."""
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    user = User.objects.create_user("owner-user", password="pw", is_staff=True)
    user.groups.add(merchant_roles["Owner"])
    client.force_login(user)
    return client
