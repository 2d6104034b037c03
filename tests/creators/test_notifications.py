"""Creators get the emails they chose: their content published or not accepted, a
commission held for review."""

import pytest
from django.contrib.auth.models import User
from django.core import mail

from sales import commissions
from tests.creators.factories import creator_account, paid_order
from ugc import services as ugc_services
from ugc.models import RejectionReason, UGCItem

pytestmark = pytest.mark.django_db


def portal_item(creator, source="portal"):
    return UGCItem.objects.create(
        source=source, creator=creator, media_type="image", file_sha256="a" * 64
    )


@pytest.fixture
def moderator(db):
    return User.objects.create_user("mod", is_staff=True)


def test_a_rejected_portal_submission_emails_its_creator_with_the_reason(
    program, moderator, django_capture_on_commit_callbacks
):
    maya = creator_account(program[1], email="maya@example.com")
    item = portal_item(maya)
    reason = RejectionReason.objects.create(label="Product not visible")
    ugc_services.ugc_claim(item_id=item.pk, moderator=moderator)
    with django_capture_on_commit_callbacks(execute=True):
        ugc_services.ugc_reject(
            item_id=item.pk, moderator=moderator, reason=reason.pk, note="Show the label"
        )
    (message,) = mail.outbox
    assert message.to == ["maya@example.com"]
    assert message.subject == "Your submission was not accepted"
    assert "Product not visible: Show the label" in message.body
    assert f"/creators/content/{item.pk}/" in message.body


def test_no_email_when_the_creator_turned_them_off_or_for_other_sources(
    program, moderator, django_capture_on_commit_callbacks
):
    maya = creator_account(program[1], email="maya@example.com")
    maya.account.notify_content = False
    maya.account.save()
    reason = RejectionReason.objects.create(label="Blurry")
    for item in (portal_item(maya), portal_item(creator_account(program[1]), source="tiktok")):
        ugc_services.ugc_claim(item_id=item.pk, moderator=moderator)
        with django_capture_on_commit_callbacks(execute=True):
            ugc_services.ugc_reject(item_id=item.pk, moderator=moderator, reason=reason.pk)
    assert mail.outbox == []


def test_a_commission_held_for_review_emails_its_creator(
    program, django_capture_on_commit_callbacks
):
    maya = creator_account(program[1], email="maya@example.com")
    order = paid_order()
    with django_capture_on_commit_callbacks(execute=True):
        commissions.commission_post(
            key="n:1",
            order_id=order.pk,
            creator_id=maya.pk,
            base=10000,
            amount=1000,
            hold_days=30,
            review_reason="Self-referral.",
        )
    (message,) = mail.outbox
    assert message.subject == "A commission is on hold for review"
    assert "$10.00" in message.body and "Self-referral" not in message.body
    maya.account.notify_earnings = False
    maya.account.save()
    with django_capture_on_commit_callbacks(execute=True):
        commissions.commission_post(
            key="n:2",
            order_id=order.pk,
            creator_id=maya.pk,
            base=10000,
            amount=500,
            hold_days=30,
            review_reason="x",
        )
    assert len(mail.outbox) == 1
