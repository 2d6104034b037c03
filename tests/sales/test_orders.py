"""Orders, refunds and stock through the services: the state machine, signals after commit,
oversold orders, fulfilment, the TikTok Shop API's refusals and limits, bounded rejects."""

import itertools
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import services as catalog_services
from catalog.models import Variant
from core.errors import ApplicationError
from sales import services, signals, tasks
from sales.models import Order, Reservation, WebhookDelivery
from tests.catalog.factories import VariantFactory
from tests.sales.adapters import ADAPTERS, Standard
from tests.sales.factories import SalesChannelFactory
from testservers import tiktok_shop

pytestmark = pytest.mark.django_db
S = Order.Status


def test_the_database_refuses_stock_that_breaks_the_invariant():
    variant = VariantFactory(stock_on_hand=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Variant.objects.filter(pk=variant.pk).update(stock_reserved=2, stock_committed=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Variant.objects.filter(pk=variant.pk).update(stock_reserved=-1)


def test_a_form_saving_a_variant_never_writes_back_the_counts_it_read(client):
    variant = VariantFactory(stock_on_hand=5)
    stale = Variant.objects.get(pk=variant.pk)  # what an admin form loaded
    services.reservation_create(variant_id=variant.pk, quantity=2, key="k")
    stale.price = Decimal("25.00")
    catalog_services.variant_save(variant=stale)
    variant.refresh_from_db()
    assert (variant.price, variant.stock_reserved) == (Decimal("25.00"), 2)
    stale.stock_on_hand = 1  # below what is held
    with pytest.raises(Exception, match="cannot be below the 2 reserved"):
        catalog_services.variant_save(variant=stale)


def test_the_order_state_machine_refuses_invalid_moves(client):
    channel = Standard().channel()
    Standard().order(channel, "o1", status="cancelled").post(client, channel)
    order = Order.objects.get()
    with pytest.raises(ApplicationError) as exc:
        services.order_cancel(order_id=order.pk, actor=None, reason="again")
    assert exc.value.code == "invalid_transition"
    with pytest.raises(ApplicationError) as exc:
        services.order_cancel(order_id=order.pk, actor=None, reason=" ")
    assert "reason" in exc.value.fields


def test_signals_are_sent_after_commit_with_ids_only(client):
    channel = Standard().channel()
    VariantFactory(sku="SKU-1", stock_on_hand=5)
    got = []

    def receiver(signal_name):
        return lambda sender, **kwargs: got.append((signal_name, kwargs))

    handlers = {name: receiver(name) for name in ("paid", "refunded", "cancelled")}
    signals.order_paid.connect(handlers["paid"])
    signals.order_refunded.connect(handlers["refunded"])
    signals.order_cancelled.connect(handlers["cancelled"])
    try:
        adapter = Standard()
        adapter.order(channel, "s1").post(client, channel)
        adapter.refund(channel, "s1", "r1").post(client, channel)
        adapter.order(channel, "s2", status="cancelled").post(client, channel)
    finally:
        for name, signal in (("paid", signals.order_paid), ("refunded", signals.order_refunded),
                             ("cancelled", signals.order_cancelled)):  # fmt: skip
            signal.disconnect(handlers[name])
    order, cancelled = Order.objects.get(external_id="s1"), Order.objects.get(external_id="s2")
    refund = order.refunds.get()
    assert got == [
        ("paid", {"signal": signals.order_paid, "order_id": order.pk}),
        ("refunded", {"signal": signals.order_refunded, "order_id": order.pk,
                      "refund_id": refund.pk}),
        ("cancelled", {"signal": signals.order_cancelled, "order_id": cancelled.pk}),
    ]  # fmt: skip


def test_an_order_sold_elsewhere_with_too_little_stock_is_oversold_and_never_negative(client):
    channel = SalesChannelFactory()
    variant = VariantFactory(sku="SKU-1", stock_on_hand=2)
    ADAPTERS["shopify"]().order(channel, "901", quantity=5).post(client, channel)
    order = Order.objects.get()
    line = order.lines.get()
    assert order.oversold and (line.stock_committed, line.shortfall) == (2, 3)
    variant.refresh_from_db()
    assert (variant.stock_on_hand, variant.stock_committed) == (2, 2)
    assert order.events.filter(action="oversold").exists()
    Variant.objects.filter(pk=variant.pk).update(stock_on_hand=10)  # restocked
    order = services.order_settle_stock(order_id=order.pk)
    line.refresh_from_db()
    assert not order.oversold and (line.stock_committed, line.shortfall) == (5, 0)


def test_fulfilment_ships_and_cancellation_releases(client):
    channel = SalesChannelFactory()
    variant = VariantFactory(sku="SKU-1", stock_on_hand=10)
    adapter = ADAPTERS["shopify"]()
    now = int(timezone.now().timestamp())
    adapter.order(channel, "911", quantity=3, updated=now).post(client, channel)
    adapter.order(channel, "911", quantity=3, updated=now + 5, status="fulfilled").post(
        client, channel)  # fmt: skip
    variant.refresh_from_db()
    assert (variant.stock_on_hand, variant.stock_committed) == (7, 0)
    assert Order.objects.get().status == S.FULFILLED
    adapter.order(channel, "912", quantity=2, updated=now).post(client, channel)
    adapter.order(channel, "912", quantity=2, updated=now + 5, status="cancelled").post(
        client, channel)  # fmt: skip
    variant.refresh_from_db()
    assert (variant.stock_on_hand, variant.stock_committed) == (7, 0)


def test_an_expired_session_releases_its_reservation(client):
    channel = SalesChannelFactory(provider="stripe", checkout=True)
    variant = VariantFactory(stock_on_hand=3)
    reservation = services.reservation_create(variant_id=variant.pk, quantity=2, key="exp")
    adapter = ADAPTERS["stripe"]()
    from testservers import webhooks

    session = {"id": "cs_x", "object": "checkout.session", "metadata": {"reservation": "exp"}}
    body = webhooks.body_of(webhooks.stripe_event("checkout.session.expired", session))
    adapter.raw(channel, body).post(client, channel)
    reservation.refresh_from_db()
    assert reservation.status == "released"
    assert Variant.objects.get().stock_reserved == 0


def test_the_sweep_expires_only_reservations_past_their_time():
    variant = VariantFactory(stock_on_hand=5)
    old = services.reservation_create(variant_id=variant.pk, quantity=1, key="old")
    new = services.reservation_create(variant_id=variant.pk, quantity=1, key="new")
    Reservation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(1))
    assert tasks.expire_reservations() == 1
    assert Reservation.objects.get(pk=old.pk).status == "expired"
    assert Reservation.objects.get(pk=new.pk).status == "active"
    assert Variant.objects.get().stock_reserved == 1
    assert list(old.events.values_list("action", flat=True)) == ["create", "expire"]


# --- TikTok Shop: the API the job re-fetches from --------------------------------------------


def test_tiktok_requests_are_signed_and_carry_the_token(client, tiktok_server):
    adapter = ADAPTERS["tiktok_shop"](tiktok_server)
    channel = adapter.channel()
    adapter.order(channel, "777", quantity=2).post(client, channel)
    sent = tiktok_server.requests_to(r"^/order/202309/orders$", "GET")[0]
    assert sent.headers["x-tts-access-token"] == "TTP_test_access_token"
    assert sent.query["ids"] == ["777"] and sent.query["shop_cipher"] == ["ROW_cipher"]
    assert Order.objects.get().lines.get().quantity == 2  # two line items of one unit


def test_a_refused_tiktok_token_fails_the_delivery_with_its_reason(client, tiktok_server):
    adapter = ADAPTERS["tiktok_shop"](tiktok_server)
    channel = adapter.channel(access_token="TTP_revoked")
    adapter.order(channel, "778").post(client, channel)
    delivery = WebhookDelivery.objects.get(accepted=True)
    assert delivery.status == "failed" and "105001" in delivery.reason
    assert not Order.objects.exists()


def test_tiktok_rate_limits_are_retried(client, tiktok_server, settings):
    adapter = ADAPTERS["tiktok_shop"](tiktok_server)
    channel = adapter.channel()
    # Three refusals: the first try and both inline retries of the embedded default's jobs.
    tiktok_server.fail_next(3, status=429, body={"code": 36009002, "message": "Too many"},
                            headers={"Retry-After": "1"})  # fmt: skip
    adapter.order(channel, "779").post(client, channel)
    assert len(tiktok_server.requests_to(r"^/order/")) == 3
    delivery = WebhookDelivery.objects.get(accepted=True)
    assert delivery.status == "received" and "rate limiting" in delivery.reason
    # The sweep finds it once it has waited 5 minutes (here: made older).
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        received_at=timezone.now() - timedelta(minutes=6)
    )
    assert services.deliveries_awaiting_processing(older_than=timedelta(minutes=5)) == [delivery.pk]
    # The sweep's job goes through now that the platform answers again.
    assert tasks.process_delivery.apply(args=[delivery.pk], throw=False).state == "SUCCESS"
    assert len(tiktok_server.requests_to(r"^/order/")) == 4
    delivery.refresh_from_db()
    assert delivery.status == "processed" and delivery.attempts == 4
    assert Order.objects.filter(external_id="779").exists()


def test_the_tiktok_server_refuses_a_bad_signature_or_an_old_timestamp(tiktok_server):
    import requests

    ok = {"app_key": tiktok_server.app_key, "timestamp": "1", "ids": "1",
          "shop_cipher": tiktok_server.shop_cipher}  # fmt: skip
    ok["sign"] = tiktok_shop.sign(tiktok_server.app_secret, "/order/202309/orders", ok, b"")
    answer = requests.get(f"{tiktok_server.url}/order/202309/orders", params=ok, timeout=5,
                          headers={"x-tts-access-token": "TTP_test_access_token"})  # fmt: skip
    assert answer.status_code == 401 and answer.json()["code"] == 106003  # the old timestamp
    ok["timestamp"] = str(int(time.time()))  # a fresh one, but the signature is the old one's
    answer = requests.get(f"{tiktok_server.url}/order/202309/orders", params=ok, timeout=5,
                          headers={"x-tts-access-token": "TTP_test_access_token"})  # fmt: skip
    assert answer.status_code == 401 and answer.json()["code"] == 106001


# --- rejected deliveries stay bounded ------------------------------------------------------------


def test_rejected_deliveries_are_capped_per_minute_and_pruned(client, settings):
    settings.WEBHOOK_REJECTED_PER_MINUTE = 3
    settings.WEBHOOK_REJECTED_KEEP = 2
    channel = SalesChannelFactory()
    adapter = ADAPTERS["shopify"]()
    from django.core.cache import cache

    cache.clear()
    for n in range(6):
        forged = adapter.forged(channel, adapter.order(channel, str(100 + n)).body)
        assert forged.post(client, channel).status_code == 401
    assert WebhookDelivery.objects.filter(accepted=False).count() == 3
    assert services.deliveries_prune_rejected() == 1
    assert WebhookDelivery.objects.filter(accepted=False).count() == 2
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(days=30))
    assert tasks.prune_rejected_deliveries() == 2


def test_a_body_over_the_limit_is_413_and_kept_truncated(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    channel = SalesChannelFactory()
    adapter = ADAPTERS["shopify"]()
    big = adapter.raw(channel, b'{"id": 1, "pad": "' + b"x" * 5000 + b'"}')
    assert big.post(client, channel).status_code == 413
    kept = WebhookDelivery.objects.get()
    assert kept.body_size == len(big.body) and len(bytes(kept.body)) == 4096


# --- a property: whatever a channel sends, in whatever order ----------------------------------

counter = itertools.count()
STEPS = st.lists(
    st.tuples(st.sampled_from(["pending", "paid", "fulfilled", "cancelled", "refund"]),
              st.integers(min_value=0, max_value=5)),
    min_size=1, max_size=6,
)  # fmt: skip


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(steps=STEPS)
def test_any_sequence_of_updates_keeps_the_order_and_stock_consistent(client, steps):
    n = next(counter)
    channel = SalesChannelFactory(provider="standard")
    variant = VariantFactory(sku=f"P-{n}", stock_on_hand=10)
    adapter, order_id, base = Standard(), f"prop-{n}", 1_700_000_000
    refunds = 0
    for index, (kind, age) in enumerate(steps):
        if kind == "refund":
            adapter.refund(channel, order_id, f"r{n}-{index}", amount="1.00",
                           sku=variant.sku).post(client, channel)  # fmt: skip
            refunds += 1
        else:
            adapter.order(channel, order_id, sku=variant.sku, quantity=2, price="5.00",
                          status=kind, updated=base + age).post(client, channel)  # fmt: skip
    order = Order.objects.filter(channel=channel, external_id=order_id).first()
    variant.refresh_from_db()
    assert variant.stock_reserved == 0
    assert 0 <= variant.stock_committed <= variant.stock_on_hand <= 10
    if order is None:
        assert all(kind == "refund" for kind, _ in steps)
        assert variant.stock_committed == 0
        return
    events = list(order.events.order_by("at", "pk"))
    moves = [e for e in events if e.action in services.MOVES]
    for before, after in itertools.pairwise(moves):
        assert before.to_status == after.from_status
    if moves:
        assert moves[-1].to_status == order.status
    for move in moves:
        assert services.ALLOWED[(move.from_status, move.action)] == move.to_status
    line = order.lines.get()
    if order.status == S.CANCELLED:
        assert line.stock_committed == 0
    else:
        assert line.stock_committed + line.stock_shipped == 2
        assert variant.stock_on_hand + line.stock_shipped == 10
    assert order.refunds.count() == refunds
