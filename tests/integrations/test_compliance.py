"""Shopify's mandatory compliance webhooks: verified (HMAC of the raw body), stored first,
answered at once, acted on by a job; a data request's export, a customer's erasure that
leaves amounts and the ledger alone, a shop's erasure 48 hours after uninstall; idempotent.

Deliveries are signed by the Shopify test server and `testservers.webhooks` (from Shopify's
documents), not by Shoploop's code."""

import hashlib
import json
import threading
from datetime import timedelta

import pytest
from django.db import connection as db
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog.models import Product
from core.crypto import keyed_hash
from integrations import compliance, tasks
from integrations.models import (
    ComplianceRequest,
    Connection,
    ExternalProduct,
    FieldRule,
    WebhookDelivery,
)
from sales import commissions, ledger
from sales import services as sales_services
from sales.ledger_models import LedgerEntry, LedgerTransaction
from sales.models import Order, OrderEvent
from sales.models import WebhookDelivery as OrderDelivery
from tests.integrations.helpers import SHOP, connect, staff
from tests.links.factories import CreatorFactory
from tests.sales.adapters import ADAPTERS, on_commit
from tests.sales.factories import SalesChannelFactory
from testservers import webhooks

pytestmark = pytest.mark.django_db

URL = "/webhooks/shopify/compliance"
JANE = "Jane.Doe@Example.com"


def post(client, body, headers, *, run_jobs=True):
    def send():
        return client.post(URL, body, content_type="application/json", headers=headers)

    if not run_jobs:
        return send()
    with on_commit():
        return send()


def request_of(server, topic, **fields):
    return server.compliance_webhook(SHOP, topic, **fields)


@pytest.fixture
def orders(client):
    """Jane's orders on Shopify (one refunded in part) and on a Stripe checkout, with a
    creator's commission posted; and Bob's order."""
    shopify = ADAPTERS["shopify"]()
    channel = SalesChannelFactory(provider="shopify", name="Shopify")
    landing = "https://shop.example.com/products/hoodie/?slclid=clk-jane"
    made = [
        shopify.order(channel, "1001", sku="HOOD-M", quantity=2, price="20.00", email=JANE,
                      landing=landing, codes=("MAYA10",)),
        shopify.refund(channel, "1001", "501", amount="20.00", sku="HOOD-M"),
        shopify.order(channel, "1002", sku="CAP-1", email=" jane.doe@example.com"),
        shopify.order(channel, "1003", sku="CAP-1", email="bob@example.com"),
    ]  # fmt: skip
    for delivery in made:
        assert delivery.post(client, channel).status_code == 200
    stripe = ADAPTERS["stripe"]()
    stripe_channel = SalesChannelFactory(provider="stripe", name="Checkout")
    stripe.order(stripe_channel, "pi_jane", email=JANE).post(client, stripe_channel)
    first = Order.objects.get(external_id="1001")
    line = first.lines.get()
    commissions.commission_post(
        key=f"attr:{first.pk}:{line.pk}", order_id=first.pk, line_id=line.pk,
        creator_id=CreatorFactory(handle="maya").pk, base=4000, amount=400, hold_days=30,
        rule={"description": "10%"},
    )  # fmt: skip
    return {
        "shopify": channel,
        "jane": list(Order.objects.filter(customer_email_hash=compliance.email_hash(JANE))),
        "bob": Order.objects.get(external_id="1003"),
    }


# -- verification, storage, answers -----------------------------------------------------------


@pytest.mark.parametrize("topic", ["customers/data_request", "customers/redact", "shop/redact"])
def test_a_request_is_stored_and_answered_before_the_job_acts(client, shopify_server, topic):
    body, headers = request_of(shopify_server, topic, email=JANE, orders=[1001])
    response = post(client, body, headers, run_jobs=False)  # the job waits for the commit
    assert (response.status_code, response.content) == (200, b"received")
    stored = ComplianceRequest.objects.get()
    assert (stored.topic, stored.shop_domain, stored.status) == (topic, SHOP, "received")
    assert stored.shop_id == "954889"
    assert stored.due_at - stored.received_at > timedelta(days=29)
    assert list(stored.events.values_list("action", flat=True)) == ["receive"]
    if topic != "shop/redact":
        assert stored.customer_id == "191167" and stored.order_ids == ["1001"]
        assert stored.email_hash == keyed_hash("customer-email", "jane.doe@example.com")
        # The body names the customer: kept only encrypted, and only until the job acts.
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT payload FROM integrations_compliancerequest WHERE id = %s", [stored.pk]
            )
            raw = cursor.fetchone()[0]
        assert "jane" not in raw.lower() and "555-625" not in raw
        assert json.loads(stored.payload)["customer"]["email"] == JANE


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "no signature", "garbage signature", "body changed", "other shop's secret"],
)
def test_an_unsigned_or_forged_request_is_401_and_stores_nothing(client, shopify_server, tamper):
    body, headers = request_of(shopify_server, "customers/redact", email=JANE)
    if tamper == "wrong secret":
        body, headers = request_of(shopify_server, "customers/redact", secret="not-the-secret")
    elif tamper == "no signature":
        headers.pop("X-Shopify-Hmac-Sha256")
    elif tamper == "garbage signature":
        headers["X-Shopify-Hmac-Sha256"] = "!!not base64"
    elif tamper == "body changed":
        body = body.replace(b"Jane.Doe", b"Mallory1")
    else:
        SalesChannelFactory(provider="shopify", shop_domain="other.myshopify.com")
        body, headers = request_of(shopify_server, "customers/redact",
                                   secret="shpss_test_client_secret_123")  # fmt: skip
    response = post(client, body, headers)
    assert response.status_code == 401
    assert not ComplianceRequest.objects.exists()


def test_the_shops_sales_channel_secret_signs_when_the_app_secret_is_not_set(
    client, shopify_server, settings
):
    settings.SHOPIFY_API_SECRET = ""
    channel = SalesChannelFactory(provider="shopify", shop_domain=SHOP, secret="shop-secret-1")
    body, headers = request_of(shopify_server, "shop/redact", secret=channel.secret)
    assert post(client, body, headers).status_code == 200
    body, headers = request_of(shopify_server, "shop/redact")  # the unset app secret's
    assert post(client, body, headers).status_code == 401


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ("not json", 400),
        ("another shop in the body", 400),
        ("unknown topic", 400),
        ("no customer", 400),
        ("no webhook id", 400),
    ],
)
def test_a_body_that_is_not_a_request_of_its_topic_is_400(client, shopify_server, change, status):
    payload = {"shop_id": 1, "shop_domain": SHOP, "customer": {"id": 1, "email": JANE},
               "orders_to_redact": []}  # fmt: skip
    topic, webhook_id = "customers/redact", "w-1"
    if change == "not json":
        payload = b"{not json"
    elif change == "another shop in the body":
        payload["shop_domain"] = "other.myshopify.com"
    elif change == "unknown topic":
        topic = "orders/create"
    elif change == "no customer":
        payload.pop("customer")
    body = webhooks.body_of(payload)
    headers = webhooks.shopify_headers(secret=shopify_server.api_secret, body=body, topic=topic,
                                       shop_domain=SHOP, webhook_id=webhook_id)  # fmt: skip
    if change == "no webhook id":
        headers.pop("X-Shopify-Webhook-Id")
    assert post(client, body, headers).status_code == status
    assert not ComplianceRequest.objects.exists()


def test_a_redelivery_is_acknowledged_and_changes_nothing(client, shopify_server):
    body, headers = request_of(shopify_server, "customers/redact", webhook_id="same-id")
    assert post(client, body, headers).status_code == 200
    again = post(client, body, headers)
    assert (again.status_code, again.content) == (200, b"already received")
    assert ComplianceRequest.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_identical_deliveries_at_once_make_one_request(shopify_server):
    body, headers = request_of(shopify_server, "customers/data_request", webhook_id="dup-1")
    workers = 20
    barrier = threading.Barrier(workers)
    statuses, errors = [], []

    def deliver():
        try:
            barrier.wait(timeout=10)
            outcome = compliance.compliance_request_receive(
                shop=SHOP, topic="customers/data_request", webhook_id="dup-1", body=body,
                hmac_header=headers["X-Shopify-Hmac-Sha256"],
            )  # fmt: skip
            statuses.append(outcome.status)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and statuses == [200] * workers
    assert ComplianceRequest.objects.count() == 1
    assert ComplianceRequest.objects.get().status == "ready"  # acted on once


# -- customers/data_request ------------------------------------------------------------------


def test_a_data_request_exports_what_is_held_and_is_done_once_downloaded(
    client, owner_client, shopify_server, orders
):
    body, headers = request_of(shopify_server, "customers/data_request",
                               email="jane.doe@EXAMPLE.com", orders=[1001],
                               data_request_id=4242)  # fmt: skip
    assert post(client, body, headers).status_code == 200
    request = ComplianceRequest.objects.get()
    assert request.status == "ready" and request.payload == ""
    assert request.summary == {"orders": 3, "deliveries": 4}  # 2 orders, a refund, a payment
    exported = json.loads(request.export.read())
    assert exported["request"]["shopify_data_request_id"] == "4242"
    by_id = {o["external_id"]: o for o in exported["orders"]}
    assert set(by_id) == {"1001", "1002", "pi_jane"}  # Bob's order is not Jane's
    first = by_id["1001"]
    assert first["total"] == "40.0000" and first["lines"][0]["sku"] == "HOOD-M"
    assert first["refunds"][0]["total"] == "20.0000"
    assert first["landing_url"].endswith("slclid=clk-jane")
    assert first["attribution"] == {"click_id": "clk-jane", "visitor_click_id": "",
                                    "credited_creators": ["maya"]}  # fmt: skip
    assert {d["provider"] for d in exported["deliveries"]} == {"shopify", "stripe"}
    assert any(d["body"].get("email") == JANE for d in exported["deliveries"])
    assert "bob@example.com" not in json.dumps(exported)

    # Finance may not download it; the Owner may, which makes the request done (audited).
    finance = Client()
    finance.force_login(staff("Finance", "fin"))
    url = reverse("admin:integrations_compliancerequest_export", args=[request.pk])
    assert finance.get(url).status_code == 403
    response = owner_client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert json.loads(b"".join(response.streaming_content)) == exported
    request.refresh_from_db()
    assert request.status == "done"
    assert owner_client.get(url).status_code == 200  # again: audited, still done
    events = list(request.events.values_list("action", "to_status", "actor__username"))
    assert events == [("receive", "received", None), ("export", "ready", None),
                      ("deliver", "done", "olivia"), ("download", "done", "olivia")]  # fmt: skip


def test_a_data_request_for_a_customer_shoploop_never_saw_exports_nothing(client, shopify_server):
    body, headers = request_of(shopify_server, "customers/data_request", email="nobody@example.com")
    post(client, body, headers)
    request = ComplianceRequest.objects.get()
    assert request.status == "ready"
    assert json.loads(request.export.read())["orders"] == []


# -- customers/redact --------------------------------------------------------------------------


def ledger_rows() -> str:
    rows = list(LedgerEntry.objects.order_by("pk").values()) + list(
        LedgerTransaction.objects.order_by("pk").values()
    )
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_a_customer_redact_erases_their_data_and_leaves_amounts_and_the_ledger(
    client, owner_client, shopify_server, orders
):
    jane, bob = orders["jane"], orders["bob"]
    amounts = {o.pk: (o.total, o.subtotal, o.status, o.click_id) for o in jane}
    ledger_before = ledger_rows()
    assert ledger.verify()["ok"]
    # A delivery that failed (an unknown currency) but carried Jane's email, unlinked.
    bad = ADAPTERS["shopify"]().order(orders["shopify"], "1009", email=JANE, currency="XXX")
    bad.post(client, orders["shopify"])
    failed = OrderDelivery.objects.get(status="failed")
    assert failed.order_id is None and b"Jane.Doe" in bytes(failed.body)

    body, headers = request_of(shopify_server, "customers/redact", email=JANE, orders=[1001, 1002])
    assert post(client, body, headers).status_code == 200

    request = ComplianceRequest.objects.get()
    assert request.status == "done" and request.payload == ""
    assert request.summary["orders"] == 3 and request.summary["deliveries_erased"] == 5
    for order in Order.objects.filter(pk__in=amounts):
        assert (order.total, order.subtotal, order.status, order.click_id) == amounts[order.pk]
        assert order.customer_email_hash == "" and order.landing_url == ""
        assert order.referring_site == "" and order.country == ""
        assert order.payment_fingerprint_hash == "" and order.redacted_at is not None
        assert order.events.filter(action="redact").count() == 1
    assert Order.objects.get(external_id="1001").refunds.get().reason == ""
    # Every stored body that carried Jane's data is erased; Bob's are not.
    for delivery in OrderDelivery.objects.filter(order__in=amounts):
        assert bytes(delivery.body) == b"" and delivery.erased_at is not None
    failed.refresh_from_db()
    assert bytes(failed.body) == b"" and failed.erased_at is not None
    bob.refresh_from_db()
    assert bob.customer_email_hash and bob.redacted_at is None
    assert bytes(bob.deliveries.get().body) != b""
    # The ledger is balanced and not one of its rows changed.
    assert ledger.verify()["ok"] and ledger_rows() == ledger_before
    # An erased delivery cannot be replayed (it has nothing left to replay).
    with pytest.raises(Exception, match="erased"):
        sales_services.delivery_replay(delivery_id=failed.pk)
    # The console says why the body is gone.
    page = owner_client.get(reverse("admin:sales_webhookdelivery_change", args=[failed.pk]))
    assert b"held a customer" in page.content


def test_a_late_update_never_brings_a_redacted_customer_back(client, shopify_server, orders):
    body, headers = request_of(shopify_server, "customers/redact", email=JANE, orders=[1002])
    post(client, body, headers)
    channel = orders["shopify"]
    later = ADAPTERS["shopify"]().order(
        channel, "1002", sku="CAP-1", email=JANE, status="fulfilled",
        landing="https://shop.example.com/?slclid=clk-jane",
        updated=int(timezone.now().timestamp()) + 60,
    )  # fmt: skip
    assert later.post(client, channel).status_code == 200
    order = Order.objects.get(external_id="1002")
    assert order.status == "fulfilled"  # the update applied...
    assert order.customer_email_hash == "" and order.landing_url == ""  # ...not the customer
    assert order.country == "" and order.referring_site == ""
    newest = order.deliveries.order_by("-pk").first()
    assert newest.status == "processed" and bytes(newest.body) == b""
    assert newest.erased_at is not None


def test_the_same_redaction_again_changes_nothing(client, shopify_server, orders):
    body, headers = request_of(shopify_server, "customers/redact", email=JANE, orders=[1001, 1002])
    post(client, body, headers)
    events = OrderEvent.objects.count()
    body, headers = request_of(shopify_server, "customers/redact", email=JANE, orders=[1001, 1002])
    post(client, body, headers)  # a new delivery of the same request
    second = ComplianceRequest.objects.order_by("-pk").first()
    assert second.status == "done"
    assert second.summary["orders_changed"] == 0 and second.summary["deliveries_erased"] == 0
    assert OrderEvent.objects.count() == events


# -- shop/redact --------------------------------------------------------------------------------


@pytest.fixture
def shop(owner_client, shopify_server, django_capture_on_commit_callbacks):
    shopify_server.add_product(SHOP, title="Cap", variants=[{"sku": "CAP-1", "price": "12.00"}])
    with django_capture_on_commit_callbacks(execute=True):
        return connect(owner_client, "shopify", shop=SHOP)


def test_an_uninstall_disconnects_then_shop_redact_erases_the_connection_data(
    client, shop, shopify_server
):
    assert ("APP_UNINSTALLED", "https://shop.example.com/webhooks/shopify/catalog") in (
        shopify_server.subscriptions(SHOP)
    )
    assert ExternalProduct.objects.filter(connection=shop).count() == 1
    # Shopify: the merchant uninstalled the app. The tokens are dead: disconnected at once.
    sent = shopify_server.webhook_requests(SHOP, "app/uninstalled", {"id": 1, "domain": SHOP})
    for _url, body, headers in sent:
        with on_commit():
            assert client.post("/webhooks/shopify/catalog", body, content_type="application/json",
                               headers=headers).status_code == 200  # fmt: skip
    shop.refresh_from_db()
    assert shop.status == "disconnected" and shop.access_token == ""
    assert shop.events.order_by("-pk").first().reason == "Shopify: the app was uninstalled."

    # 48 hours later Shopify asks for the shop's data to be erased.
    body, headers = request_of(shopify_server, "shop/redact")
    assert post(client, body, headers).status_code == 200
    request = ComplianceRequest.objects.get()
    assert request.status == "done" and request.connection == shop
    assert request.summary == {"connections": 1, "mappings": 2, "webhooks": 1}
    shop.refresh_from_db()
    assert (shop.settings, shop.scopes, shop.account_name, shop.app_secret) == ({}, [], "", "")
    assert not ExternalProduct.objects.filter(connection=shop).exists()
    assert not FieldRule.objects.filter(connection=shop).exists()
    assert not WebhookDelivery.objects.filter(connection=shop).exists()
    assert list(shop.events.values_list("action", flat=True))[-2:] == ["disconnect", "erase"]
    assert Product.objects.filter(title="Cap").exists()  # the merchant's catalog stays


def test_shop_redact_without_the_uninstall_webhook_still_disconnects(client, shop, shopify_server):
    body, headers = request_of(shopify_server, "shop/redact")
    post(client, body, headers)
    shop.refresh_from_db()
    assert shop.status == "disconnected" and shop.access_token == "" and shop.settings == {}
    assert not Connection.objects.filter(status="active").exists()


# -- the job: once, failures shown, retried from the console; the sweep ------------------------


def test_the_job_acts_once_and_a_second_run_changes_nothing(client, shopify_server, orders):
    body, headers = request_of(shopify_server, "customers/redact", email=JANE)
    post(client, body, headers)
    request = ComplianceRequest.objects.get()
    events = request.events.count()
    assert tasks.compliance_process(request.pk) == "done"
    assert request.events.count() == events


def test_a_job_that_cannot_write_the_export_fails_with_the_reason_and_is_retried(
    client, owner_client, shopify_server, settings, tmp_path
):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    settings.PRIVATE_MEDIA_ROOT = blocked  # storage cannot create compliance/ under a file
    body, headers = request_of(shopify_server, "customers/data_request", email=JANE)
    post(client, body, headers)
    request = ComplianceRequest.objects.get()
    assert request.status == "failed" and request.attempts == 3  # the try and 2 inline retries
    assert "Gave up after 3 attempts" in request.error
    assert request.payload  # kept (encrypted) until the request is acted on
    changelist = owner_client.get(reverse("admin:integrations_compliancerequest_changelist"))
    assert b"Gave up after 3 attempts" in changelist.content
    assert b"/webhooks/shopify/compliance" in changelist.content

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    with on_commit():
        response = owner_client.post(
            reverse("admin:integrations_compliancerequest_changelist"),
            {"action": "process_again", "_selected_action": [request.pk]},
        )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "ready" and request.error == ""
    assert [e for e in request.events.values_list("action", flat=True)] == [
        "receive",
        "fail",
        "retry",
        "export",
    ]


def test_the_sweep_queues_lost_requests_and_deletes_old_exports(client, shopify_server, settings):
    body, headers = request_of(shopify_server, "customers/data_request", email=JANE)
    post(client, body, headers, run_jobs=False)  # the message was lost
    lost = ComplianceRequest.objects.get()
    ComplianceRequest.objects.filter(pk=lost.pk).update(
        received_at=timezone.now() - timedelta(minutes=30)
    )
    assert tasks.compliance_sweep() == 1
    lost.refresh_from_db()
    assert lost.status == "ready" and lost.export
    name = lost.export.name
    assert lost.export.storage.exists(name)
    # Past the retention the file goes (audited); the request and its history stay.
    ComplianceRequest.objects.filter(pk=lost.pk).update(
        processed_at=timezone.now() - timedelta(days=settings.SHOPIFY_COMPLIANCE_EXPORT_DAYS + 1)
    )
    assert tasks.compliance_sweep() == 1
    lost.refresh_from_db()
    assert not lost.export and lost.export_deleted_at is not None
    assert not lost.export.storage.exists(name)
    assert lost.events.order_by("-pk").first().action == "delete_export"
    assert tasks.compliance_sweep() == 0


def test_the_console_list_has_a_fixed_number_of_queries(
    owner_client, shopify_server, django_assert_num_queries, client
):
    for n in range(3):
        body, headers = request_of(shopify_server, "customers/redact", webhook_id=f"q-{n}")
        post(client, body, headers, run_jobs=False)
    url = reverse("admin:integrations_compliancerequest_changelist")
    owner_client.get(url)  # warm the session and content types
    with django_assert_num_queries(7):
        assert owner_client.get(url).status_code == 200
    for n in range(3, 13):
        body, headers = request_of(shopify_server, "customers/redact", webhook_id=f"q-{n}")
        post(client, body, headers, run_jobs=False)
    with django_assert_num_queries(7):
        assert owner_client.get(url).status_code == 200


def test_a_request_page_shows_its_history(client, owner_client, shopify_server):
    body, headers = request_of(shopify_server, "customers/redact", email=JANE)
    post(client, body, headers)
    request = ComplianceRequest.objects.get()
    page = owner_client.get(reverse("admin:integrations_compliancerequest_change",
                                    args=[request.pk]))  # fmt: skip
    assert page.status_code == 200
    assert b"Customer data erasure" in page.content and b"Customer data erased" in page.content
