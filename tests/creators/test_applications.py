"""Applying to a program, and the merchant's review in the console."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from core.errors import ApplicationError
from creators import services
from creators.models import (
    ApplicationEvent,
    CreatorAccount,
    CreatorApplication,
    CreatorGroup,
    GroupMembership,
)
from tests.creators.factories import PASSWORD, creator_account, program_with

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Maya Makes",
    "email": "Maya@Example.com",
    "handle_tiktok": "@maya.makes",
    "country": "de",
    "audience_size": "12000",
    "why": "I love the serum.",
    "accept_terms": "on",
    "terms_version": "1",
}


def apply(client, slug="glow", **changes):
    data = {**FORM, **changes}
    return client.post(f"/creators/apply/{slug}/", {k: v for k, v in data.items() if v is not None})


def test_the_apply_page_shows_the_current_terms(client, program):
    services.program_terms_publish(program_id=program[0].pk, text="Version two of the rules.")
    page = client.get("/creators/apply/glow/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Version two of the rules." in html and "version 2" in html
    assert 'name="terms_version" value="2"' in html
    assert 'name="website"' in html  # the honeypot


def test_an_application_keeps_the_terms_version_and_time_and_emails_the_applicant(
    client, program, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = apply(client)
    assert answer.status_code == 302
    assert answer["Location"] == "/creators/apply/glow/thanks/"
    application = CreatorApplication.objects.get()
    assert application.email == "maya@example.com"
    assert application.country == "DE"
    assert application.terms_version == 1 and application.terms == program[0].current_terms()
    assert application.terms_accepted_at is not None
    assert application.status == "pending"
    assert len(application.network_hash) == 64  # a keyed hash, never the address
    assert "127.0.0" not in application.network_hash
    assert [m.subject for m in mail.outbox] == ["Your application to Glow Program"]
    assert ApplicationEvent.objects.get().reason == "Accepted terms v1."


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"accept_terms": None}, "accept_terms", "Required."),
        ({"terms_version": "7"}, "accept_terms", "The terms changed."),
        ({"handle_tiktok": ""}, "handle_tiktok", "Give at least one handle."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"country": "D1"}, "country", "A two-letter country code, e.g. DE."),
    ],
)
def test_bad_applications_say_which_field_and_store_nothing(
    client, program, changes, field, message
):
    answer = apply(client, **changes)
    assert answer.status_code == 400
    assert message in answer.context["form"].errors[field]
    assert not CreatorApplication.objects.exists()


def test_the_honeypot_looks_like_success_and_stores_nothing(client, program):
    answer = apply(client, website="http://spam.example")
    assert answer.status_code == 302
    assert not CreatorApplication.objects.exists()


def test_applications_are_rate_limited_per_network(client, program, settings):
    settings.PORTAL_APPLY_PER_NETWORK_PER_HOUR = 2
    for n in range(2):
        assert apply(client, email=f"a{n}@example.com").status_code == 302
    # Another address in the same /24 is the same network.
    answer = apply(client, email="a3@example.com", REMOTE_ADDR="127.0.0.99")
    assert answer.status_code == 429
    assert "Too many applications" in answer.content.decode()
    assert CreatorApplication.objects.count() == 2
    other = client.post(
        "/creators/apply/glow/", {**FORM, "email": "b@example.com"}, REMOTE_ADDR="10.9.8.7"
    )
    assert other.status_code == 302


def test_one_open_application_per_email(client, program):
    assert apply(client).status_code == 302
    again = apply(client, email="MAYA@example.com")
    assert again.status_code == 400
    assert "Already applied." in again.context["form"].errors["email"]


def test_invite_only_and_unknown_programs_take_no_applications(client, db):
    program_with(slug="vip", mode=CreatorGroup.ApplicationMode.INVITE_ONLY)
    assert client.get("/creators/apply/vip/").status_code == 404
    assert "by invitation only" in client.get("/creators/apply/vip/").content.decode()
    assert client.get("/creators/apply/nope/").status_code == 404


def test_an_auto_approve_group_approves_at_once(client, db, django_capture_on_commit_callbacks):
    program, group = program_with(slug="open", mode=CreatorGroup.ApplicationMode.AUTO_APPROVE)
    with django_capture_on_commit_callbacks(execute=True):
        assert apply(client, slug="open").status_code == 302
    application = CreatorApplication.objects.get()
    assert application.status == "approved" and application.group == group
    creator = application.creator
    assert creator.account.user.email == "maya@example.com"
    assert GroupMembership.objects.filter(creator=creator, group=group, status="active").exists()
    assert mail.outbox[-1].subject == f"Welcome to {program.name}"
    assert "/creators/password/set/" in mail.outbox[-1].body


def set_password_link(message) -> str:
    return re.search(r"https?://\S+/creators/password/set/\S+/", message.body).group(0)


def test_approving_makes_the_creator_their_account_and_membership_and_emails_a_link(
    client, owner_client, program, django_capture_on_commit_callbacks
):
    apply(client)
    application = CreatorApplication.objects.get()
    url = f"/admin/creators/creatorapplication/{application.pk}/change/"
    page = owner_client.get(url)
    assert page.status_code == 200 and "Send the decision" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        answer = owner_client.post(
            reverse("admin:creators_creatorapplication_decide", args=[application.pk]),
            {"decision": "approve", "group": program[1].pk},
        )
    assert answer.status_code == 302
    application.refresh_from_db()
    assert application.status == "approved"
    creator = application.creator
    assert creator.handle == "maya-makes" and creator.affiliate_code == "MAYAMAKES"
    account = CreatorAccount.objects.get(creator=creator)
    assert account.handle_tiktok == "@maya.makes" and account.country == "DE"
    user = account.user
    assert not user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert [e.action for e in application.events.all()] == ["submit", "approve"]
    assert application.events.last().actor.username == "owner-user"
    message = mail.outbox[-1]
    assert message.subject == "Welcome to Glow Program"
    link = set_password_link(message)
    assert link.startswith("https://shop.example.com/creators/password/set/")

    # The creator sets their password with the link and lands on their home page.
    path = link.removeprefix("https://shop.example.com")
    form = client.get(path, follow=True)
    assert form.status_code == 200 and "Set your password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD}
    )
    assert done.status_code == 302 and done["Location"] == "/creators/"
    assert client.get("/creators/").status_code == 200
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_rejecting_needs_a_reason_which_the_applicant_is_emailed(
    owner_client, client, program, django_capture_on_commit_callbacks
):
    apply(client)
    application = CreatorApplication.objects.get()
    decide = reverse("admin:creators_creatorapplication_decide", args=[application.pk])
    owner_client.post(decide, {"decision": "reject", "reason": ""})
    application.refresh_from_db()
    assert application.status == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(decide, {"decision": "reject", "reason": "Audience too small for now."})
    application.refresh_from_db()
    assert application.status == "rejected"
    assert "Audience too small for now." in mail.outbox[-1].body
    with pytest.raises(ApplicationError) as refused:
        services.application_approve(
            application_id=application.pk, group_id=program[1].pk, actor=None, set_password_url=str
        )
    assert refused.value.code == "invalid_transition"


def test_asking_for_more_emails_a_link_the_applicant_answers_once(
    owner_client, client, program, django_capture_on_commit_callbacks
):
    apply(client)
    application = CreatorApplication.objects.get()
    decide = reverse("admin:creators_creatorapplication_decide", args=[application.pk])
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(decide, {"decision": "ask", "reason": "Which videos did you make?"})
    application.refresh_from_db()
    assert application.status == "needs_info"
    link = re.search(r"https?://\S+/creators/apply/answer/\S+/", mail.outbox[-1].body).group(0)
    path = link.removeprefix("https://shop.example.com")
    page = client.get(path)
    assert "Which videos did you make?" in page.content.decode()
    assert client.post(path, {"answer": "The serum one."}).status_code == 200
    application.refresh_from_db()
    assert application.status == "pending" and application.answer == "The serum one."
    assert client.get(path).status_code == 404  # answered: the link is spent


def test_approving_into_another_programs_group_is_refused(owner_client, client, program):
    apply(client)
    application = CreatorApplication.objects.get()
    _, other_group = program_with(slug="other")
    with pytest.raises(ApplicationError) as refused:
        services.application_approve(
            application_id=application.pk, group_id=other_group.pk, actor=None, set_password_url=str
        )
    assert "group" in refused.value.fields
    application.refresh_from_db()
    assert application.status == "pending"
    assert not CreatorAccount.objects.exists()


def test_a_creator_with_an_account_joins_a_second_program_with_the_same_login(
    client, program, django_capture_on_commit_callbacks
):
    _, other_group = program_with(slug="second")
    existing = creator_account(other_group, email="maya@example.com")
    apply(client)
    application = CreatorApplication.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.application_approve(
            application_id=application.pk,
            group_id=program[1].pk,
            actor=None,
            set_password_url=lambda s: "https://x/login",
        )
    application.refresh_from_db()
    assert application.creator == existing
    assert CreatorAccount.objects.count() == 1
    assert "Log in to the creator portal with your email and password" in mail.outbox[-1].body


def test_the_applications_changelist_costs_the_same_queries_for_more_rows(
    owner_client, program, query_budget
):
    def add(n):
        for i in range(n):
            CreatorApplication.objects.create(
                program=program[0],
                name=f"A{i}",
                email=f"a{i}-{CreatorApplication.objects.count()}@example.com",
                terms=program[0].current_terms(),
                terms_version=1,
                terms_accepted_at=program[0].current_terms().published_at,
            )

    add(2)
    query_budget(owner_client, "/admin/creators/creatorapplication/", lambda: add(5))


def test_the_code_requests_changelist_costs_the_same_queries_for_more_rows(
    owner_client, program, query_budget
):
    from creators.models import DiscountCode

    creator = creator_account(program[1])

    def add(n):
        for _ in range(n):
            DiscountCode.objects.create(
                code=f"REQ{DiscountCode.objects.count()}",
                creator=creator,
                program=program[0],
                status="requested",
            )

    add(2)
    query_budget(owner_client, "/admin/creators/coderequest/", lambda: add(5))
