import pytest

from tests.sales.adapters import ADAPTERS
from testservers import stripe as stripe_server
from testservers import tiktok_shop


@pytest.fixture
def tiktok_server(settings):
    with tiktok_shop.Server() as server:
        settings.TIKTOK_SHOP_API_BASE = server.url
        yield server


@pytest.fixture
def stripe_api(settings):
    with stripe_server.Server(api_key="sk_test_shoploop") as server:
        settings.STRIPE_API_BASE = server.url
        yield server


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request):
    """Each provider in turn; TikTok Shop's comes with its API test server."""
    if request.param == "tiktok_shop":
        return ADAPTERS[request.param](request.getfixturevalue("tiktok_server"))
    return ADAPTERS[request.param]()
