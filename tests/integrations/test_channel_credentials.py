"""TikTok Shop sales channels re-fetch orders with the shop's connection's token
(`sales.credentials`, the resolver in `integrations/channel_credentials.py`): refreshed under
the connection's lock when due or refused, a refused grant makes the delivery wait with the
reason, and reconnecting processes it. Every request goes to the one TikTok Shop test server,
whose OAuth issued the tokens its order endpoint takes."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from integrations import services as integrations_services
from integrations.models import Connection
from sales import credentials, services
from sales.models import Order, WebhookDelivery
from tests.integrations.helpers import callback, connect, consent, start
from tests.sales.adapters import ADAPTERS, on_commit
from testservers import tiktok_shop as tts

pytestmark = pytest.mark.django_db

ORDERS = r"^/order/202309/orders$"


def tiktok_channel(server, **fields):
    """A TikTok Shop channel of the connected shop holding no access token of its own."""
    adapter = ADAPTERS["tiktok_shop"](server)
    values = {"access_token": "", "shop_cipher": "", **fields}
    return adapter, adapter.channel(**values)


def due(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )


def tokens_sent(server) -> list[str]:
    return [r.headers.get("x-tts-access-token") for r in server.requests_to(ORDERS, "GET")]


def test_the_resolver_is_registered_by_the_integrations_app():
    from integrations.channel_credentials import tiktok_shop_credentials

    assert tiktok_shop_credentials in credentials._resolvers["tiktok_shop"]  # noqa: SLF001


def test_an_order_is_refetched_with_a_token_the_connection_refreshed(
    client, owner_client, tiktok_server
):
    connection = connect(owner_client, "tiktok_shop")
    assert connection.account_id == tiktok_server.shop_id
    old_token = connection.access_token
    adapter, channel = tiktok_channel(tiktok_server)
    tiktok_server.expire_access_tokens()  # TikTok would refuse the old token now
    due(connection)

    assert adapter.order(channel, "9001", quantity=2).post(client, channel).status_code == 200

    connection.refresh_from_db()
    assert tiktok_server.refresh_calls == 1 and tiktok_server.refresh_reuses == 0
    assert connection.token_version == 2 and connection.access_token != old_token
    # The order API was called once, with the refreshed token and the connection's cipher.
    assert tokens_sent(tiktok_server) == [connection.access_token]
    sent = tiktok_server.requests_to(ORDERS, "GET")[0]
    assert sent.query["shop_cipher"] == [connection.settings["shop_cipher"]]
    order = Order.objects.get(external_id="9001")
    assert order.channel == channel and order.lines.get().quantity == 2
    assert WebhookDelivery.objects.get(accepted=True).status == "processed"


def test_a_token_tiktok_refuses_is_refreshed_once_and_the_fetch_sent_again(
    client, owner_client, tiktok_server
):
    connection = connect(owner_client, "tiktok_shop")
    adapter, channel = tiktok_channel(tiktok_server)
    tiktok_server.expire_access_tokens()  # expired at TikTok, not yet due here

    adapter.order(channel, "9002").post(client, channel)

    connection.refresh_from_db()
    sent = tokens_sent(tiktok_server)
    assert len(sent) == 2 and sent[0] != sent[1] == connection.access_token
    assert tiktok_server.refresh_calls == 1
    assert Order.objects.filter(external_id="9002").exists()


def test_a_refused_grant_makes_the_delivery_wait_until_the_shop_is_reconnected(
    client, owner_client, tiktok_server
):
    connection = connect(owner_client, "tiktok_shop")
    adapter, channel = tiktok_channel(tiktok_server)
    tiktok_server.revoke_all()  # the seller removed the app: the refresh token is refused
    due(connection)

    adapter.order(channel, "9003").post(client, channel)

    connection.refresh_from_db()
    assert connection.status == "needs_reconnect"
    assert "refresh" in connection.status_reason
    delivery = WebhookDelivery.objects.get(accepted=True)
    assert delivery.status == "waiting"
    assert delivery.reason.startswith("Waiting: the TikTok Shop connection")
    assert "needs reconnecting" in delivery.reason and "Reconnect it" in delivery.reason
    assert connection.access_token not in delivery.reason
    assert tokens_sent(tiktok_server) == []  # nothing was fetched with a dead token
    assert not Order.objects.exists()
    # The console shows why it waits, and the connection's page that orders wait for it.
    page = owner_client.get(reverse("admin:sales_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and b"needs reconnecting" in page.content
    page = owner_client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
    assert b"1 order delivery waits for this connection" in page.content
    # The sweep may run it again meanwhile: it still waits, and nothing is sent.
    assert delivery.pk in services.deliveries_awaiting_processing(older_than=timedelta(0))
    services.delivery_process(delivery_id=delivery.pk)
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "waiting"
    assert tokens_sent(tiktok_server) == []

    # The merchant reconnects: the waiting delivery is processed with the new grant.
    authorize = start(owner_client, "tiktok_shop", connection=connection.pk)
    with on_commit():
        callback(owner_client, consent(authorize))
    connection.refresh_from_db()
    assert connection.status == "active"
    delivery.refresh_from_db()
    assert delivery.status == "processed", delivery.reason
    assert tokens_sent(tiktok_server) == [connection.access_token]
    assert Order.objects.filter(external_id="9003", channel=channel).exists()


def test_a_channel_without_a_connection_keeps_its_own_token(client, tiktok_server):
    adapter = ADAPTERS["tiktok_shop"](tiktok_server)
    channel = adapter.channel()
    adapter.order(channel, "9004").post(client, channel)
    assert tokens_sent(tiktok_server) == [tiktok_server.access_token]
    assert Order.objects.filter(external_id="9004").exists()


def test_a_disconnected_shop_falls_back_to_the_channels_own_token(
    client, owner_client, tiktok_server
):
    connection = connect(owner_client, "tiktok_shop")
    integrations_services.connection_disconnect(connection_id=connection.pk)
    adapter = ADAPTERS["tiktok_shop"](tiktok_server)
    channel = adapter.channel()
    adapter.order(channel, "9005").post(client, channel)
    assert tokens_sent(tiktok_server) == [tiktok_server.access_token]


@pytest.mark.django_db(transaction=True)
def test_deliveries_processed_at_once_refresh_the_token_once(owner_client, tiktok_server):
    connection = connect(owner_client, "tiktok_shop")
    adapter, channel = tiktok_channel(tiktok_server)
    ids = []
    for n in range(4):
        tiktok_server.add_order(tts.order(f"95{n}"))
        delivery = WebhookDelivery.objects.create(
            channel=channel, provider="tiktok_shop", delivery_id=f"n{n}", topic="type:1",
            headers={}, body=(
                b'{"type":1,"tts_notification_id":"n%d","shop_id":"%s","data":{"order_id":"95%d"}}'
                % (n, channel.shop_id.encode(), n)
            ), signature="valid", accepted=True, status="received",
        )  # fmt: skip
        ids.append(delivery.pk)
    tiktok_server.expire_access_tokens()
    due(connection)
    barrier = threading.Barrier(len(ids))
    errors = []

    def job(delivery_id):
        try:
            barrier.wait(timeout=10)
            services.delivery_process(delivery_id=delivery_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=job, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert tiktok_server.refresh_calls == 1 and tiktok_server.refresh_reuses == 0
    connection.refresh_from_db()
    assert set(tokens_sent(tiktok_server)) == {connection.access_token}
    assert Order.objects.filter(channel=channel).count() == len(ids)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}


def test_the_retired_api_url_setting_is_flagged_when_it_is_still_set(monkeypatch, settings):
    from integrations.checks import retired_settings_check

    settings.TIKTOK_SHOP_API_BASE = "https://open-api.tiktokglobalshop.com"
    monkeypatch.delenv("TIKTOK_SHOP_API_URL", raising=False)
    assert retired_settings_check(None) == []
    monkeypatch.setenv("TIKTOK_SHOP_API_URL", "https://open-api.example.com")
    (warning,) = retired_settings_check(None)
    assert warning.id == "integrations.W001" and "TIKTOK_SHOP_API_BASE" in warning.msg
