"""`seed_demo` makes a demo creator login whose portal already has everything to show."""

import io

import pytest
from django.core.management import call_command

from creators.models import CreatorAccount
from sales.ledger_models import Commission

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_a_creator_login_with_links_codes_content_clicks_and_earnings(
    client, django_capture_on_commit_callbacks, settings
):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production", stdout=out)
    assert "Demo creator portal: /creators/ (login: maya-makes@example.com" in out.getvalue()
    account = CreatorAccount.objects.get()
    assert account.user.check_password(settings.DEMO_ADMIN_PASSWORD)
    answer = client.post(
        "/creators/login/",
        {"email": "maya-makes@example.com", "password": settings.DEMO_ADMIN_PASSWORD},
    )
    assert answer.status_code == 302
    home = client.get("/creators/")
    last_30 = home.context["chart"]
    assert last_30["total_clicks"] > 0 and last_30["total_orders"] > 0
    assert home.context["top_links"]
    assert client.get("/creators/links/").context["links"]
    assert [c.code for c in client.get("/creators/codes/").context["codes"]] == ["MAYA10"]
    assert any(i.source == "portal" for i, _ in client.get("/creators/content/").context["items"])
    earnings = client.get("/creators/earnings/").context["earnings"]
    assert earnings and all(e.explanation for e in earnings)
    statuses = set(Commission.objects.values_list("status", flat=True))
    assert {"pending", "available"} <= statuses

    before = (Commission.objects.count(), CreatorAccount.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production", stdout=io.StringIO())
    assert (Commission.objects.count(), CreatorAccount.objects.count()) == before
