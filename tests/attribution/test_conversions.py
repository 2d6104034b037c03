"""The conversions outbox against local TikTok Events API and Meta CAPI servers: the
documented payloads and hashing, consent, 429 with Retry-After, failures for good, retry."""

import json

import pytest
from django.test import TestCase

from attribution import services, tasks
from attribution.conversions import hashing
from attribution.models import ConversionEvent
from sales.models import WebhookDelivery
from tests.attribution.factories import make_order
from testservers import meta_capi, tiktok_events

pytestmark = pytest.mark.django_db
S = ConversionEvent.Status


def test_hashing_matches_the_destinations_documented_examples():
    # Meta's customer information parameters: "John_Smith@gmail.com" and "16505551212".
    assert hashing.hashed_email("  John_Smith@gmail.com ") == (
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    )
    assert hashing.meta_phone("+1 (650) 555-1212") == (
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    )
    # TikTok: E.164 with the +, then SHA-256.
    assert hashing.e164("(213) 373-4253", "US") == "+12133734253"
    assert hashing.tiktok_phone("(213) 373-4253", "US") == hashing.sha256("+12133734253")
    assert hashing.meta_phone("+44 844 412 4653") == hashing.sha256("448444124653")
    assert hashing.e164("12", "US") == "" and hashing.hashed_email("not an email") == ""


@pytest.fixture
def tiktok(settings):
    with tiktok_events.Server(access_token="tt-token") as server:
        settings.TIKTOK_EVENTS_API_BASE = server.url
        yield server


@pytest.fixture
def meta(settings):
    with meta_capi.Server(access_token="meta-token") as server:
        settings.META_CAPI_BASE = server.url
        yield server


def destinations(consent_required=True):
    tt = services.destination_save(
        kind="tiktok",
        name="TikTok",
        pixel_id="CPIXEL123",
        access_token="tt-token",
        consent_required=consent_required,
    )
    mt = services.destination_save(
        kind="meta",
        name="Meta",
        pixel_id="1234567890",
        access_token="meta-token",
        consent_required=consent_required,
    )
    return tt, mt


def paid_order(consent=True, **fields):
    order = make_order(
        lines=(("SKU-1", 2, "29.50"),),
        email_hash="e" * 64,
        landing_url="https://shop.example.com/products/x?slclid=1",
        **fields,
    )
    body = {
        "type": "order.paid",
        "data": {
            "email": " Shopper@Example.com",
            "phone": "+1 650-555-1212",
            "ip": "203.0.113.9",
            "user_agent": "Mozilla/5.0 Test",
            "ads_consent": consent,
        },
    }
    WebhookDelivery.objects.create(
        channel=order.channel,
        provider="standard",
        delivery_id=f"d-{order.pk}",
        topic="order.paid",
        body=json.dumps(body).encode(),
        signature="valid",
        accepted=True,
        status="processed",
        order=order,
    )
    return order


def enqueue(order):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.conversions_enqueue(order_id=order.pk)


def test_one_event_per_destination_sent_with_the_documented_payloads(tiktok, meta):
    tt, mt = destinations()
    order = paid_order()
    events = enqueue(order)
    assert [e.refresh_from_db() or e.status for e in events] == [S.SENT, S.SENT]
    assert enqueue(order) == []  # once per order and destination
    (sent,) = tiktok.events
    assert sent["event_id"] == str(order.pk) and sent["event"] == "CompletePayment"
    assert sent["user"]["email"] == hashing.sha256("shopper@example.com")
    assert sent["user"]["phone"] == hashing.sha256("+16505551212")
    assert "ip" not in sent["user"] and sent["properties"]["value"] == 59.0
    request = tiktok.requests_to("/event/track/")[0]
    assert request.headers["access-token"] == "tt-token"
    assert b'"value":59.00' in request.body  # exact digits, never through a float
    (sent,) = meta.events
    assert sent["user_data"]["em"] == [hashing.sha256("shopper@example.com")]
    assert sent["user_data"]["ph"] == [hashing.sha256("16505551212")]
    assert sent["user_data"]["client_ip_address"] == "203.0.113.9"
    assert sent["event_id"] == str(order.pk) and sent["custom_data"]["currency"] == "usd"
    assert b"access_token" not in meta.requests[0].path.encode()
    stored = ConversionEvent.objects.get(destination=mt)
    assert "client_ip_address" not in stored.payload["data"][0]["user_data"]  # dropped once sent


def test_without_consent_it_is_skipped_or_sent_without_ip_and_user_agent(tiktok, meta):
    destinations(consent_required=True)
    events = enqueue(paid_order(consent=False))
    assert {e.status for e in events} == {S.SKIPPED}
    assert "consent" in events[0].reason and tiktok.requests == []
    ConversionEvent.objects.all().delete()
    from attribution.models import ConversionDestination

    ConversionDestination.objects.update(consent_required=False)
    enqueue(paid_order(consent=False))
    user = meta.events[0]["user_data"]
    assert "client_ip_address" not in user and "client_user_agent" not in user
    assert user["em"]


def test_a_429_with_retry_after_is_retried_after_it(tiktok, meta, settings):
    settings.JOBS_RETRY_BACKOFF = 0.01
    tt, _ = destinations()
    tiktok.fail_next(
        1,
        status=429,
        body={"code": 40100, "message": "Too many requests"},
        headers={"Retry-After": "1"},
    )
    order = paid_order()
    enqueue(order)  # in-process: the job retries inline, after Retry-After
    event = ConversionEvent.objects.get(destination=tt)
    assert (event.status, event.attempts) == (S.SENT, 2)
    first, second = tiktok.requests_to("/event/track/")
    assert second.at - first.at >= 1.0  # it waited as long as TikTok asked


def test_the_service_records_the_attempt_and_asks_for_retry_after(tiktok):
    from core.jobs import RetryLater

    tt, _ = destinations()
    order = paid_order()
    event = ConversionEvent.objects.create(
        destination=tt,
        order=order,
        key="purchase",
        event_id=str(order.pk),
        payload=tt_payload(order),
    )
    tiktok.fail_next(1, status=429, headers={"Retry-After": "30"})
    with pytest.raises(RetryLater) as exc:
        services.conversion_send(event_id=event.pk)
    assert exc.value.countdown >= 30
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_status_code) == (S.PENDING, 1, 429)
    assert "Rate limited" in event.reason


def tt_payload(order):
    from attribution.conversions import tiktok as module

    return module.build(services._context(order), pixel_id="CPIXEL123")


def test_a_refusal_fails_for_good_with_the_reason_and_the_console_can_retry(tiktok, meta):
    tt, mt = destinations()
    tt.access_token = "revoked"
    tt.save()
    order = paid_order()
    enqueue(order)
    failed = ConversionEvent.objects.get(destination=tt)
    assert failed.status == S.FAILED and "40105" in failed.reason
    tt.access_token = "tt-token"
    tt.save()
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.conversion_retry(event_id=failed.pk)
    failed.refresh_from_db()
    assert failed.status == S.SENT


def test_outages_give_up_after_the_attempts_and_say_why(meta, settings):
    settings.JOBS_RETRY_BACKOFF = 0.01
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0.01
    _, mt = destinations()
    meta.fail_next(10, status=503)
    enqueue(paid_order())
    event = ConversionEvent.objects.get(destination=mt)
    assert event.status == S.FAILED and "Gave up after 3 attempts" in event.reason


def test_the_sweep_requeues_late_pending_events(tiktok):
    from datetime import timedelta

    from django.utils import timezone

    tt, _ = destinations()
    order = paid_order()
    event = ConversionEvent.objects.create(
        destination=tt,
        order=order,
        key="purchase",
        event_id=str(order.pk),
        payload=tt_payload(order),
        next_attempt_at=timezone.now() - timedelta(minutes=5),
    )
    assert tasks.conversions_sweep() == 1
    event.refresh_from_db()
    assert event.status == S.SENT
