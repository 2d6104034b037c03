"""Erase my account: personal data removed or pseudonymised, the ledger untouched and
balanced, content withdrawn, links stopped."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from attribution.services import attribution_decide
from creators.models import (
    CreatorApplication,
    CreatorFingerprint,
    CreatorLoginLink,
    DiscountCode,
    GroupMembership,
)
from links.models import ShortLink
from sales import ledger
from sales.ledger_models import Commission, LedgerAccount, LedgerEntry
from tests.creators.factories import PASSWORD, click, creator_account, link_for, log_in, paid_order
from ugc.models import UGCItem, UGCRights

pytestmark = pytest.mark.django_db


def test_erasing_removes_personal_data_and_keeps_the_ledger(
    client, program, django_capture_on_commit_callbacks
):
    maya = creator_account(
        program[1],
        email="maya@example.com",
        name="Maya Real",
        handle="maya-real",
        affiliate_code="MAYAREAL",
    )
    account = maya.account
    account.handle_tiktok, account.country = "@maya.real", "DE"
    account.save()
    CreatorApplication.objects.create(
        program=program[0],
        name="Maya Real",
        email="maya@example.com",
        why="Because.",
        terms=program[0].current_terms(),
        terms_version=1,
        terms_accepted_at=account.created_at,
        status="approved",
        creator=maya,
        handle_tiktok="@maya.real",
    )
    CreatorFingerprint.objects.create(creator=maya, kind="email", value_hash="h" * 64)
    CreatorLoginLink.objects.create(
        user=account.user, token_hash="t" * 64, expires_at=account.created_at
    )
    code = DiscountCode.objects.create(code="MAYAREAL10", creator=maya, program=program[0])
    link = link_for(maya)
    visit = click(link)
    order = paid_order(product=link.product, codes=["MAYAREAL10"], click_id=str(visit.click_id))
    attribution_decide(order_id=order.pk)
    item = UGCItem.objects.create(
        source="portal",
        creator=maya,
        media_type="image",
        caption="Me in Berlin",
        author_handle="maya-real",
        status="published",
        media_status="ready",
        file_sha256="f" * 64,
    )
    item.original.save("me.jpg", ContentFile(b"jpeg"), save=True)
    UGCRights.objects.create(
        item=item,
        consent_method="creator_agreement",
        allowed_channels=["site"],
        proof_text="signed by Maya Real",
    )
    balances = sorted(LedgerAccount.objects.values_list("pk", "balance"))
    entries = LedgerEntry.objects.count()
    commission = Commission.objects.get()
    storage = item.original.storage
    original = item.original.name
    assert storage.exists(original)

    log_in(client, maya)
    wrong = client.post("/creators/settings/erase/", {"password": "nope", "confirm": "on"})
    assert wrong.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post("/creators/settings/erase/", {"password": PASSWORD, "confirm": "on"})
    assert done.status_code == 200 and "Your account is erased" in done.content.decode()

    maya.refresh_from_db()
    assert (maya.name, maya.handle, maya.email, maya.affiliate_code, maya.status) == (
        f"Erased creator #{maya.pk}",
        f"erased-{maya.pk}",
        "",
        f"ERASED-{maya.pk}",
        "removed",
    )
    user = get_user_model().objects.get(pk=account.user_id)
    assert user.email == "" and not user.is_active and not user.has_usable_password()
    assert "maya" not in user.username
    account.refresh_from_db()
    assert account.erased_at and account.handle_tiktok == "" and account.country == ""
    application = CreatorApplication.objects.get()
    assert (application.name, application.why, application.handle_tiktok) == ("(erased)", "", "")
    assert "maya" not in application.email
    assert not CreatorFingerprint.objects.filter(creator=maya).exists()
    assert not CreatorLoginLink.objects.exists()
    code.refresh_from_db()
    assert not code.active
    assert not GroupMembership.objects.filter(creator=maya, status="active").exists()
    assert not ShortLink.objects.filter(creator=maya, active=True).exists()
    item.refresh_from_db()
    assert item.status == "archived" and item.caption == "" and item.author_handle == ""
    assert item.rights.revoked_at is not None and item.rights.proof_text == ""
    assert not storage.exists(original)

    # The ledger is untouched and balanced: the commission points at the pseudonym.
    assert sorted(LedgerAccount.objects.values_list("pk", "balance")) == balances
    assert LedgerEntry.objects.count() == entries
    commission.refresh_from_db()
    assert commission.creator_id == maya.pk and commission.amount > 0
    result = ledger.verify()
    assert result["ok"], result["problems"]
    # Nobody can log in as them any more, by password or by link.
    assert (
        client.post(
            "/creators/login/", {"email": "maya@example.com", "password": PASSWORD}
        ).status_code
        == 400
    )
