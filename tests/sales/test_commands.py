"""`sales_channel_add`, `demo_orders` against a running server, and the demo channels."""

import io
import json
import socket

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from demo.sales import DEMO_SECRETS, seed_sales
from sales.models import Order, SalesChannel, WebhookDelivery
from tests.catalog.factories import VariantFactory


@pytest.mark.django_db
def test_sales_channel_add_prints_one_json_object():
    out = io.StringIO()
    call_command("sales_channel_add", "--provider", "tiktok_shop", "--name", "TikTok US",
                 "--secret", "app-secret-123", "--app-key", "key123", "--currency", "usd",
                 stdout=out)  # fmt: skip
    printed = json.loads(out.getvalue())
    channel = SalesChannel.objects.get()
    assert printed["id"] == channel.pk and printed["provider"] == "tiktok_shop"
    assert (
        printed["webhook_url"] == f"https://shop.example.com/webhooks/tiktok_shop/{channel.token}/"
    )
    assert "app-secret-123" not in out.getvalue()
    assert channel.secret == "app-secret-123" and channel.currency == "USD"


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "message"), [
    (["--provider", "tiktok_shop", "--name", "T", "--secret", "long-enough"], "app key"),
    (["--provider", "standard", "--name", "S", "--secret", "not-whsec-secret"], "whsec_"),
    (["--provider", "shopify", "--name", "S", "--secret", "short"], "8 characters"),
])  # fmt: skip
def test_sales_channel_add_refuses_bad_input_and_changes_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("sales_channel_add", *args, stdout=io.StringIO())
    assert not SalesChannel.objects.exists()


@pytest.mark.django_db
def test_seed_demo_channels_once_per_provider():
    first = seed_sales()
    again = seed_sales()
    assert [c.pk for c in first] == [c.pk for c in again]
    assert sorted(c.provider for c in first) == ["shopify", "standard", "stripe", "tiktok_shop"]
    assert SalesChannel.objects.get(checkout=True).provider == "stripe"
    assert {c.provider: c.secret for c in first} == DEMO_SECRETS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_demo_orders_sends_every_provider_to_a_running_server(live_server, settings):
    settings.TIKTOK_SHOP_API_BASE = f"http://127.0.0.1:{free_port()}"
    for n in range(3):
        VariantFactory(sku=f"DEMO-{n}", stock_on_hand=50)
    seed_sales()
    out = io.StringIO()
    call_command("demo_orders", "--base-url", live_server.url, stdout=out)
    text = out.getvalue()
    assert text.count('"duplicate": true') == 4  # one replay per provider
    assert text.count(": 401 ") == 4  # one forged delivery per provider
    assert "TikTok Shop API answered 3 signed requests" in text
    by_provider = {p: Order.objects.filter(channel__provider=p) for p in
                   ("shopify", "stripe", "tiktok_shop", "standard")}  # fmt: skip
    assert {p: q.count() for p, q in by_provider.items()} == {
        "shopify": 2,
        "stripe": 1,
        "tiktok_shop": 2,
        "standard": 2,
    }
    for provider, orders in by_provider.items():
        statuses = set(orders.values_list("status", flat=True))
        assert "partially_refunded" in statuses, provider
        if provider != "stripe":
            assert "cancelled" in statuses, provider
    assert not WebhookDelivery.objects.filter(accepted=True).exclude(status="processed").exists()
    assert Order.objects.filter(click_id__startswith="demo-click-").count() == 5
