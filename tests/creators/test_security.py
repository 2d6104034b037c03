"""A creator sees only their own data: every portal URL that takes an id answers 404 for
another creator's id and sends anonymous visitors to the login page; every form needs its
CSRF token."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from sales import payouts
from tests.creators.factories import creator_account, link_for, log_in
from ugc.models import UGCItem, UGCRights

pytestmark = pytest.mark.django_db

# Every portal URL that takes an id, with the method that uses it.
ID_URLS = [
    ("get", "/creators/links/{link}/"),
    ("get", "/creators/content/{item}/"),
    ("post", "/creators/content/{item}/withdraw/"),
    ("get", "/creators/payouts/tax-forms/{tax_form}/"),
]
# Every page of the portal behind the login.
PAGES = [
    "/creators/",
    "/creators/links/",
    "/creators/codes/",
    "/creators/content/",
    "/creators/content/new/",
    "/creators/earnings/",
    "/creators/payouts/",
    "/creators/settings/",
    "/creators/settings/export/",
    "/creators/settings/erase/",
]
# Every form, posted without its CSRF token.
FORMS = [
    "/creators/login/",
    "/creators/login/link/",
    "/creators/logout/",
    "/creators/password/reset/",
    "/creators/apply/glow/",
    "/creators/links/",
    "/creators/codes/",
    "/creators/content/new/",
    "/creators/content/{item}/withdraw/",
    "/creators/payouts/details/",
    "/creators/payouts/tax-forms/",
    "/creators/settings/",
    "/creators/settings/password/",
    "/creators/settings/erase/",
]


@pytest.fixture
def two(program):
    mine = creator_account(program[1], email="me@example.com")
    theirs = creator_account(program[1], email="them@example.com")
    objects = {}
    for who in (mine, theirs):
        item = UGCItem.objects.create(
            source="portal", creator=who, media_type="image", file_sha256=f"{who.pk:064d}"
        )
        UGCRights.objects.create(
            item=item, consent_method="creator_agreement", allowed_channels=["site"], proof_text="x"
        )
        tax_form = payouts.tax_form_upload(
            creator_id=who.pk, upload=SimpleUploadedFile("w9.pdf", b"%PDF-1.4\n%%EOF\n")
        )
        objects[who.pk] = {"link": link_for(who).pk, "item": item.pk, "tax_form": tax_form.pk}
    return mine, theirs, objects


@pytest.mark.parametrize(("method", "url"), ID_URLS)
def test_another_creators_id_is_not_found(client, two, method, url):
    mine, theirs, objects = two
    log_in(client, mine)
    assert getattr(client, method)(url.format(**objects[mine.pk])).status_code in (200, 302)
    answer = getattr(client, method)(url.format(**objects[theirs.pk]))
    assert answer.status_code == 404
    assert UGCRights.objects.get(item_id=objects[theirs.pk]["item"]).revoked_at is None
    missing = url.format(link=999999, item=999999, tax_form=999999)
    assert getattr(client, method)(missing).status_code == 404


@pytest.mark.parametrize(("method", "url"), ID_URLS)
def test_anonymous_visitors_of_id_urls_go_to_the_login_page(client, two, method, url):
    mine, _, objects = two
    answer = getattr(client, method)(url.format(**objects[mine.pk]))
    assert answer.status_code == 302
    assert answer["Location"].startswith("/creators/login/?next=/creators/")
    assert UGCRights.objects.get(item_id=objects[mine.pk]["item"]).revoked_at is None


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_go_to_the_login_page(client, program, url):
    answer = client.get(url)
    assert answer.status_code == 302 and answer["Location"] == f"/creators/login/?next={url}"


@pytest.mark.parametrize("url", FORMS)
def test_every_form_needs_its_csrf_token(two, url):
    mine, _, objects = two
    client = Client(enforce_csrf_checks=True)
    log_in(client, mine)
    assert client.post(url.format(**objects[mine.pk]), {}).status_code == 403
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post(url.format(**objects[mine.pk]), {}).status_code in (403, 302)


def test_an_erased_creators_session_ends(client, two):
    from creators import services

    mine, _, _ = two
    log_in(client, mine)
    services.account_erase(creator_id=mine.pk)
    assert client.get("/creators/").status_code == 302
