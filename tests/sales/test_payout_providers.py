"""Sending payouts through Stripe Connect and PayPal Payouts (local servers speaking their
documented APIs), confirmed only by the provider (webhook or poll), failures returned to
`available`, retries with the same idempotency key, two confirmations at once posting once."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from sales import ledger, payouts
from sales.ledger_models import Commission, LedgerTransaction
from sales.models import Payout, PayoutNotification, PayoutRun
from sales.providers import payout_clients
from tests.links.factories import CreatorFactory
from tests.sales.ledger_helpers import Kind, approve, available, balances, give_details, staff
from testservers import paypal as paypal_server
from testservers import stripe as stripe_server

S = Payout.Status
STRIPE_ERROR_429 = {
    "error": {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Too many requests hit the API too quickly.",
    }
}


@pytest.fixture(autouse=True)
def payout_settings(settings):
    settings.PAYOUT_MINIMUM = "10"
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0
    settings.PAYOUT_POLL_AFTER = 0


@pytest.fixture
def stripe_connect(settings):
    with stripe_server.Server(api_key="sk_test_platform", payouts_webhook_secret="whsec_pay",
                              accounts={"acct_maya1", "acct_leo1"}) as server:  # fmt: skip
        settings.STRIPE_API_BASE = server.url
        settings.STRIPE_PAYOUTS_API_KEY = "sk_test_platform"
        settings.STRIPE_PAYOUTS_WEBHOOK_SECRET = "whsec_pay"
        yield server


@pytest.fixture
def paypal(settings):
    with paypal_server.Server(client_id="cid", client_secret="csecret",
                              webhook_id="WH-1") as server:  # fmt: skip
        settings.PAYPAL_API_BASE = server.url
        settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET = "cid", "csecret"
        settings.PAYPAL_WEBHOOK_ID = "WH-1"
        payout_clients._token.clear()
        yield server
        payout_clients._token.clear()


def deliver(client, provider, body, headers):
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return client.post(f"/webhooks/payouts/{provider}/", body, content_type="application/json",
                       headers=headers)  # fmt: skip


def creator_with(method, handle="maya", amount=4321, currency="USD"):
    creator = CreatorFactory(handle=handle)
    give_details(creator, method=method)
    available(creator, amount, currency=currency)
    return creator


def approved_run(currency="USD"):
    run = payouts.payout_run_create(currency=currency, actor=staff("maker", "Finance"))
    approve(run, staff("checker", "Owner"))
    return run


@pytest.mark.django_db
def test_a_stripe_transfer_is_sent_as_documented_and_paid_only_when_stripe_says_so(
    client, stripe_connect
):
    maya = creator_with("stripe")
    run = approved_run()
    payout = run.payouts.get()
    (request,) = stripe_connect.requests_to(r"^/v1/transfers$", "POST")
    form = request.form()
    assert form["amount"] == "4321" and form["currency"] == "usd"
    assert form["destination"] == "acct_maya1"
    assert form["transfer_group"] == f"shoploop-run-{run.pk}"
    assert form["metadata[shoploop_payout]"] == payout.key
    assert request.headers["idempotency-key"] == payout.key
    assert request.headers["authorization"] == "Bearer sk_test_platform"
    assert request.headers["stripe-version"]
    payout.refresh_from_db()
    assert payout.status == S.SENT and payout.provider_ref.startswith("tr_")
    assert balances(maya)[Kind.IN_PAYOUT] == 4321 and balances(maya)[Kind.PAID] == 0

    body, headers = stripe_connect.payout_events[0]
    answer = deliver(client, "stripe", body, headers)
    assert answer.status_code == 200 and answer.json()["outcome"] == "Paid."
    payout.refresh_from_db()
    assert payout.status == S.PAID and payout.paid_at
    assert balances(maya)[Kind.IN_PAYOUT] == 0 and balances(maya)[Kind.PAID] == 4321
    assert set(Commission.objects.values_list("status", flat=True)) == {"paid"}
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.DONE
    txns = LedgerTransaction.objects.count()
    again = deliver(client, "stripe", body, headers)  # a replay
    assert again.status_code == 200 and again.json()["outcome"] == "Already received."
    assert LedgerTransaction.objects.count() == txns
    forged = deliver(client, "stripe", body.replace(b"4321", b"9999"), headers)
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "signature"
    assert PayoutNotification.objects.count() == 1
    assert ledger.verify()["ok"]


@pytest.mark.django_db
def test_stripe_busy_is_tried_again_with_the_same_idempotency_key(stripe_connect):
    creator_with("stripe")
    stripe_connect.fail_next(2, status=429, body=STRIPE_ERROR_429, headers={"Retry-After": "0"},
                             path="^/v1/transfers$")  # fmt: skip
    payout = approved_run().payouts.get()
    attempts = stripe_connect.requests_to(r"^/v1/transfers$", "POST")
    assert len(attempts) == 3
    assert {r.headers["idempotency-key"] for r in attempts} == {payout.key}
    assert len(stripe_connect.transfers) == 1
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == (S.SENT, 3)


@pytest.mark.django_db
def test_a_send_that_gives_up_is_sent_again_by_the_poll_and_never_twice(stripe_connect):
    creator_with("stripe")
    stripe_connect.fail_next(3, status=503, body={"error": {"message": "down"}},
                             path="^/v1/transfers$")  # fmt: skip
    payout = approved_run().payouts.get()
    payout.refresh_from_db()
    assert payout.status == S.SENDING  # unknown whether Stripe got it: not failed, not paid
    assert payouts.payouts_poll() == 1  # sends again, same key
    payout.refresh_from_db()
    assert payout.status == S.SENT and len(stripe_connect.transfers) == 1
    assert payouts.payouts_poll() == 1  # now asks Stripe about the transfer
    payout.refresh_from_db()
    assert payout.status == S.PAID


@pytest.mark.django_db
def test_a_transfer_stripe_refuses_fails_the_payout_and_the_money_comes_back(stripe_connect):
    maya = creator_with("stripe")
    give_details(maya, method="stripe", account="acct_unknown9")
    payout = approved_run().payouts.get()
    payout.refresh_from_db()
    assert payout.status == S.FAILED
    assert "No such destination: 'acct_unknown9'" in payout.failure_reason
    assert "resource_missing" in payout.failure_reason
    assert balances(maya)[Kind.AVAILABLE] == 4321 and balances(maya)[Kind.IN_PAYOUT] == 0
    assert set(Commission.objects.values_list("status", flat=True)) == {"available"}
    assert ledger.verify()["ok"]


@pytest.mark.django_db
def test_a_transfer_reversed_after_it_was_paid_returns_the_money(client, stripe_connect):
    maya = creator_with("stripe")
    payout = approved_run().payouts.get()
    payouts.payouts_poll()  # no webhook: the poll asks Stripe
    payout.refresh_from_db()
    assert payout.status == S.PAID
    stripe_connect.reverse(payout.provider_ref)
    body, headers = stripe_connect.payout_events[-1]
    assert json.loads(body)["type"] == "transfer.reversed"
    assert deliver(client, "stripe", body, headers).json()["outcome"].startswith("Failed")
    payout.refresh_from_db()
    assert payout.status == S.FAILED and "reversed" in payout.failure_reason
    assert balances(maya)[Kind.PAID] == 0 and balances(maya)[Kind.AVAILABLE] == 4321
    assert ledger.verify()["ok"]


@pytest.mark.django_db
def test_a_paypal_payout_speaks_oauth_and_the_payouts_api_and_is_confirmed_by_webhook(
    client, paypal
):
    maya = creator_with("paypal", amount=1500, currency="JPY")
    payout = approved_run("JPY").payouts.get()
    (token,) = paypal.requests_to(r"^/v1/oauth2/token$", "POST")
    assert token.headers["authorization"].startswith("Basic ")
    assert token.form() == {"grant_type": "client_credentials"}
    (request,) = paypal.requests_to(r"^/v1/payments/payouts$", "POST")
    body = request.json()
    assert body["sender_batch_header"]["sender_batch_id"] == payout.key
    assert request.headers["paypal-request-id"] == payout.key
    (item,) = body["items"]
    assert item["amount"] == {"value": "1500", "currency": "JPY"}  # yen: no decimals
    assert (item["receiver"], item["recipient_type"]) == ("maya@example.com", "EMAIL")
    assert item["sender_item_id"] == payout.key
    payout.refresh_from_db()
    assert payout.status == S.SENT and payout.provider_batch

    (event,) = paypal.process(payout.provider_batch)
    _, headers = paypal.events[-1]
    answer = deliver(client, "paypal", event, headers)
    assert answer.status_code == 200, answer.content
    assert answer.json()["outcome"] == "Paid."
    assert paypal.requests_to(r"^/v1/notifications/verify-webhook-signature$", "POST")
    payout.refresh_from_db()
    assert payout.status == S.PAID and payout.provider_ref
    assert balances(maya, "JPY")[Kind.PAID] == 1500
    forged = json.loads(event)
    forged["id"] = "WH-FORGED"
    assert deliver(client, "paypal", json.dumps(forged).encode(), headers).status_code == 401


@pytest.mark.django_db
def test_a_paypal_item_that_fails_returns_the_money_with_paypals_reason(client, paypal):
    maya = creator_with("paypal", amount=12345, currency="KWD")
    paypal.failing_receivers.add("maya@example.com")
    payout = approved_run("KWD").payouts.get()
    (request,) = paypal.requests_to(r"^/v1/payments/payouts$", "POST")
    assert request.json()["items"][0]["amount"]["value"] == "12.345"  # three decimals
    payout.refresh_from_db()
    paypal.process(payout.provider_batch)
    body, headers = paypal.events[-1]
    assert deliver(client, "paypal", body, headers).json()["outcome"] == "Failed."
    payout.refresh_from_db()
    assert payout.status == S.FAILED and "Receiver is unregistered" in payout.failure_reason
    assert balances(maya, "KWD")[Kind.AVAILABLE] == 12345


@pytest.mark.django_db
def test_paypal_is_polled_when_no_webhook_comes(paypal):
    creator_with("paypal")
    payout = approved_run().payouts.get()
    payout.refresh_from_db()
    assert payouts.payout_poll(payout_id=payout.pk) == "pending"
    paypal.process(payout.provider_batch)  # PayPal pays; the webhook is lost
    assert payouts.payouts_poll() == 1
    payout.refresh_from_db()
    assert payout.status == S.PAID


@pytest.mark.django_db
def test_paypal_tokens_are_fetched_again_and_a_batch_sent_twice_is_found_again(paypal):
    header = payout_clients.paypal_payout_create(
        sender_batch_id="batch-1", receiver="a@example.com", recipient_type="EMAIL",
        amount=999, currency="USD", note="n",
    )  # fmt: skip
    assert len(paypal.requests_to(r"^/v1/oauth2/token$")) == 1
    paypal.expire_tokens()  # PayPal ended the token early
    paypal.by_request_id.clear()  # and the request id is forgotten: only the batch id is left
    again = payout_clients.paypal_payout_create(
        sender_batch_id="batch-1", receiver="a@example.com", recipient_type="EMAIL",
        amount=999, currency="USD", note="n",
    )  # fmt: skip
    assert again["payout_batch_id"] == header["payout_batch_id"]  # not paid twice
    assert len(paypal.batches) == 1
    assert len(paypal.requests_to(r"^/v1/oauth2/token$")) == 2
    errors = [r for r in paypal.requests_to(r"^/v1/payments/payouts$")]
    assert len(errors) == 3  # sent, 401 with the old token, 400 duplicate with a link
    with pytest.raises(payout_clients.ProviderRefused, match="VALIDATION_ERROR"):
        payout_clients.paypal_payout_create(
            sender_batch_id="batch-2", receiver="not-an-email", recipient_type="EMAIL",
            amount=999, currency="USD", note="n",
        )  # fmt: skip


@pytest.mark.django_db
def test_paypal_rate_limits_are_retried_later(paypal):
    creator_with("paypal")
    paypal.fail_next(1, status=429, body={"name": "RATE_LIMIT_REACHED", "message": "slow"},
                     headers={"Retry-After": "0"}, path="^/v1/payments/payouts$")  # fmt: skip
    payout = approved_run().payouts.get()
    payout.refresh_from_db()
    assert payout.status == S.SENT and len(paypal.batches) == 1


def _in_threads(n, work):
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=10)
            return work(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.mark.django_db(transaction=True)
def test_two_confirmations_at_once_post_once(stripe_connect, merchant_roles):
    maya = creator_with("stripe")
    payout = approved_run().payouts.get()
    sources = ["webhook", "poll", "webhook", "poll"]
    results = _in_threads(4, lambda i: payouts.payout_confirm(
        payout_id=payout.pk, source=sources[i], provider_ref="tr_x")[1])  # fmt: skip
    assert sorted(results) == [False, False, False, True]
    assert LedgerTransaction.objects.filter(idempotency_key=f"payout:{payout.pk}:paid").count() == 1
    assert balances(maya)[Kind.PAID] == 4321
    assert ledger.verify()["ok"]


@pytest.mark.django_db(transaction=True)
def test_the_same_webhook_delivered_twice_at_once_applies_once(stripe_connect, merchant_roles):
    maya = creator_with("stripe")
    approved_run()
    body, headers = stripe_connect.payout_events[0]
    lowered = {k.lower(): v for k, v in headers.items()}
    outcomes = _in_threads(2, lambda i: payouts.payout_notification_receive(
        provider="stripe", body=body, headers=lowered))  # fmt: skip
    assert sorted(o for _, o in outcomes) == ["Already received.", "Paid."]
    assert balances(maya)[Kind.PAID] == 4321
    assert PayoutNotification.objects.count() == 1
    assert ledger.verify()["ok"]


@pytest.mark.django_db
def test_stripes_rate_limit_answers_429_and_the_job_waits_as_it_says(settings):
    """The test server's own rate limit (1 transfer a second): the second and third payouts are
    answered 429 with Retry-After, and their jobs wait for it before trying again."""
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 2
    with stripe_server.Server(
        api_key="sk_test_platform",
        transfer_rate=1,
        accounts={"acct_maya1", "acct_leo1", "acct_ana1"},
    ) as server:
        settings.STRIPE_API_BASE = server.url
        settings.STRIPE_PAYOUTS_API_KEY = "sk_test_platform"
        for handle in ("maya", "leo", "ana"):
            creator_with("stripe", handle=handle, amount=2000)
        run = approved_run()
        throttled = server.transfer_limiter.throttled
    assert throttled >= 1
    assert set(run.payouts.values_list("status", flat=True)) == {S.SENT}
    assert len(server.transfers) == 3
