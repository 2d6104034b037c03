"""Reconciliation against what the providers say: each provider's columns read from a sample
file written from its documentation, matching to orders, refunds and payouts, the report of
both sides, resolutions with who and why, and re-imports that change nothing."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import ApplicationError
from sales import ledger, reconciliation, selectors
from sales.models import Order, Payout, ProviderTransaction, Refund
from sales.reconciliation_formats import parse
from tests.links.factories import CreatorFactory
from tests.sales.factories import SalesChannelFactory
from tests.sales.ledger_helpers import Kind, available, balances, earn, give_details, paid_order
from tests.sales.ledger_helpers import staff as staff_user

pytestmark = pytest.mark.django_db
SAMPLES = Path(__file__).parent / "samples"
T = ProviderTransaction.Status


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def test_each_providers_columns_read_their_sample():
    lines = parse("stripe", sample("stripe_balance_change_itemized.csv"), max_rows=100)
    stripe = {x.external_id: x for x in lines}
    charge = stripe["txn_3Qa1SampleCharge0001"]
    assert (charge.kind, charge.amount, charge.fee, charge.net, charge.currency) == (
        "charge",
        Decimal("59.00"),
        Decimal("2.01"),
        Decimal("56.99"),
        "USD",
    )
    assert charge.order_ref == "pi_3Qa1SampleOrderA" and charge.occurred_at == at(2, 10).replace(
        minute=15
    )
    refund = stripe["txn_3Qa1SampleRefund0001"]
    assert (refund.kind, refund.amount, refund.refund_ref) == (
        "refund",
        Decimal("-10.00"),
        "re_3Qa1SampleRefundA1",
    )
    transfer = stripe["txn_3Qa1SampleTransfer001"]
    assert (transfer.kind, transfer.transfer_ref) == ("transfer", "tr_3Qa1SampleTransfer1")
    assert stripe["txn_3Qa1SamplePayout00001"].kind == "bank_payout"
    assert stripe["txn_3Qa1SampleFee00000001"].kind == "fee"

    shopify = parse("shopify_payments", sample("shopify_payments_transactions.csv"), max_rows=100)
    assert [x.kind for x in shopify] == ["charge", "refund", "charge", "refund", "adjustment",
                                         "bank_payout"]  # fmt: skip
    assert shopify[1].order_ref == "#1001" and shopify[1].amount == Decimal("-20.00")
    assert len({x.external_id for x in shopify}) == 6  # a stable id per line

    tiktok = parse("tiktok_shop", sample("tiktok_shop_settlement.csv"), max_rows=100)
    assert [(x.kind, x.order_ref, x.amount, x.net) for x in tiktok[:3]] == [
        ("charge", "576786105183930101", Decimal("45.00"), Decimal("40.41")),
        ("charge", "576786105183930102", Decimal("20.00"), Decimal("17.96")),
        ("refund", "576786105183930101", Decimal("-10.00"), Decimal("-9.00")),
    ]
    assert tiktok[3].kind == "adjustment"


@pytest.mark.parametrize(("content", "message"), [
    (b"id,amount\n1,2\n", "lacks the column(s) balance_transaction_id"),
    (sample("stripe_balance_change_itemized.csv").replace(b",59.00,2.01", b",fifty,2.01", 1),
     "Line 2, gross: 'fifty' is not an amount"),
    (sample("stripe_balance_change_itemized.csv").replace(b",usd,20.00", b",zzz,20.00", 1),
     "Line 3, currency: 'zzz' is not an ISO 4217 currency"),
    (b"\xff\xfe\x00", "not UTF-8"),
])  # fmt: skip
def test_a_bad_file_is_refused_whole_naming_the_line_and_column(content, message):
    channel = SalesChannelFactory(provider="stripe")
    with pytest.raises(ApplicationError, match=re.escape(message)):
        reconciliation.reconciliation_import(channel_id=channel.pk, source="stripe",
                                             filename="x.csv", content=content)  # fmt: skip
    assert not ProviderTransaction.objects.exists()


def test_a_file_belongs_to_a_channel_of_its_provider():
    shop = SalesChannelFactory(provider="shopify")
    with pytest.raises(ApplicationError) as exc:
        reconciliation.reconciliation_import(
            channel_id=shop.pk,
            source="stripe",
            filename="x",
            content=sample("stripe_balance_change_itemized.csv"),
        )
    assert "source" in exc.value.fields


@pytest.fixture
def stripe_shop(settings):
    """A Stripe channel with what Shoploop holds for the sample statement's period."""
    settings.PAYOUT_MINIMUM = "10"
    channel = SalesChannelFactory(provider="stripe")
    maya = CreatorFactory(handle="maya")
    order_a = paid_order([("HOOD", 1, "59.00")], channel=channel, external_id="pi_3Qa1SampleOrderA",
                         paid_at=at(2))  # fmt: skip
    commission = earn(order_a, maya, "HOOD", 590, hold_days=30)
    Refund.objects.create(order=order_a, channel=channel, external_id="re_3Qa1SampleRefundA1",
                          currency="USD", total=Decimal("10.00"), refunded_at=at(5))  # fmt: skip
    paid_order([("SERUM", 1, "25.00")], channel=channel, external_id="pi_3Qa1SampleOrderB",
               paid_at=at(3))  # fmt: skip
    paid_order([("TOTE", 1, "30.00")], channel=channel, external_id="pi_3Qa1SampleOrderC",
               paid_at=at(11))  # fmt: skip
    quiet = paid_order([("GRIP", 1, "12.00")], channel=channel, external_id="pi_3Qa1NotInFile",
                       paid_at=at(6))  # fmt: skip
    leo = CreatorFactory(handle="leo")
    give_details(leo, method="stripe")
    available(leo, 4321)
    from sales import payouts

    run = payouts.payout_run_create(currency="USD")
    Payout.objects.filter(run=run).update(status="sent", provider_ref="tr_3Qa1SampleTransfer1",
                                          sent_at=at(7))  # fmt: skip
    return {"channel": channel, "order_a": order_a, "commission": commission, "quiet": quiet,
            "payout": run.payouts.get()}  # fmt: skip


def test_a_stripe_statement_is_matched_both_ways(stripe_shop):
    channel = stripe_shop["channel"]
    made, created = reconciliation.reconciliation_import(
        channel_id=channel.pk, source="stripe", filename="balance.csv",
        content=sample("stripe_balance_change_itemized.csv"),
    )  # fmt: skip
    assert created and (made.rows, made.new_rows) == (10, 10)
    status = dict(ProviderTransaction.objects.values_list("external_id", "status"))
    assert status == {
        "txn_3Qa1SampleCharge0001": T.MATCHED,
        "txn_3Qa1SampleCharge0002": T.AMOUNT_MISMATCH,  # 20.00 charged, the order is 25.00
        "txn_3Qa1SampleCharge0003": T.MISSING,  # an order Shoploop never got
        "txn_3Qa1SampleRefund0001": T.MATCHED,
        "txn_3Qa1SampleRefund0002": T.MISSING,  # a refund no webhook brought
        "txn_3Qa1SampleTransfer001": T.MATCHED,  # the creator's payout
        "txn_3Qa1SampleCharge0004": T.DUPLICATE,  # the same order charged twice
        "txn_3Qa1SampleFee00000001": T.NOT_APPLICABLE,
        "txn_3Qa1SamplePayout00001": T.NOT_APPLICABLE,
        "txn_3Qa1SampleCharge0005": T.CURRENCY_MISMATCH,  # EUR on a USD order
    }
    report = selectors.reconciliation_report(channel.pk)
    assert [o.external_id for o in report["orders_missing"]] == ["pi_3Qa1NotInFile"]
    assert report["matched"] == 3 and len(report["duplicates"]) == 1
    assert "25.00" in report["amount_mismatches"][0].problem
    # Importing the same file again changes nothing.
    before = list(ProviderTransaction.objects.order_by("pk").values())
    again, created = reconciliation.reconciliation_import(
        channel_id=channel.pk, source="stripe", filename="again.csv",
        content=sample("stripe_balance_change_itemized.csv"),
    )  # fmt: skip
    assert not created and again.pk == made.pk
    assert list(ProviderTransaction.objects.order_by("pk").values()) == before
    # A later file that overlaps adds only its new lines.
    overlap = sample("stripe_balance_change_itemized.csv") + (
        b"txn_3Qa1SampleCharge0009,2026-11-12 10:00:00,2026-11-12 10:00:00,2026-11-14 00:00:00,"
        b"usd,12.00,0.65,11.35,charge,ch_9,Phone Grip,12.00,usd,ch_9,pi_3Qa1NotInFile\n"
    )
    later, _ = reconciliation.reconciliation_import(
        channel_id=channel.pk, source="stripe", filename="nov.csv", content=overlap
    )
    assert (later.rows, later.new_rows) == (11, 1)
    assert selectors.reconciliation_report(channel.pk)["orders_missing"] == []
    assert (
        ProviderTransaction.objects.get(external_id="txn_3Qa1SampleCharge0001").status == T.MATCHED
    )


def test_resolutions_are_recorded_with_who_and_why_and_the_missing_refund_is_a_real_refund(
    stripe_shop,
):
    channel, finance = stripe_shop["channel"], staff_user("fin", "Finance")
    reconciliation.reconciliation_import(
        channel_id=channel.pk,
        source="stripe",
        filename="b",
        content=sample("stripe_balance_change_itemized.csv"),
    )
    missing_refund = ProviderTransaction.objects.get(external_id="txn_3Qa1SampleRefund0002")
    line = reconciliation.reconciliation_create_refund(transaction_id=missing_refund.pk,
                                                       actor=finance)  # fmt: skip
    assert line.status == T.REFUND_CREATED and line.resolved_by == finance
    refund = Refund.objects.get(external_id="re_3Qa1SampleRefundA2")
    assert refund.total == Decimal("5.00") and line.refund == refund
    order = Order.objects.get(pk=stripe_shop["order_a"].pk)
    assert order.status == "partially_refunded"
    assert order.events.filter(action="refund_recorded", actor=finance).exists()
    commission = stripe_shop["commission"]
    commission.refresh_from_db()
    assert commission.reversed == 50  # 5.00 of the 59.00 line: its share of 5.90, pro rata
    assert balances(commission.creator)[Kind.AVAILABLE] == 540  # its hold was over
    with pytest.raises(ApplicationError) as exc:
        reconciliation.reconciliation_create_refund(transaction_id=missing_refund.pk,
                                                    actor=finance)  # fmt: skip
    assert exc.value.code == "invalid_transition"

    unknown = ProviderTransaction.objects.get(external_id="txn_3Qa1SampleCharge0003")
    with pytest.raises(ApplicationError) as exc:
        reconciliation.reconciliation_ignore(transaction_id=unknown.pk, actor=finance, reason="")
    assert exc.value.code == "reason_required"
    reconciliation.reconciliation_ignore(
        transaction_id=unknown.pk,
        actor=finance,
        reason="A test charge in live mode, refunded on Stripe",
    )
    duplicate = ProviderTransaction.objects.get(external_id="txn_3Qa1SampleCharge0004")
    other = paid_order([("HOOD", 1, "59.00")], channel=channel, external_id="pi_other",
                       paid_at=at(8))  # fmt: skip
    reconciliation.reconciliation_link(
        transaction_id=duplicate.pk,
        actor=finance,
        order_id=other.pk,
        reason="The second hoodie order",
    )
    reconciliation.reconciliation_dismiss(
        channel_id=channel.pk,
        actor=finance,
        order_id=stripe_shop["quiet"].pk,
        reason="Paid by bank transfer, not Stripe",
    )
    report = selectors.reconciliation_report(channel.pk)
    assert report["orders_missing"] == [] and report["duplicates"] == []
    assert {x.status for x in report["resolved"]} == {T.REFUND_CREATED, T.IGNORED, T.LINKED}
    assert report["dismissed"][0].reason == "Paid by bank transfer, not Stripe"
    counts = reconciliation.reconcile(channel_id=channel.pk)  # matching again keeps them
    assert ProviderTransaction.objects.get(pk=duplicate.pk).status == T.LINKED
    assert counts.get(T.MATCHED) == 3
    assert ledger.verify()["ok"]


def test_a_shopify_payments_export_matches_orders_by_name_and_refunds_by_amount():
    channel = SalesChannelFactory(provider="shopify")
    first = paid_order([("A", 1, "59.00")], channel=channel, name="#1001", paid_at=at(2))
    Refund.objects.create(order=first, channel=channel, external_id="rf1", currency="USD",
                          total=Decimal("20.00"), refunded_at=at(3))  # fmt: skip
    paid_order([("B", 1, "30.00")], channel=channel, name="#1002", paid_at=at(4))
    reconciliation.reconciliation_import(
        channel_id=channel.pk,
        source="shopify_payments",
        filename="payouts.csv",
        content=sample("shopify_payments_transactions.csv"),
    )
    statuses = list(ProviderTransaction.objects.order_by("occurred_at", "pk")
                    .values_list("kind", "status"))  # fmt: skip
    assert statuses == [("charge", T.MATCHED), ("refund", T.MATCHED), ("charge", T.MATCHED),
                        ("refund", T.MISSING), ("adjustment", T.NOT_APPLICABLE),
                        ("bank_payout", T.NOT_APPLICABLE)]  # fmt: skip
    line = ProviderTransaction.objects.get(kind="refund", status=T.MISSING)
    assert line.order.name == "#1002"
    reconciliation.reconciliation_create_refund(transaction_id=line.pk,
                                                actor=staff_user("own", "Owner"))  # fmt: skip
    assert Order.objects.get(name="#1002").status == "refunded"


def test_a_tiktok_shop_statement_matches_orders_and_their_refunds():
    channel = SalesChannelFactory(provider="tiktok_shop")
    order = paid_order([("A", 1, "45.00")], channel=channel, external_id="576786105183930101",
                       paid_at=at(1))  # fmt: skip
    Refund.objects.create(order=order, channel=channel, external_id="ret-1", currency="USD",
                          total=Decimal("10.00"), refunded_at=at(10))  # fmt: skip
    paid_order([("B", 1, "21.00")], channel=channel, external_id="576786105183930102",
               paid_at=at(2))  # fmt: skip
    reconciliation.reconciliation_import(
        channel_id=channel.pk,
        source="tiktok_shop",
        filename="statement.csv",
        content=sample("tiktok_shop_settlement.csv"),
    )
    statuses = dict(ProviderTransaction.objects.values_list("external_id", "status"))
    assert statuses == {
        "tiktok:576786105183930101:order": T.MATCHED,
        "tiktok:576786105183930102:order": T.AMOUNT_MISMATCH,
        "tiktok:576786105183930101:refund": T.MATCHED,
        "tiktok:7299301283478601:logistics reimbursement": T.NOT_APPLICABLE,
    }


def test_the_console_imports_reports_and_resolves(client, stripe_shop, query_budget):
    client.force_login(staff_user("fin", "Finance"))
    channel = stripe_shop["channel"]
    upload = SimpleUploadedFile("balance.csv", sample("stripe_balance_change_itemized.csv"),
                                content_type="text/csv")  # fmt: skip
    response = client.post(
        "/admin/sales/reconciliationimport/add/",
        {"channel": channel.pk, "source": "stripe", "file": upload},
    )
    report_url = f"/admin/sales/reconciliationimport/report/{channel.pk}/"
    assert response.status_code == 302 and response.url == report_url
    page = client.get(report_url).content.decode()
    for text in ("Missing in Shoploop (2)", "Amounts that differ (1)", "Currencies that differ (1)",
                 "Duplicates (1)", "Missing at the provider", "pi_3Qa1NotInFile",
                 "Create the missing refund"):  # fmt: skip
        assert text in page, text
    again = client.post("/admin/sales/reconciliationimport/add/", {
        "channel": channel.pk, "source": "stripe",
        "file": SimpleUploadedFile("b.csv", sample("stripe_balance_change_itemized.csv"))},
        follow=True)  # fmt: skip
    assert "nothing changed" in again.content.decode()
    line = ProviderTransaction.objects.get(external_id="txn_3Qa1SampleCharge0003")
    client.post(f"{report_url}resolve/", {"action": "ignore", "line": line.pk,
                                          "reason": "Test charge"})  # fmt: skip
    line.refresh_from_db()
    assert line.status == T.IGNORED and line.note == "Test charge"
    refused = client.post(f"{report_url}resolve/", {"action": "link", "line": line.pk,
                                                    "target": "order", "target_id": "x",
                                                    "reason": "r"}, follow=True)  # fmt: skip
    assert "give its number" in refused.content.decode()
    client.post(f"{report_url}resolve/", {"action": "dismiss", "target": "order",
                                          "target_id": stripe_shop["quiet"].pk,
                                          "reason": "Paid in cash"})  # fmt: skip
    assert (
        "pi_3Qa1NotInFile"
        not in client.get(report_url)
        .content.decode()
        .split("Missing at the provider")[1]
        .split("Resolved")[0]
    )
    assert query_budget(client, "/admin/sales/providertransaction/", lambda: (
        reconciliation.reconciliation_import(
            channel_id=channel.pk, source="stripe", filename="more.csv",
            content=sample("stripe_balance_change_itemized.csv").replace(b"txn_3Qa1", b"txn_9Zz9")),
    )) <= 10  # fmt: skip
    client.force_login(staff_user("mod", "Moderator"))
    assert client.get(report_url).status_code == 403


def test_a_stripe_channel_with_its_key_is_reconciled_from_the_api(client, stripe_shop, settings):
    """Where a connection exists, the same lines come from Stripe's API instead of a file."""
    from testservers import stripe as stripe_server

    channel = stripe_shop["channel"]
    channel.api_key = "sk_test_channel"
    channel.save(update_fields=["api_key"])
    with stripe_server.Server(api_key="sk_test_channel", accounts={"acct_x"}) as server:
        settings.STRIPE_API_BASE = server.url
        created = int(at(2).timestamp())
        server.add_balance_transaction("charge", 5900, "usd", {
            "id": "ch_api_1", "object": "charge", "payment_intent": "pi_3Qa1SampleOrderA"},
            fee=201, created=created)  # fmt: skip
        server.add_balance_transaction("refund", -1000, "usd", {
            "id": "re_3Qa1SampleRefundA1", "object": "refund", "charge": "ch_api_1",
            "payment_intent": "pi_3Qa1SampleOrderA"}, created=created + 60)  # fmt: skip
        for n in range(3):  # more than a page of two
            server.add_balance_transaction("stripe_fee", -50, "usd", {"id": f"fee_{n}"},
                                           created=created + 120 + n)  # fmt: skip
        made, new = reconciliation.reconciliation_fetch_stripe(
            channel_id=channel.pk, start=at(1), end=at(30)
        )
        again, new_again = reconciliation.reconciliation_fetch_stripe(
            channel_id=channel.pk, start=at(1), end=at(30)
        )
        listed = server.requests_to(r"^/v1/balance_transactions$")
        assert listed[0].arg("expand[]") == "data.source" and listed[0].headers[
            "authorization"] == "Bearer sk_test_channel"  # fmt: skip
        client.force_login(staff_user("fin", "Finance"))
        report_url = f"/admin/sales/reconciliationimport/report/{channel.pk}/"
        assert "Fetch" in client.get(report_url).content.decode()
        client.post(f"{report_url}fetch/", {"month": "2026-11"})
    assert new and (made.rows, made.new_rows) == (5, 5)
    assert not new_again and again.pk == made.pk  # the same answer: nothing changes
    status = dict(ProviderTransaction.objects.values_list("external_id", "status"))
    charge = ProviderTransaction.objects.get(order_ref="pi_3Qa1SampleOrderA", kind="charge")
    assert charge.status == T.MATCHED and charge.amount == Decimal("59.00")
    refund = ProviderTransaction.objects.get(kind="refund")
    assert (refund.status, refund.refund_ref) == (T.MATCHED, "re_3Qa1SampleRefundA1")
    assert list(status.values()).count(T.NOT_APPLICABLE) == 3
    with pytest.raises(ApplicationError):
        reconciliation.reconciliation_fetch_stripe(channel_id=SalesChannelFactory().pk,
                                                   start=at(1), end=at(30))  # fmt: skip
