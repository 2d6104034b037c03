"""The demo commands against a running server: the stand-alone TikTok Shop test server (what
`python -m testservers tiktok_shop` runs) connected through the console, `demo_orders`
re-fetching TikTok orders from it with the connection's token, and `demo_compliance`."""

import io
import socket

import pytest
from django.core.management import call_command

from demo.sales import seed_sales
from integrations.models import ComplianceRequest
from sales.models import Order, SalesChannel
from tests.catalog.factories import VariantFactory
from tests.integrations.helpers import connect
from testservers import tiktok_shop

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def standalone_tiktok(settings):
    server = tiktok_shop.standalone(host="127.0.0.1", port=free_port()).start()
    settings.TIKTOK_SHOP_APP_KEY = tiktok_shop.DEMO["app_key"]
    settings.TIKTOK_SHOP_APP_SECRET = tiktok_shop.DEMO["app_secret"]
    settings.TIKTOK_SHOP_SERVICE_ID = server.service_id
    settings.TIKTOK_SHOP_AUTHORIZE_URL = server.url + "/open/authorize"
    settings.TIKTOK_SHOP_AUTH_URL = server.url
    settings.TIKTOK_SHOP_API_BASE = server.url
    yield server
    server.stop()


def test_the_demo_commands_against_a_running_server(
    live_server, owner_client, standalone_tiktok, settings
):
    for n in range(3):
        VariantFactory(sku=f"DEMO-{n}", stock_on_hand=50)
    seed_sales()
    channel = SalesChannel.objects.get(provider="tiktok_shop")
    connection = connect(owner_client, "tiktok_shop")  # the console's OAuth, on the demo server
    assert connection.account_id == channel.shop_id

    out = io.StringIO()
    call_command("demo_orders", "--base-url", live_server.url, stdout=out)
    text = out.getvalue()
    assert f"orders put in the TikTok Shop test server at {standalone_tiktok.url}" in text
    assert Order.objects.filter(channel=channel).count() == 2
    fetched = standalone_tiktok.requests_to(r"^/(order|return_refund)/")
    assert fetched and {r.headers["x-tts-access-token"] for r in fetched} == {
        connection.access_token
    }  # the connection's token, not the channel's own
    assert connection.access_token != channel.access_token

    out = io.StringIO()
    call_command("demo_compliance", "--base-url", live_server.url, stdout=out)
    text = out.getvalue()
    assert "forged customers/redact (wrong secret): 401" in text
    assert "customers/data_request: 200 received" in text
    assert "the same delivery again: 200 already received" in text
    assert "customers/redact: 200 received" in text
    data_request = ComplianceRequest.objects.get(topic="customers/data_request")
    assert data_request.status == "ready" and data_request.summary["orders"] == 1
    assert ComplianceRequest.objects.get(topic="customers/redact").status == "done"
    assert Order.objects.filter(redacted_at__isnull=False).count() == 1
