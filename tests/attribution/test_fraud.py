"""Each fraud signal, recorded with its evidence, holding the commission for review."""

from datetime import timedelta

import pytest
from django.utils import timezone

from attribution.models import FraudSignal
from attribution.services import attribution_decide
from core.crypto import keyed_hash
from creators import services as creator_services
from sales.ledger_models import Commission
from sales.models import WebhookDelivery
from tests.attribution.factories import (
    CreatorFactory,
    click,
    code_for,
    link_for,
    make_order,
    program_with,
)

pytestmark = pytest.mark.django_db
K = FraudSignal.Kind


@pytest.fixture
def maya():
    creator = CreatorFactory(handle="maya", email="Maya@Example.com")
    program_with("10", creators=[creator])
    return creator


def decided(order):
    attribution = attribution_decide(order_id=order.pk)
    return attribution, {s.kind: s for s in attribution.signals.all()}


def test_a_clean_order_has_no_signal_and_is_pending(maya):
    order = make_order(click_id=str(click(maya).click_id), email_hash="x" * 64)
    attribution, signals = decided(order)
    assert signals == {} and attribution.review_reason == ""
    assert Commission.objects.get(order=order).status == "pending"


def test_self_referral_by_email_card_or_device(maya):
    own = keyed_hash("customer-email", "maya@example.com")
    order = make_order(click_id=str(click(maya).click_id), email_hash=own)
    attribution, signals = decided(order)
    assert signals[K.SELF_REFERRAL].evidence == {"matched": ["email"]}
    commission = Commission.objects.get(order=order)
    assert commission.status == "held" and "Self-referral" in commission.review_reason
    creator_services.creator_fingerprint_record(creator_id=maya.pk, kind="payment", value="fp_1")
    creator_services.creator_fingerprint_record(creator_id=maya.pk, kind="visitor", value="v" * 64)
    order = make_order(
        click_id=str(click(maya, visitor_hash="v" * 64).click_id),
        payment_fingerprint_hash=keyed_hash("payment-fingerprint", "fp_1"),
    )
    _, signals = decided(order)
    assert signals[K.SELF_REFERRAL].evidence == {"matched": ["payment card", "device"]}
    assert "your own" in signals[K.SELF_REFERRAL].creator_text


def test_code_leakage_when_the_owner_never_clicked(maya):
    program = maya.memberships.get().program
    code_for(maya, program, code="MAYA10")
    leaked, signals = decided(make_order(codes=["MAYA10"]))
    assert signals[K.CODE_LEAKAGE].evidence["owner_clicks_in_window"] == 0
    _, signals = decided(make_order(codes=["MAYA10"], click_id=str(click(maya).click_id)))
    assert K.CODE_LEAKAGE not in signals


def test_a_click_spike_from_one_network(settings, maya):
    settings.FRAUD_SPIKE_MIN_CLICKS = 20
    link = link_for(maya)
    now = timezone.now()
    for i in range(24):
        click(maya, link=link, at=now - timedelta(minutes=30, seconds=i), network="203.0.113.0/24")
    credited = click(maya, link=link, at=now - timedelta(minutes=1), network="198.51.100.0/24")
    _, signals = decided(make_order(click_id=str(credited.click_id)))
    evidence = signals[K.CLICK_SPIKE].evidence
    assert (evidence["by"], evidence["value"], evidence["count"], evidence["clicks"]) == (
        "network",
        "203.0.113.0/24",
        24,
        25,
    )


def test_repeat_orders_from_one_visitor(settings, maya):
    settings.FRAUD_REPEAT_MAX_ORDERS = 2
    visit = str(click(maya).click_id)
    for n in range(3):
        _, signals = decided(
            make_order(visitor_click_id=visit, placed_at=timezone.now() - timedelta(minutes=10 - n))
        )
    assert signals[K.REPEAT_ORDERS].evidence == {"orders": 3, "window_hours": 24}


def test_a_payout_account_shared_by_two_creators(maya):
    leo = CreatorFactory(handle="leo")
    for creator in (maya, leo):
        creator_services.creator_fingerprint_record(
            creator_id=creator.pk, kind="payout_account", value="GB33BUKB20201555555555"
        )
    _, signals = decided(make_order(click_id=str(click(maya).click_id)))
    assert signals[K.SHARED_PAYOUT].evidence == {"other_creators": ["leo"]}


def test_a_disposable_email_domain(settings, maya):
    order = make_order(click_id=str(click(maya).click_id))
    WebhookDelivery.objects.create(
        channel=order.channel,
        provider="standard",
        delivery_id="d1",
        topic="order.paid",
        body=b'{"type": "order.paid", "data": {"email": "x@mailinator.com"}}',
        signature="valid",
        accepted=True,
        status="processed",
        order=order,
    )
    _, signals = decided(order)
    assert signals[K.DISPOSABLE_EMAIL].evidence == {"domain": "mailinator.com"}
    settings.FRAUD_DISPOSABLE_DOMAINS_EXTRA = ["burner.test"]
    from attribution.fraud import disposable

    assert disposable("a@Burner.test") and not disposable("a@example.com")


def test_the_review_queue_decides_through_the_ledger(maya, admin_user):
    from sales import commissions

    own = keyed_hash("customer-email", "maya@example.com")
    order = make_order(click_id=str(click(maya).click_id), email_hash=own)
    decided(order)
    held = Commission.objects.get(order=order)
    commissions.commission_review_reduce(
        commission_id=held.pk, new_amount=400, actor=admin_user, reason="Half: shared household."
    )
    held.refresh_from_db()
    assert (held.status, held.net) == ("pending", 400)
