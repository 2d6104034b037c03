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
