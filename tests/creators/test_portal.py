"""The portal's pages: home, links, codes, content, earnings and settings, for one creator."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from attribution.services import attribution_decide
from creators import services
from creators.models import DiscountCode
from links.models import LinkDailyStats, ShortLink
from sales import commissions
from sales.ledger_models import Commission
from tests.catalog.factories import ProductFactory
from tests.creators.factories import click, creator_account, link_for, log_in, paid_order
from tests.sales.ledger_helpers import give_details
from tests.ugc.factories import media_upload, pattern_bytes
from ugc.models import RejectionReason, UGCItem, UGCRights

pytestmark = pytest.mark.django_db
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


@pytest.fixture
def maya(program, client):
    creator = creator_account(
        program[1], email="maya@example.com", name="Maya", handle="maya", affiliate_code="MAYA"
    )
    log_in(client, creator)
    return creator


def test_home_counts_clicks_orders_and_conversion_and_draws_the_chart(client, maya):
    link = link_for(maya)
    for _ in range(4):
        click(link)
    click(link, bot=True)
    LinkDailyStats.objects.create(link=link, day=timezone.now().date(), clicks=4)
    DiscountCode.objects.create(
        code="MAYA10", creator=maya, program_id=maya.memberships.get().program_id
    )
    order = paid_order(product=link.product, codes=["MAYA10"])
    attribution_decide(order_id=order.pk)
    page = client.get("/creators/")
    assert page.status_code == 200
    this_month = page.context["periods"][0]
    assert (this_month.clicks, this_month.orders, this_month.conversion) == (4, 1, "25.0 %")
    html = page.content.decode()
    assert "<svg" in html and 'class="bar"' in html
    assert "4 clicks and 1 orders in the last 30 days" in html
    assert page.context["top_links"] == [link]
    assert page.context["balances"][0]["pending"] == "$10.00"


def test_home_lists_what_needs_attention(client, maya, program):
    order = paid_order()
    commission = commissions.commission_post(
        key="t:1",
        order_id=order.pk,
        creator_id=maya.pk,
        base=10000,
        amount=1000,
        hold_days=30,
        review_reason="Self-referral.",
    )
    assert commission.status == Commission.Status.HELD
    item = UGCItem.objects.create(
        source="portal", creator=maya, media_type="image", status="rejected", file_sha256="x" * 64
    )
    item.rejection_reason = RejectionReason.objects.create(label="Blurry")
    item.save()
    attention = client.get("/creators/").context["attention"]
    assert [a.kind for a in attention] == ["held", "rejected", "payout"]
    assert attention[-1].url == "portal:payouts"  # the Payouts page, where details are given
    give_details(maya, tax=False)  # no tax form yet: still missing
    assert "payout" in [a.kind for a in client.get("/creators/").context["attention"]]
    give_details(maya)
    kinds = [a.kind for a in client.get("/creators/").context["attention"]]
    assert "payout" not in kinds


def test_a_creator_makes_a_link_with_their_code_and_utm_defaults(client, maya, program):
    product = ProductFactory(title="Glow Serum")
    answer = client.post(
        "/creators/links/", {"program": program[0].pk, "product": product.pk, "platform": "tiktok"}
    )
    link = ShortLink.objects.get(creator=maya)
    assert answer.status_code == 302 and answer["Location"] == f"/creators/links/{link.pk}/"
    assert (
        link.product,
        link.utm_source,
        link.utm_medium,
        link.utm_campaign,
        link.utm_content,
    ) == (product, "tiktok", "creator", "glow", "maya")
    page = client.get(answer["Location"])
    html = page.content.decode()
    assert f"https://shop.example.com/p/{link.code}" in html
    assert f"/p/{link.code}/qr.png?download=1" in html and "data-copy" in html
    # The redirect carries the creator's affiliate code.
    redirect = client.get(f"/p/{link.code}", HTTP_USER_AGENT=PHONE)
    assert "ref=MAYA" in redirect["Location"]


def test_custom_link_codes_only_where_the_program_allows_them(client, maya, program):
    product = ProductFactory()
    form = {
        "program": program[0].pk,
        "product": product.pk,
        "platform": "tiktok",
        "code": "maya-glow",
    }
    refused = client.post("/creators/links/", form)
    assert refused.status_code == 400
    assert "does not allow custom link codes" in refused.content.decode()
    services.program_options_save(program_id=program[0].pk, allow_custom_slugs=True)
    assert client.post("/creators/links/", form).status_code == 302
    assert ShortLink.objects.get(creator=maya).code == "maya-glow"
    taken = client.post("/creators/links/", form)
    assert taken.status_code == 400 and "This code is taken." in taken.content.decode()


def test_a_link_page_breaks_clicks_down_by_day_country_device_and_source(client, maya):
    link = link_for(maya)
    click(link, country="DE", device_type="mobile", in_app="tiktok", is_unique=True)
    click(link, country="DE", device_type="mobile", utm_source="instagram")
    click(link, country="FR", device_type="desktop", referrer_host="blog.example")
    click(link, country="US", bot=True)
    groups = {
        g["name"]: g["rows"] for g in client.get(f"/creators/links/{link.pk}/").context["groups"]
    }
    assert [(r["key"], r["clicks"]) for r in groups["country"]] == [("DE", 2), ("FR", 1)]
    assert {r["key"]: r["clicks"] for r in groups["device"]} == {"desktop": 1, "mobile": 2}
    assert {r["key"]: r["clicks"] for r in groups["source"]} == {
        "tiktok": 1,
        "instagram": 1,
        "blog.example": 1,
    }
    assert sum(r["clicks"] for r in groups["day"]) == 3


def test_the_links_list_costs_the_same_queries_for_more_links(client, maya, query_budget):
    link_for(maya)
    queries = query_budget(client, "/creators/links/", lambda: [link_for(maya) for _ in range(5)])
    assert queries <= 12


def test_codes_show_their_uses_and_a_custom_code_request_waits_for_the_merchant(
    client, maya, program, owner_client
):
    code = DiscountCode.objects.create(code="MAYA10", creator=maya, program=program[0])
    attribution_decide(order_id=paid_order(codes=["MAYA10"]).pk)
    page = client.get("/creators/codes/")
    assert [(c.code, c.uses) for c in page.context["codes"]] == [("MAYA10", 1)]
    answer = client.post("/creators/codes/", {"program": program[0].pk, "code": "MAYAGLOW"})
    assert answer.status_code == 302
    requested = DiscountCode.objects.get(code="MAYAGLOW")
    assert requested.status == "requested"
    assert "waiting for the shop" in client.get("/creators/codes/").content.decode()
    taken = client.post("/creators/codes/", {"program": program[0].pk, "code": "maya10"})
    assert taken.status_code == 400 and "Taken." in taken.content.decode()
    # The merchant rejects it in the console with a reason the creator reads.
    owner_client.post(
        "/admin/creators/coderequest/",
        {
            "action": "reject",
            "_selected_action": [requested.pk],
            "apply": "1",
            "reason": "Too close to another brand.",
        },
    )
    requested.refresh_from_db()
    assert requested.status == "rejected"
    assert "Too close to another brand." in client.get("/creators/codes/").content.decode()
    assert code.status == "approved"


def submit(client, program, chosen, **changes):
    licence = program[0].content_licences.get()
    data = {
        "program": program[0].pk,
        "licence": licence.pk,
        "accept_licence": "on",
        "caption": "Glowing",
        "products": [p.pk for p in chosen],
        "media_file": media_upload("glow.jpg", pattern_bytes(3, "JPEG", (720, 900)), "image/jpeg"),
    }
    data.update(changes)
    return client.post("/creators/content/new/", {k: v for k, v in data.items() if v is not None})


def test_an_upload_goes_through_ingestion_with_its_rights_and_proof(
    client, maya, program, django_capture_on_commit_callbacks
):
    product = ProductFactory(title="Glow Serum")
    page = client.get("/creators/content/new/")
    assert "You let us show it." in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        answer = submit(client, program, [product])
    item = UGCItem.objects.get()
    assert answer["Location"] == f"/creators/content/{item.pk}/"
    assert (item.source, item.creator, item.status, item.caption) == (
        "portal",
        maya,
        "queued",
        "Glowing",
    )
    assert list(item.product_maps.values_list("product", flat=True)) == [product.pk]
    rights = UGCRights.objects.get(item=item)
    assert rights.consent_method == "creator_agreement"
    assert rights.allowed_channels == ["site", "social"]
    assert "licence v1" in rights.licence_type
    assert "Content licence v1 of Glow Program" in rights.proof_text
    assert "network (keyed hash) " in rights.proof_text and "127.0.0" not in rights.proof_text
    detail = client.get(answer["Location"]).content.decode()
    assert "Waiting for review" in detail and "Withdraw my consent" in detail


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"accept_licence": None}, "Accept the content licence to submit."),
        (
            {"media_file": media_upload("x.jpg", b"<html>not an image</html>", "image/jpeg")},
            "neither a supported image",
        ),
        (
            {"media_file": media_upload("tiny.png", pattern_bytes(1, "PNG", (100, 100)))},
            "each side must be at least",
        ),
        ({"products": None}, "This field is required."),
    ],
)
def test_bad_uploads_say_why_and_store_nothing(client, maya, program, changes, message):
    answer = submit(client, program, [ProductFactory()], **changes)
    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert not UGCItem.objects.exists()


def test_a_duplicate_upload_is_flagged_like_the_consoles(client, maya, program):
    product = ProductFactory()
    submit(client, program, [product])
    submit(client, program, [product])
    assert [i.flag_codes for i in UGCItem.objects.order_by("pk")] == [[], ["duplicate"]]


def test_withdrawing_consent_takes_a_published_item_off_the_feed(client, maya, program):
    from ugc.selectors import publishable_items

    product = ProductFactory()
    submit(client, program, [product])
    item = UGCItem.objects.get()
    UGCItem.objects.filter(pk=item.pk).update(
        status="published", media_status="ready", published_at=timezone.now()
    )
    assert list(publishable_items()) == [item]
    answer = client.post(f"/creators/content/{item.pk}/withdraw/")
    assert answer.status_code == 302
    item.refresh_from_db()
    assert item.status == "archived" and list(publishable_items()) == []
    assert item.rights.revoked_at is not None
    assert "Consent withdrawn" in client.get("/creators/content/").content.decode()


def test_earnings_show_each_commission_with_why_and_the_hold(client, maya, program):
    product = ProductFactory(title="Glow Serum")
    DiscountCode.objects.create(code="MAYA10", creator=maya, program=program[0])
    visit = click(link_for(maya, product), ago=timedelta(days=2))  # the order carries it
    order = paid_order(
        product=product, codes=["MAYA10"], price="59.00", click_id=str(visit.click_id)
    )
    attribution_decide(order_id=order.pk)
    page = client.get("/creators/earnings/")
    (earning,) = page.context["earnings"]
    assert (earning.product, earning.net, earning.status) == ("Glow Serum", "$5.90", "Pending")
    assert earning.explanation == "Your code MAYA10 was used."
    until = order.paid_at + timedelta(days=30)
    assert earning.hold_note == f"Held until {until:%d %b %Y}, in case the order is returned."
    html = page.content.decode()
    assert "Your code MAYA10 was used." in html and "shopper" not in html.lower().replace(
        "the shopper's", ""
    )


def test_a_held_commission_says_why_in_the_creators_words(client, maya, program):
    from attribution.models import FraudSignal

    DiscountCode.objects.create(code="MAYA10", creator=maya, program=program[0])
    attribution_decide(order_id=paid_order(codes=["MAYA10"]).pk)  # no click of hers: a leak
    signal = FraudSignal.objects.get()
    assert signal.kind == "code_leakage"
    (earning,) = client.get("/creators/earnings/").context["earnings"]
    assert earning.status == "On hold for review"
    assert (
        earning.hold_note == f"We are checking this order before it counts: {signal.creator_text}"
    )
    assert signal.merchant_text not in client.get("/creators/earnings/").content.decode()


def test_settings_save_the_profile_and_export_the_data(client, maya):
    profile = {"name": "Maya M.", "handle_tiktok": "@maya", "country": "fr", "notify_content": "on"}
    answer = client.post("/creators/settings/", profile)
    assert answer.status_code == 302
    maya.refresh_from_db()
    assert maya.name == "Maya M." and maya.account.country == "FR"
    assert not maya.account.notify_earnings
    export = client.get("/creators/settings/export/")
    assert export["Content-Disposition"].startswith('attachment; filename="my-data-')
    data = json.loads(export.content)
    assert data["creator"]["name"] == "Maya M." and data["account"]["handles"] == {
        "tiktok": "@maya"
    }
    assert set(data) >= {
        "applications",
        "links",
        "discount_codes",
        "content",
        "commissions",
        "balances",
        "programs",
    }
    bad = client.post("/creators/settings/", {"name": "", "country": "France"})
    assert bad.status_code == 400


def test_the_portal_sends_a_strict_content_security_policy(client, maya):
    policy = client.get("/creators/")["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy
    assert "Content-Security-Policy" in client.get("/creators/login/")
    assert "Content-Security-Policy" not in client.get("/admin/login/")
    assert "private" in client.get("/creators/")["Cache-Control"]
