"""The portal's Payouts page: balances as the console reads them, payout history, statement
links, payout details (password again, stored encrypted, fingerprinted, the creator emailed),
tax forms (type by content, size limit, private storage) and who may see what."""

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from PIL import Image

from creators.models import CreatorFingerprint
from sales import payouts, selectors
from sales.models import Payout, PayoutDetails, PayoutRun, TaxForm
from tests.creators.factories import PASSWORD, creator_account, log_in
from tests.links.factories import CreatorFactory
from tests.sales.ledger_helpers import available, give_details, staff
from tests.ugc.factories import pattern_bytes

pytestmark = pytest.mark.django_db

PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
# The first bytes of a Windows program: "MZ", then the DOS stub.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


@pytest.fixture(autouse=True)
def payout_settings(settings):
    settings.PAYOUT_MINIMUM = "10"
    settings.PAYOUT_MINIMUMS = {}
    settings.PUBLIC_BASE_URL = "https://shop.example.com"


@pytest.fixture
def maya(program, client):
    creator = creator_account(program[1], email="maya@example.com", name="Maya", handle="maya")
    log_in(client, creator)
    return creator


@pytest.fixture
def leo(program):
    return creator_account(program[1], email="leo@example.com", name="Leo", handle="leo")


def private_files(settings) -> list[Path]:
    root = Path(settings.PRIVATE_MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def paid_payout(creator, amount=4_000):
    """A payout to `creator`, sent and confirmed."""
    give_details(creator)
    available(creator, amount)
    run = payouts.payout_run_create(currency="USD")
    payout = run.payouts.get(creator=creator)
    Payout.objects.filter(pk=payout.pk).update(provider_ref=f"tr_{creator.handle}123")
    return payout


def test_anonymous_visitors_are_sent_to_the_login_page():
    anonymous = Client()
    for url in ("/creators/payouts/", "/creators/payouts/tax-forms/1/"):
        answer = anonymous.get(url)
        assert answer.status_code == 302
        assert answer["Location"] == f"/creators/login/?next={url}"
    for url in ("/creators/payouts/details/", "/creators/payouts/tax-forms/"):
        answer = anonymous.post(url, {"method": "paypal", "account": "x@example.com"})
        assert answer.status_code == 302 and answer["Location"].startswith("/creators/login/")
    assert not PayoutDetails.objects.exists()


def test_the_page_shows_the_consoles_balances_the_history_and_statements(client, maya, leo):
    paid_payout(leo, 9_900)
    paid_payout(maya, 4_000)
    available(maya, 1_250)

    answer = client.get("/creators/payouts/")

    assert answer.status_code == 200
    html = answer.content.decode()
    console = selectors.creator_balances(creator_id=maya.pk).get()
    assert (console["available"], console["in_payout"]) == (1_250, 4_000)
    balance = answer.context["balances"][0]
    assert (balance["currency"], balance["available"], balance["in_payout"]) == (
        "USD",
        "$12.50",
        "$40.00",
    )
    assert "tr_maya123" in html and "$40.00" in html
    assert "tr_leo123" not in html and "$99.00" not in html  # never another creator's
    statement = answer.context["statements"][0]
    assert statement["currency"] == "USD"
    assert statement["html"].startswith("https://shop.example.com/statements/")
    # The link is the existing statement, for Maya only.
    page = Client().get(statement["html"].removeprefix("https://shop.example.com"))
    assert page.status_code == 200 and b"Commission statement" in page.content
    assert page.context["creator"] == maya


def test_a_payout_still_in_flight_and_one_that_failed_show_their_status(client, maya):
    payout = paid_payout(maya)
    payouts.payout_run_cancel(run_id=payout.run_id, actor=staff("fin", "Finance"), reason="no")
    assert client.get("/creators/payouts/").context["payouts"].count() == 0  # cancelled: gone
    available(maya, 2_000)
    run = payouts.payout_run_create(currency="USD")
    html = client.get("/creators/payouts/").content.decode()
    assert run.payouts.get().get_status_display() in html


def test_changing_payout_details_needs_the_password_and_emails_the_creator(
    client, maya, django_capture_on_commit_callbacks
):
    wrong = client.post(
        "/creators/payouts/details/",
        {"method": "paypal", "account": "maya@paypal.example", "country": "fr", "password": "no"},
    )
    assert wrong.status_code == 400
    assert "That is not your password." in wrong.content.decode()
    assert not PayoutDetails.objects.exists() and not mail.outbox

    with django_capture_on_commit_callbacks(execute=True):
        right = client.post(
            "/creators/payouts/details/",
            {
                "method": "paypal",
                "account": "maya@paypal.example",
                "country": "fr",
                "password": PASSWORD,
            },
        )

    assert right.status_code == 302 and right["Location"] == "/creators/payouts/"
    details = PayoutDetails.objects.get(creator=maya)
    assert details.data == {
        "method": "paypal",
        "account": "maya@paypal.example",
        "tax_form_received": False,
        "country": "FR",
    }
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT details FROM sales_payoutdetails WHERE id = %s", [details.pk])
        assert "maya@paypal.example" not in cursor.fetchone()[0]
    assert CreatorFingerprint.objects.filter(creator=maya, kind="payout_account").count() == 1
    assert [m.to for m in mail.outbox] == [["maya@example.com"]]
    assert "payout details were changed" in mail.outbox[0].subject
    assert "PayPal" in mail.outbox[0].body and "maya@paypal.example" not in mail.outbox[0].body
    assert "may…ple" in mail.outbox[0].body  # masked


def test_bad_payout_details_are_refused_by_field_and_change_nothing(client, maya):
    give_details(maya, method="paypal", account="maya@paypal.example")
    mail.outbox.clear()
    answer = client.post(
        "/creators/payouts/details/",
        {"method": "stripe", "account": "not-an-account", "country": "FR", "password": PASSWORD},
    )
    assert answer.status_code == 400
    assert "A Stripe connected account id" in answer.content.decode()
    assert PayoutDetails.objects.get(creator=maya).data["account"] == "maya@paypal.example"
    assert not mail.outbox


def test_the_same_details_saved_again_send_no_email(
    client, maya, django_capture_on_commit_callbacks
):
    fields = {"method": "paypal", "account": "m@paypal.example", "country": "FR"}
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/creators/payouts/details/", {**fields, "password": PASSWORD})
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/creators/payouts/details/", {**fields, "password": PASSWORD})
    assert len(mail.outbox) == 1


def test_a_pdf_tax_form_is_stored_privately_marks_it_received_and_downloads(client, maya, settings):
    give_details(maya, method="paypal", account="m@paypal.example", tax=False)
    upload = SimpleUploadedFile("w9.pdf", PDF, content_type="application/pdf")

    answer = client.post("/creators/payouts/tax-forms/", {"file": upload})

    assert answer.status_code == 302
    form = TaxForm.objects.get(creator=maya)
    assert (form.kind, form.content_type, form.size) == ("pdf", "application/pdf", len(PDF))
    assert Path(form.file.path).is_relative_to(settings.PRIVATE_MEDIA_ROOT)
    assert "w9" not in form.file.name  # stored under a random name
    details = PayoutDetails.objects.get(creator=maya)
    assert details.data["tax_form_received"] and details.complete
    download = client.get(f"/creators/payouts/tax-forms/{form.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"


def test_a_photo_of_a_tax_form_is_re_encoded(client, maya):
    photo = pattern_bytes(3, fmt="JPEG", size=(600, 800))
    answer = client.post(
        "/creators/payouts/tax-forms/", {"file": SimpleUploadedFile("form.heic", photo)}
    )
    assert answer.status_code == 302
    form = TaxForm.objects.get(creator=maya)
    assert form.kind == "image" and form.content_type == "image/jpeg"
    stored = form.file.read()
    assert stored != photo and Image.open(io.BytesIO(stored)).size == (600, 800)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("w9.pdf", EXE, "this file is neither"),  # a program renamed .pdf
        ("w9.png", b"<html><script>alert(1)</script></html>", "this file is neither"),
        ("w9.pdf", PDF[:-7], "no end-of-file marker"),
        ("w9.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image"),  # not a decodable image
    ],
)
def test_a_file_that_is_not_a_pdf_or_image_is_refused_and_nothing_is_stored(
    client, maya, settings, name, content, message
):
    answer = client.post(
        "/creators/payouts/tax-forms/", {"file": SimpleUploadedFile(name, content)}
    )
    assert answer.status_code == 400
    assert message in answer.content.decode().lower()
    assert not TaxForm.objects.exists() and not private_files(settings)
    assert not PayoutDetails.objects.exists()


def test_a_tax_form_over_the_size_limit_is_refused(client, maya, settings):
    settings.TAX_FORM_MAX_BYTES = 100
    answer = client.post(
        "/creators/payouts/tax-forms/",
        {"file": SimpleUploadedFile("w9.pdf", PDF + b"%" * 200 + b"\n%%EOF\n")},
    )
    assert answer.status_code == 400
    assert "the limit is 100" in answer.content.decode()
    assert not TaxForm.objects.exists()


def test_a_creator_never_gets_another_creators_tax_form(client, maya, leo):
    theirs = payouts.tax_form_upload(creator_id=leo.pk, upload=SimpleUploadedFile("leo.pdf", PDF))
    assert client.get(f"/creators/payouts/tax-forms/{theirs.pk}/").status_code == 404
    assert "leo.pdf" not in client.get("/creators/payouts/").content.decode()


def test_only_staff_who_see_payout_details_download_tax_forms(maya, merchant_roles):
    form = payouts.tax_form_upload(creator_id=maya.pk, upload=SimpleUploadedFile("w9.pdf", PDF))
    url = f"/admin/sales/taxform/{form.pk}/download/"
    creator_page = f"/admin/creators/creator/{maya.pk}/change/"
    for role, allowed in (("Finance", True), ("Owner", True), ("Moderator", False)):
        client = Client()
        client.force_login(staff(f"{role.lower()}-user", role))
        answer = client.get(url)
        assert (answer.status_code == 200) is allowed, role
        page = client.get(creator_page).content.decode()
        assert (url in page) is allowed, role
        assert ("Payout details" in page) is allowed, role
    client = Client()
    client.force_login(staff("fin2", "Finance"))
    assert b"".join(client.get(url).streaming_content) == PDF
    # A creator (not staff) never reaches the console's copy.
    creator_client = Client()
    log_in(creator_client, maya)
    assert creator_client.get(url).status_code == 302  # to the console's login


def test_the_creators_page_in_the_console_shows_the_payout_details_status(maya, merchant_roles):
    give_details(maya, method="paypal", account="maya@paypal.example", tax=False)
    client = Client()
    client.force_login(staff("finance-user", "Finance"))
    page = client.get(f"/admin/creators/creator/{maya.pk}/change/").content.decode()
    assert "Incomplete: missing tax form" in page and "may…ple" in page
    assert "maya@paypal.example" not in page


def test_a_console_change_of_payout_details_emails_the_creator_too(
    maya, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        payouts.payout_details_set(
            creator_id=maya.pk, method="manual", account="FR76 3000 6000 0112 3456 7890 189",
            country="FR", actor=User.objects.create_user("olga", is_staff=True),
        )  # fmt: skip
    assert len(mail.outbox) == 1 and "by the shop's team" in mail.outbox[0].body


def test_a_payout_run_lists_a_creator_whose_details_the_portal_saved_but_no_tax_form(client, maya):
    client.post(
        "/creators/payouts/details/",
        {"method": "paypal", "account": "m@paypal.example", "country": "FR", "password": PASSWORD},
    )
    available(maya, 5_000)
    run = payouts.payout_run_create(currency="USD")
    assert run.status == PayoutRun.Status.DONE and "tax form" in run.skipped[0]["reason"]
    client.post("/creators/payouts/tax-forms/", {"file": SimpleUploadedFile("w9.pdf", PDF)})
    assert payouts.payout_run_create(currency="USD").payouts.get().amount == 5_000


def _shared_payout(creator):
    from attribution.fraud import _shared_payout as shared_payout

    own = CreatorFingerprint.objects.filter(creator=creator).values_list("kind", "value_hash")
    return shared_payout(creator, list(own))


def test_two_creators_giving_one_payout_account_raise_the_shared_payout_signal(client, maya, leo):

    fields = {"method": "paypal", "country": "FR", "password": PASSWORD}
    client.post("/creators/payouts/details/", {**fields, "account": "Pay@PayPal.example"})
    assert _shared_payout(leo) is None
    other = Client()
    log_in(other, leo)
    other.post("/creators/payouts/details/", {**fields, "account": "pay@paypal.example"})
    finding = _shared_payout(leo)
    assert finding is not None and finding.evidence == {"other_creators": ["maya"]}
    ana, tom = CreatorFactory(handle="ana"), CreatorFactory(handle="tom")
    give_details(ana, method="manual", account="FR76 3000 6000 0112 3456 7890 189")
    give_details(tom, method="manual", account="fr7630006000011234567890189")
    assert _shared_payout(tom).evidence == {"other_creators": ["ana"]}


def test_the_data_export_has_the_payout_details_payouts_and_tax_forms(client, maya):
    paid_payout(maya)
    payouts.tax_form_upload(creator_id=maya.pk, upload=SimpleUploadedFile("my-w9.pdf", PDF))
    data = client.get("/creators/settings/export/").json()
    assert data["payout_details"]["account"] == "FR76 3000 6000 0112 3456 7890 189"
    assert [(p["amount"], p["provider_ref"]) for p in data["payouts"]] == [("40.00", "tr_maya123")]
    assert [(t["kind"], t["file_name"]) for t in data["tax_forms"]] == [("pdf", "my-w9.pdf")]


def test_erasing_the_account_wipes_the_payout_details_and_keeps_the_tax_forms(client, maya):
    give_details(maya, method="paypal", account="maya@paypal.example")
    form = payouts.tax_form_upload(creator_id=maya.pk, upload=SimpleUploadedFile("w9.pdf", PDF))
    done = client.post("/creators/settings/erase/", {"password": PASSWORD, "confirm": "on"})
    assert done.status_code == 200
    details = PayoutDetails.objects.get(creator=maya)
    assert details.data == {} and not details.complete
    assert TaxForm.objects.get().file.read() == PDF == form.file.read()  # a tax record
    available(maya, 5_000)
    run = payouts.payout_run_create(currency="USD")
    assert run.skipped[0]["creator_id"] == maya.pk  # listed, never paid to the old account


def test_the_page_makes_the_same_number_of_queries_whatever_the_history(client, maya):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    paid_payout(maya, 2_000)
    payouts.tax_form_upload(creator_id=maya.pk, upload=SimpleUploadedFile("a.pdf", PDF))
    with CaptureQueriesContext(db) as few:
        client.get("/creators/payouts/")
    for amount in (3_000, 4_000, 5_000):
        available(maya, amount)
        payouts.payout_run_create(currency="USD")
        available(maya, amount, currency="EUR")
        payouts.tax_form_upload(creator_id=maya.pk, upload=SimpleUploadedFile("b.pdf", PDF))
    with CaptureQueriesContext(db) as many:
        answer = client.get("/creators/payouts/")
    assert len(answer.context["payouts"]) == 4 and len(answer.context["balances"]) == 2
    assert len(many.captured_queries) == len(few.captured_queries)
