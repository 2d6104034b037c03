import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Product, ProductImage, Variant
from demo import ugc as demo_ugc
from links.models import ShortLink
from ugc.models import (
    BlocklistEntry,
    ModerationEvent,
    RejectionReason,
    UGCCollectionEntry,
    UGCItem,
    UGCProductMap,
    UGCRights,
)
from ugc.selectors import publishable_items

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        sorted(Product.objects.values_list("slug", "updated_at")),
        sorted(Variant.objects.values_list("sku", "price", "currency", "stock_on_hand")),
        sorted(ProductImage.objects.values_list("image")),
        sorted(ShortLink.objects.values_list("code", "creator__handle", "product__slug")),
        sorted(UGCItem.objects.values_list("external_id", "status", "updated_at", "original")),
        UGCRights.objects.count(),
        UGCProductMap.objects.count(),
        ModerationEvent.objects.count(),
        BlocklistEntry.objects.count(),
        sorted(RejectionReason.objects.values_list("label", "active")),
        sorted(UGCCollectionEntry.objects.values_list("collection__slug", "item_id", "position")),
    )


def test_seed_demo_makes_a_catalog_and_running_it_twice_changes_nothing(
    django_capture_on_commit_callbacks, django_user_model
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production")
    assert Product.objects.count() == 12
    assert ProductImage.objects.count() == 12
    assert set(Variant.objects.values_list("currency", flat=True)) == {"USD", "EUR"}
    assert not ProductImage.objects.filter(thumbnail="").exists()
    creator_links = ShortLink.objects.filter(ugc_item_link__isnull=True)  # not feed cards
    assert creator_links.count() == 6
    assert set(creator_links.values_list("utm_source", flat=True)) == {"tiktok"}
    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("shoploop-demo")
    # Rejecting works out of the box: the default reasons are there.
    assert set(RejectionReason.objects.filter(active=True).values_list("label", flat=True)) == {
        "Off-brand", "Low quality", "No rights", "Offensive", "Wrong product", "Duplicate"
    }  # fmt: skip

    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production")
    assert snapshot() == before
    staff = django_user_model.objects.filter(creator_account__isnull=True)  # creator portal
    assert sorted(staff.values_list("username", flat=True)) == [
        "admin",
        "demo-finance",  # issue 14: approves the payout runs admin makes
        "demo-moderator",
    ]


def test_seed_demo_makes_a_live_feed_and_a_moderation_queue(
    django_capture_on_commit_callbacks, client
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production", stdout=io.StringIO())

    published = UGCItem.objects.filter(status=UGCItem.Status.PUBLISHED)
    assert published.count() == 8
    # The feed's own query shows every published demo item.
    assert set(publishable_items()) == set(published)
    for item in published:
        assert item.media_status == "ready"
        assert item.rights.consent_method == "creator_agreement"
        assert item.rights.allowed_channels == ["site", "social"]
        assert item.product_maps.exists()
        # (then issue 18's demo maps and tags products on demo-1 and demo-5)
        assert list(item.events.values_list("action", "actor__username"))[:6] == [
            ("ingest", "demo-moderator"),
            ("rights_grant", "demo-moderator"),
            ("map_product", "demo-moderator"),
            ("claim", "demo-moderator"),
            ("approve", "demo-moderator"),
            ("publish", "demo-moderator"),
        ]
        assert not [code for code in item.flag_codes if code != "blocklist"]
    kinds = {item.media_manifest["kind"] for item in published}
    assert kinds == ({"image", "video"} if demo_ugc.can_make_video() else {"image"})
    shapes = {round(item.media_manifest["aspect"], 2) for item in published}
    assert {0.8, 0.56} <= shapes  # 4:5 and 9:16

    # Issue 18: a tagged look of three, a time-ranged tag on a video with HLS, a scheduled item.
    look = UGCItem.objects.get(external_id="demo-1")
    tagged = look.product_maps.filter(tag_x__isnull=False)
    assert tagged.values("product").distinct().count() == 3
    if demo_ugc.can_make_video():
        video = UGCItem.objects.get(external_id="demo-5")
        assert video.media_manifest["hls"]["master"]["name"].endswith("/hls/master.m3u8")
        assert video.media_manifest["preview"]["name"].endswith("/preview.mp4")
        assert video.product_maps.filter(tag_end_s__isnull=False).exists()
    scheduled = UGCItem.objects.get(external_id="demo-12")
    assert scheduled.status == UGCItem.Status.APPROVED
    assert scheduled.schedules.get().status == "scheduled"
    # A collection: demo-6 and demo-1 chosen, then the latest Lumen Lab items (demo-1, which
    # has a Lumen Lab product in its look, is not shown twice).
    body = client.get("/api/ugc/collections/weekend-looks").json()
    shown = [UGCItem.objects.get(pk=entry["id"]) for entry in body["items"]]
    assert [item.external_id for item in shown] == ["demo-6", "demo-1", "demo-7", "demo-2"]
    assert client.get("/shop/collections/weekend-looks/").status_code == 200

    queued = UGCItem.objects.filter(status=UGCItem.Status.QUEUED, source=demo_ugc.DEMO_SOURCE)
    assert queued.count() == 3
    flagged = queued.get(external_id="demo-9")
    assert flagged.flag_codes == ["blocklist"]
    assert not UGCRights.objects.filter(item__external_id="demo-10").exists()
    assert all(item.media_status == "ready" for item in queued)


def test_seed_demo_ugc_without_ffmpeg_is_images_only(monkeypatch):
    monkeypatch.setattr(demo_ugc, "can_make_video", lambda: False)
    out = io.StringIO()
    call_command("seed_demo", "--allow-production", stdout=out)
    assert "images only: ffmpeg not found" in out.getvalue()
    assert set(UGCItem.objects.values_list("media_type", flat=True)) == {"image"}
    assert publishable_items().count() == 8


def test_seed_demo_refuses_a_production_database(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("seed_demo")


def test_seed_demo_credits_the_demo_orders_through_attribution_once(
    django_capture_on_commit_callbacks, monkeypatch
):
    """Issues 13 and 14: demo orders through the custom checkout's webhooks, each credited by
    `attribution_decide` through one precedence rule (code, carried click, cookie click,
    content touch), their commissions paid, available and pending in the ledger, and one held
    by a fraud signal in the review queue; running it twice changes nothing."""
    from attribution.models import Attribution, FraudSignal, HeldCommission
    from demo.ledger import EXTERNAL_IDS
    from sales import ledger
    from sales.models import Commission, LedgerTransaction, Payout, PayoutDetails

    monkeypatch.setattr(demo_ugc, "can_make_video", lambda: False)  # images: quicker
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production", stdout=out)
    assert "Demo ledger: 4 commissions (1 paid, 1 available to pay, 1 pending, 1 held" in (
        out.getvalue()
    )
    assert "Demo attribution: orders credited by a code" in out.getvalue()
    assert PayoutDetails.objects.filter(complete=True).count() == 2

    decided = {
        a.order.external_id: (a.rule, a.creator.handle)
        for a in Attribution.objects.filter(order__external_id__in=EXTERNAL_IDS)
    }
    content_creator = decided["demo-ledger-4"][1]
    assert decided == {
        "demo-ledger-1": ("code", "maya-makes"),
        "demo-ledger-2": ("order_click", "leo-lifts"),
        "demo-ledger-3": ("cookie_click", "maya-makes"),
        "demo-ledger-4": ("content", content_creator),
        "demo-ledger-5": ("order_click", "leo-lifts"),
    }
    assert content_creator in ("maya-makes", "leo-lifts")
    status = dict(
        Commission.objects.filter(order__external_id__in=EXTERNAL_IDS).values_list(
            "order__external_id", "status"
        )
    )
    assert status == {
        "demo-ledger-1": "paid",
        "demo-ledger-2": "available",
        "demo-ledger-3": "pending",
        "demo-ledger-4": "pending",
        "demo-ledger-5": "held",
    }
    # The held one was held by the fraud check (a self-referral), and waits in the queue.
    signal = FraudSignal.objects.get(order__external_id="demo-ledger-5")
    assert signal.kind == "self_referral"
    queue = HeldCommission.objects.filter(status="held")
    assert list(queue.values_list("order__external_id", flat=True)) == ["demo-ledger-5"]
    assert not FraudSignal.objects.exclude(order__external_id="demo-ledger-5").exists()
    # Maya's payout: made by admin, approved by demo-finance, paid by hand with a reference.
    payout = Payout.objects.get()
    assert (payout.creator.handle, payout.status) == ("maya-makes", "paid")
    assert payout.run.created_by.username == "admin"
    assert payout.run.approved_by.username == "demo-finance"
    for kind, handle, expected in (
        ("paid", "maya-makes", payout.amount),
        ("available", "leo-lifts", Commission.objects.get(order__external_id="demo-ledger-2").net),
    ):
        creator = Attribution.objects.filter(creator__handle=handle).first().creator
        assert ledger.balance(ledger.creator_account(creator.pk, kind, "USD")) == expected

    before = (
        Commission.objects.count(),
        LedgerTransaction.objects.count(),
        Attribution.objects.count(),
        Payout.objects.count(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production", stdout=io.StringIO())
    assert (
        Commission.objects.count(),
        LedgerTransaction.objects.count(),
        Attribution.objects.count(),
        Payout.objects.count(),
    ) == before
    assert ledger.verify()["ok"]


def test_seed_demo_makes_a_shipped_and_a_delivered_order_once(client):
    """Issue 19: two demo orders with parcels, one delivered, each with its shopper's page."""
    from sales.fulfilment_models import Fulfilment
    from sales.models import Order

    out = io.StringIO()
    call_command("seed_demo", "--allow-production", "--skip-ugc", stdout=out)
    assert "Demo parcels: #demo-ship-1 shipped (1 parcel)" in out.getvalue()
    shipped, delivered = (Order.objects.get(external_id=n) for n in ("demo-ship-1", "demo-ship-2"))
    assert shipped.status == delivered.status == "fulfilled"
    assert shipped.delivered_at is None and delivered.delivered_at is not None
    page = client.get(f"/orders/{delivered.status_token}/")
    assert b"Your order was delivered." in page.content
    call_command("seed_demo", "--allow-production", "--skip-ugc", stdout=io.StringIO())
    assert Fulfilment.objects.count() == 2
