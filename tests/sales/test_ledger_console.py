"""The ledger in the console and the API: only Owner and Finance see it; balances, statements
(HTML, CSV, the creator's signed link), runs with totals per currency, four eyes, the review
of held commissions, adjustments, payout details, the CSV export, manual outcomes, the last
ledger_verify; query budgets on every list."""

import csv
import io

import pytest
import yaml
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from sales import commissions, payouts, selectors
from sales.models import (
    Commission,
    LedgerVerification,
    Payout,
    PayoutDetails,
    PayoutRun,
    PayoutRunEvent,
)
from tests.links.factories import CreatorFactory
from tests.sales.ledger_helpers import (
    Kind,
    approve,
    available,
    balances,
    earn,
    give_details,
    paid_order,
    staff,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def payout_settings(settings):
    settings.PAYOUT_MINIMUM = "10"


def logged_in(client, username, role):
    client.force_login(staff(username, role))
    return client


@pytest.fixture
def finance(client):
    return logged_in(client, "fin", "Finance")


def creators_with_balances(n, start=0):
    made = []
    for i in range(start, start + n):
        creator = CreatorFactory(handle=f"creator-{i}")
        give_details(creator)
        available(creator, 2000 + i)
        available(creator, 1500, currency="EUR")
        made.append(creator)
    return made


@pytest.mark.parametrize("url", [
    "/admin/sales/creatorbalance/", "/admin/sales/payoutrun/", "/admin/sales/payout/",
    "/admin/sales/commission/", "/admin/sales/ledgertransaction/",
    "/admin/sales/ledgeraccount/", "/admin/sales/payoutdetails/",
    "/admin/sales/ledgerverification/",
])  # fmt: skip
@pytest.mark.parametrize(("role", "status"), [
    ("Finance", 200), ("Owner", 200), ("Moderator", 403), ("Catalog manager", 403),
])  # fmt: skip
def test_only_owner_and_finance_see_balances_and_payouts(client, url, role, status):
    logged_in(client, f"u-{role}", role)
    assert client.get(url).status_code == status


def test_the_balances_page_shows_each_creator_and_currency_in_a_fixed_number_of_queries(
    finance, query_budget
):
    creators_with_balances(2)
    count = query_budget(finance, "/admin/sales/creatorbalance/",
                         lambda: creators_with_balances(6, start=2))  # fmt: skip
    assert count <= 10
    html = finance.get("/admin/sales/creatorbalance/").content.decode()
    assert html.count('class="balance-row"') == 16  # 8 creators × 2 currencies
    assert "@creator-7" in html and "€15.00" in html and "$20.07" in html
    assert "Commission payable" in html and "ledger_verify" in html
    only_eur = finance.get("/admin/sales/creatorbalance/", {"currency": "EUR", "q": "creator-1"})
    assert only_eur.content.decode().count('class="balance-row"') == 1


def test_run_lists_have_totals_per_currency_and_fixed_query_counts(finance, query_budget):
    creators_with_balances(2)

    def grow():
        creators_with_balances(3, start=10)
        for currency in ("USD", "EUR"):
            payouts.payout_run_create(currency=currency)

    for currency in ("USD", "EUR"):
        payouts.payout_run_create(currency=currency)
    assert query_budget(finance, "/admin/sales/payoutrun/", grow) <= 12
    html = finance.get("/admin/sales/payoutrun/").content.decode()
    assert html.count('class="currency-total"') == 2
    assert "$100.34" in html  # USD: 2000 + 2001 + 2010 + 2011 + 2012 minor units
    assert query_budget(finance, "/admin/sales/payout/",
                        lambda: creators_with_balances(2, start=20)) <= 10  # fmt: skip
    assert query_budget(finance, "/admin/sales/commission/",
                        lambda: creators_with_balances(2, start=30)) <= 10  # fmt: skip
    assert query_budget(finance, "/admin/sales/ledgertransaction/",
                        lambda: creators_with_balances(2, start=40)) <= 10  # fmt: skip


def test_a_run_is_made_by_one_person_and_approved_by_another_in_the_console(client):
    creators_with_balances(2)
    maker = logged_in(client, "maker", "Finance")
    response = maker.post("/admin/sales/payoutrun/add/", {"currency": "USD", "note": "Dec"})
    run = PayoutRun.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/payoutrun/{run.pk}/change/")
    page = maker.get(response.url).content.decode()
    assert "A run is approved by someone other than the person who made it." in page
    assert "Approve and send" not in page and "@creator-1" in page
    assert maker.post(f"/admin/sales/payoutrun/{run.pk}/approve/").status_code == 302
    run.refresh_from_db()
    assert run.status == "draft"  # refused: the maker
    checker = logged_in(client, "checker", "Owner")
    assert "Approve and send" in checker.get(f"/admin/sales/payoutrun/{run.pk}/change/")\
        .content.decode()  # fmt: skip
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        checker.post(f"/admin/sales/payoutrun/{run.pk}/approve/", {"note": "Looks right"})
    run.refresh_from_db()
    assert run.status == "sending" and run.approved_by.username == "checker"
    page = checker.get(f"/admin/sales/payoutrun/{run.pk}/change/").content.decode()
    assert "Looks right" in page and "audit trail" in page.lower()
    exported = checker.get(f"/admin/sales/payoutrun/{run.pk}/export/")
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert rows[0][:6] == ["payout", "reference", "creator", "name", "method", "account"]
    assert rows[1][5].startswith("FR76") and rows[1][7] == "20.00"
    assert PayoutRunEvent.objects.filter(run=run, action="export", actor__username="checker")
    payout = run.payouts.get(creator__handle="creator-0")
    form = checker.post(f"/admin/sales/payout/{payout.pk}/manual/",
                        {"outcome": "paid", "text": "SEPA-REF-77"})  # fmt: skip
    assert form.status_code == 302
    payout.refresh_from_db()
    assert payout.status == "paid"
    page = checker.get(f"/admin/sales/payout/{payout.pk}/change/").content.decode()
    assert "SEPA-REF-77" in page and "commissions this payout covers" in page.lower()


def test_nobody_to_pay_and_cancelling_with_a_reason(client):
    finance = logged_in(client, "fin", "Finance")
    response = finance.post("/admin/sales/payoutrun/add/", {"currency": "JPY"}, follow=True)
    assert "no run was made" in response.content.decode()
    creators_with_balances(1)
    run = payouts.payout_run_create(currency="USD")
    finance.post(f"/admin/sales/payoutrun/{run.pk}/cancel/", {"reason": "Wrong period"})
    run.refresh_from_db()
    assert run.status == "cancelled" and run.events.get(action="cancel").reason == "Wrong period"


def test_held_commissions_are_reviewed_in_the_console_with_who_and_why(finance):
    maya = CreatorFactory(handle="maya")
    order = paid_order([("A", 1, "10.00"), ("B", 1, "10.00")])
    cut = earn(order, maya, "A", 1000, review="Code leaked on a coupon site")
    kept = earn(order, maya, "B", 1000, review="Click spike")
    page = finance.get(f"/admin/sales/commission/{cut.pk}/review/").content.decode()
    assert "Code leaked on a coupon site" in page
    bad = finance.post(
        f"/admin/sales/commission/{cut.pk}/review/",
        {"decision": "reduce", "new_amount": "20.00", "reason": "too much"},
    )
    assert "below" in bad.content.decode()  # the service's rule, shown on the form
    finance.post(
        f"/admin/sales/commission/{cut.pk}/review/",
        {"decision": "reduce", "new_amount": "4.00", "reason": "Half was the coupon"},
    )
    finance.post("/admin/sales/commission/", {"action": "release_holds",
                                              "_selected_action": [kept.pk]})  # fmt: skip
    cut.refresh_from_db()
    kept.refresh_from_db()
    assert cut.net == 400 and kept.status == Commission.Status.AVAILABLE
    assert cut.events.filter(actor__username="fin", reason="Half was the coupon").exists()
    assert kept.events.filter(action="approve", actor__username="fin").exists()


def test_adjustments_details_and_verify_from_the_console(finance):
    maya = CreatorFactory(handle="maya")
    response = finance.post(
        "/admin/sales/creatorbalance/adjust/",
        {"creator": maya.pk, "currency": "USD", "amount": "12.50", "reason": "Launch bonus"},
    )
    assert response.status_code == 302
    assert balances(maya)[Kind.AVAILABLE] == 1250
    refused = finance.post(
        "/admin/sales/creatorbalance/adjust/",
        {"creator": maya.pk, "currency": "JPY", "amount": "12.50", "reason": "x"},
    )
    assert "fewer decimal places" in refused.content.decode()
    added = finance.post("/admin/sales/payoutdetails/add/", {
        "creator": maya.pk, "method": "stripe", "account": "not-acct", "country": "FR",
        "tax_form_received": "on"})  # fmt: skip
    assert "A Stripe connected account id" in added.content.decode()
    assert not PayoutDetails.objects.exists()
    finance.post("/admin/sales/payoutdetails/add/", {
        "creator": maya.pk, "method": "stripe", "account": "acct_maya42", "country": "fr",
        "tax_form_received": "on"})  # fmt: skip
    details = PayoutDetails.objects.get()
    assert details.complete and details.data["country"] == "FR"
    with connection.cursor() as cursor:
        cursor.execute("SELECT details FROM sales_payoutdetails")
        assert "acct_maya42" not in cursor.fetchone()[0]
    listing = finance.get("/admin/sales/payoutdetails/").content.decode()
    assert "acc…a42" in listing and "acct_maya42" not in listing
    finance.post("/admin/sales/creatorbalance/verify/")
    assert LedgerVerification.objects.get().ok
    assert "every check passed" in finance.get("/admin/sales/creatorbalance/").content.decode()


def test_statements_in_html_and_csv_and_the_creators_signed_link(finance, client):
    maya = CreatorFactory(handle="maya")
    commission = available(maya, 2500)
    refund_order = commission.order
    from tests.sales.test_payouts import refund_line

    refund_line(refund_order, "re_1", "SKU", "20.00")  # 500 back
    month = timezone.now().strftime("%Y-%m")
    page = finance.get(f"/admin/sales/creatorbalance/statement/{maya.pk}/USD/",
                       {"month": month}).content.decode()  # fmt: skip
    assert "Commission earned" in page and "Commission reversed" in page
    assert "$25.00" in page and "$20.00" in page  # earned; payable at the end
    download = finance.get(f"/admin/sales/creatorbalance/statement/{maya.pk}/USD/",
                           {"month": month, "format": "csv"})  # fmt: skip
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert rows[0][-5:] == ["pending", "available", "in_payout", "paid", "receivable"]
    assert rows[1][2] == "Opening balance" and rows[-1][2] == "Closing balance"
    assert rows[-1][-4] == "20.00"  # available at the end
    assert "Hold ended: now available" in [r[2] for r in rows]
    link = selectors.statement_link(creator_id=maya.pk, currency="USD",
                                    month=timezone.now())  # fmt: skip
    path = link.removeprefix("https://shop.example.com")
    client.logout()
    public = client.get(path)
    assert public.status_code == 200 and "Commission statement" in public.content.decode()
    assert client.get(path.replace(".html", ".csv"))["Content-Type"].startswith("text/csv")
    assert client.get(path[:-10] + "x" + path[-9:]).status_code == 404  # tampered


# --- API ------------------------------------------------------------------------------------


@pytest.fixture
def api(client):
    def as_user(user):
        token = Token.objects.get_or_create(user=user)[0].key

        def call(method, url, data=None):
            return getattr(client, method)(url, data=data, content_type="application/json",
                                           HTTP_AUTHORIZATION=f"Token {token}")  # fmt: skip

        return call

    return as_user


def test_balances_api_filters_and_query_budget(api, django_assert_max_num_queries):
    finance = api(staff("fin", "Finance"))
    creators_with_balances(3)
    with django_assert_max_num_queries(6):
        body = finance("get", "/api/balances").json()
    assert body["count"] == 6
    row = next(r for r in body["results"] if r["handle"] == "creator-2" and r["currency"] == "USD")
    assert (row["available"], row["payable"], row["minor_units"]) == (2002, 2002, 2)
    assert finance("get", "/api/balances?currency=EUR").json()["count"] == 3
    assert finance("get", "/api/balances?currency=eur").status_code == 400
    creators_with_balances(5, start=10)
    with django_assert_max_num_queries(6):
        assert finance("get", "/api/balances").json()["count"] == 16
    assert api(staff("mod", "Moderator"))("get", "/api/balances").status_code == 403


def test_payout_runs_api_four_eyes_and_payouts_with_their_commissions(
    api, django_assert_max_num_queries
):
    creators_with_balances(3)
    maker, checker = staff("maker", "Finance"), staff("checker", "Owner")
    made = api(maker)("post", "/api/payout-runs", {"currency": "USD", "note": "Dec"})
    assert made.status_code == 201, made.content
    run = made.json()
    assert run["payout_count"] == 3 and run["total"] == 2000 + 2001 + 2002
    own = api(maker)("post", f"/api/payout-runs/{run['id']}/approve", {})
    assert own.status_code == 403 and own.json()["error"]["code"] == "forbidden"
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        approved = api(checker)("post", f"/api/payout-runs/{run['id']}/approve", {"note": "ok"})
    assert approved.status_code == 200 and approved.json()["status"] == "sending"
    again = api(checker)("post", f"/api/payout-runs/{run['id']}/approve", {})
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_transition"
    detail = api(checker)("get", f"/api/payout-runs/{run['id']}").json()
    assert len(detail["payouts"]) == 3 and [e["action"] for e in detail["events"]] == [
        "create", "approve"]  # fmt: skip
    with django_assert_max_num_queries(6):
        listed = api(checker)("get", f"/api/payouts?run={run['id']}").json()
    assert listed["count"] == 3 and {p["status"] for p in listed["results"]} == {"sent"}
    payout = api(checker)("get", f"/api/payouts/{listed['results'][0]['id']}").json()
    assert payout["commissions"][0]["amount"] >= 2000 and payout["events"][0]["action"] == "create"
    assert api(checker)("post", "/api/payout-runs", {"currency": "USD"}).status_code == 400
    assert api(checker)("get", "/api/payouts?status=lost").status_code == 400
    assert api(staff("cat", "Catalog manager"))("get", "/api/payout-runs").status_code == 403


def test_cancel_through_the_api_needs_a_reason(api):
    creators_with_balances(1)
    finance = api(staff("fin", "Finance"))
    run = finance("post", "/api/payout-runs", {"currency": "USD"}).json()
    assert finance("post", f"/api/payout-runs/{run['id']}/cancel", {}).status_code == 400
    done = finance("post", f"/api/payout-runs/{run['id']}/cancel", {"reason": "Test run"})
    assert done.json()["status"] == "cancelled"
    assert Payout.objects.get().status == "cancelled"


def test_the_openapi_schema_has_the_ledger_endpoints(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    for path in ("/api/balances", "/api/payout-runs", "/api/payout-runs/{id}",
                 "/api/payout-runs/{id}/approve", "/api/payout-runs/{id}/cancel",
                 "/api/payouts", "/api/payouts/{id}"):  # fmt: skip
        assert path in schema["paths"], path
    assert "post" in schema["paths"]["/api/payout-runs"]
    params = {p["name"] for p in schema["paths"]["/api/balances"]["get"]["parameters"]}
    assert {"currency", "creator", "search"} <= params


def test_a_commission_review_release_keeps_it_out_of_available_until_then(finance):
    maya = CreatorFactory(handle="maya")
    give_details(maya)
    held = earn(paid_order([("A", 1, "90.00")]), maya, "A", 9000, review="Self-referral")
    commissions.commissions_release_due()
    assert balances(maya)[Kind.AVAILABLE] == 0
    finance.post(
        f"/admin/sales/commission/{held.pk}/review/",
        {"decision": "release", "reason": "Checked: a friend, not the creator"},
    )
    assert balances(maya)[Kind.AVAILABLE] == 9000
    run = payouts.payout_run_create(currency="USD")
    approve(run, staff("own", "Owner"))
    assert run.payouts.get().amount == 9000
