import os

import pytest

from links import clicks, services, snapshots
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.links.factories import AllowedDomainFactory, CreatorFactory


@pytest.fixture
def redis_client():
    """The click buffer's Redis (`CLICK_BUFFER_URL`, which defaults to `REDIS_URL`): where these
    tests look for buffered, dead-lettered and unique-visitor keys."""
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CLICK_BUFFER_URL or os.environ["REDIS_URL"])


@pytest.fixture(autouse=True)
def clean_buffers(redis_client):
    """Each test starts with an empty click buffer and no cached link snapshots.

    Clicks a test recorded are handed to Redis by a background thread: wait for them before
    emptying the buffer, or they would land in the next test's buffer. The cache's Redis
    (`REDIS_URL`, the snapshots) is emptied too when the buffer has a database of its own.
    """
    import redis

    cache = redis.Redis.from_url(os.environ["REDIS_URL"])

    def empty():
        clicks.flush()
        redis_client.flushdb()
        cache.flushdb()
        snapshots._local.clear()

    empty()
    yield
    empty()


@pytest.fixture
def edge_client():
    """A client whose requests go through config.wsgi.application, the callable gunicorn
    serves: the link edge answers shoppers' redirects, Django the rest."""
    from tests.wsgi_client import WSGIClient

    return WSGIClient()


@pytest.fixture
def allowed_domain(db):
    return AllowedDomainFactory(domain="shop.example.com")


@pytest.fixture
def product(db):
    product = ProductFactory(title="Cloud Hoodie", slug="cloud-hoodie")
    VariantFactory(product=product, sku="HOOD-M")
    return product


@pytest.fixture
def creator(db):
    return CreatorFactory(handle="maya", affiliate_code="MAYA10")


@pytest.fixture
def link(db, allowed_domain, creator):
    return services.link_create(
        url="https://shop.example.com/products/hoodie?color=grey",
        code="hoodie",
        creator_id=creator.pk,
        utm_source="tiktok",
        utm_medium="creator",
        utm_campaign="spring",
    )


@pytest.fixture
def product_link(db, product, creator):
    return services.link_create(product_id=product.pk, code="prod", creator_id=creator.pk)
