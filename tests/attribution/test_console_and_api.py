"""The console (order panel, programs, rule versions with the preview, the review queue, the
outbox) and the API (programs, groups, rules, attributions, orders with their attribution),
with query budgets on the lists."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from attribution.models import Attribution, ConversionEvent
from attribution.services import attribution_decide, destination_save
from core.crypto import keyed_hash
from sales.ledger_models import Commission
from tests.attribution.factories import CreatorFactory, click, code_for, make_order, program_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def credited(merchant_roles):
    maya = CreatorFactory(handle="maya", email="maya@example.com")
    program, group = program_with("10", creators=[maya])
    code_for(maya, program, code="MAYA10")
    own_click = click(maya, ago=timedelta(days=3, hours=2))
    order = make_order(
        codes=["MAYA10"],
        click_id=str(own_click.click_id),
        email_hash=keyed_hash("customer-email", "maya@example.com"),
    )
    return attribution_decide(order_id=order.pk), group


def test_the_order_page_shows_who_and_why(owner_client, credited):
    attribution, _ = credited
    page = owner_client.get(reverse("admin:sales_order_change", args=[attribution.order_id]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Credited to @maya because the code MAYA10 was used" in text
    assert "Self-referral" in text and "fraud review queue" in text


def test_the_review_queue_rejects_with_a_reason(owner_client, credited):
    held = Commission.objects.get(status="held")
    url = reverse("admin:attribution_heldcommission_changelist")
    assert "maya" in owner_client.get(url).content.decode()
    answer = owner_client.post(
        url,
        {
            "action": "reject",
            "_selected_action": [held.pk],
            "apply": "1",
            "reason": "Own purchase.",
        },
    )
    assert answer.status_code == 302
    held.refresh_from_db()
    assert (held.status, held.net) == ("reversed", 0)
    assert held.events.last().reason == "Own purchase."


def test_the_rule_preview_in_the_console(owner_client, credited):
    _, group = credited
    ruleset = group.rulesets.get()
    page = owner_client.get(
        reverse("admin:creators_ruleset_change", args=[ruleset.pk]),
        {
            "quantity": 2,
            "unit_price": "42.00",
            "currency": "EUR",
            "returning": "on",
            "country": "DE",
            "title": "Cloud Knit Hoodie",
        },
    )
    assert (
        "An order of 2 × Cloud Knit Hoodie for a returning customer in DE would earn "
        "€8.40 under rule 1."
    ) in page.content.decode()


def test_console_lists_keep_their_query_budget(owner_client, credited, query_budget):
    def grow():
        for _ in range(3):
            maya = Attribution.objects.first().creator
            order = make_order(click_id=str(click(maya).click_id))
            attribution_decide(order_id=order.pk)

    for name in (
        "attribution_attribution",
        "attribution_heldcommission",
        "attribution_conversionevent",
        "creators_ruleset",
        "creators_program",
    ):
        query_budget(owner_client, reverse(f"admin:{name}_changelist"), grow)


def test_the_outbox_retries_from_the_console(owner_client, credited):
    destination = destination_save(
        kind="meta", name="Meta", pixel_id="123", access_token="t", consent_required=True
    )
    event = ConversionEvent.objects.create(
        destination=destination,
        order_id=credited[0].order_id,
        key="purchase",
        event_id="1",
        status="skipped",
        reason="Skipped: no consent.",
    )
    url = reverse("admin:attribution_conversionevent_changelist")
    assert "Skipped: no consent." in owner_client.get(url).content.decode()
    owner_client.post(url, {"action": "retry", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.attempts >= 1 or event.status != "skipped"


@pytest.fixture
def api(merchant_roles):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user("api-owner", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Owner"))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_for_programs_groups_rules_and_attributions(api, credited):
    attribution, group = credited
    made = api.post(
        "/api/programs",
        {"name": "Spring", "slug": "spring", "currency": "EUR", "window_days": 14},
        format="json",
    )
    assert made.status_code == 201, made.content
    changed = api.patch(f"/api/programs/{made.json()['id']}", {"window_days": 7}, format="json")
    assert changed.json()["policy_version"] == 2
    bad = api.patch(f"/api/programs/{made.json()['id']}", {"window_days": 0}, format="json")
    assert bad.status_code == 400 and "window_days" in bad.json()["error"]["fields"]
    new_group = api.post(
        "/api/creator-groups",
        {"program": made.json()["id"], "name": "Gold", "slug": "gold", "hold_days": 14},
        format="json",
    ).json()
    draft = api.post("/api/rulesets", {"group": new_group["id"]}, format="json").json()
    assert draft["status"] == "draft" and draft["version"] == 1
    rule = api.post(
        f"/api/rulesets/{draft['id']}/rules",
        {"kind": "percent", "percent": "12.5", "countries": "DE"},
        format="json",
    )
    assert rule.status_code == 201, rule.content
    preview = api.post(
        f"/api/rulesets/{draft['id']}/preview",
        {"quantity": 2, "unit_price": "10.00", "currency": "EUR", "country": "DE", "title": "Tote"},
        format="json",
    ).json()
    assert preview["amount"] == "2.50" and "would earn €2.50 under rule 1" in preview["sentence"]
    published = api.post(f"/api/rulesets/{draft['id']}/publish").json()
    assert published["status"] == "published" and published["lowers"] is False
    again = api.post(
        f"/api/rulesets/{draft['id']}/rules", {"kind": "percent", "percent": "1"}, format="json"
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_transition"

    order = api.get(f"/api/orders/{attribution.order_id}").json()
    assert order["attribution"]["creator_handle"] == "maya"
    assert order["attribution"]["signals"][0]["kind"] == "self_referral"
    listed = api.get("/api/attributions", {"creator": attribution.creator_id}).json()
    assert listed["count"] == 1 and listed["results"][0]["rule"] == "code"
    rerun = api.post(
        f"/api/attributions/orders/{attribution.order_id}/decide",
        {"reason": "Check."},
        format="json",
    )
    assert rerun.status_code == 200 and rerun.json()["version"] == 1
    missing = api.post("/api/attributions/orders/99999999/decide", {}, format="json")
    assert missing.status_code == 404
    schema = api.get("/api/schema/").content.decode()
    for path in ("/api/programs", "/api/rulesets/{id}/publish", "/api/attributions"):
        assert path in schema


def test_attribution_recompute_reports_and_applies(credited, capsys):
    attribution, _ = credited
    from creators.models import DiscountCode

    DiscountCode.objects.update(active=False)  # the code stops counting: the click wins
    call_command("attribution_recompute", "--order", str(attribution.order_id), "--dry-run")
    out = capsys.readouterr().out
    assert "would change: code → @maya ⇒ order_click → @maya" in out
    assert Attribution.objects.get(pk=attribution.pk).version == 1
    call_command("attribution_recompute", "--since", "2000-01-01")
    assert "1 changed" in capsys.readouterr().out
    assert Attribution.objects.get(pk=attribution.pk).rule == "order_click"


def test_ledger_verify_checks_commissions_against_attributions(credited):
    from sales import ledger

    assert ledger.verify()["ok"]
    Attribution.objects.filter(pk=credited[0].pk).update(commission_total=Decimal(1))
    problems = ledger.verify()["problems"]
    assert any("recorded 1 of commission" in p for p in problems)
