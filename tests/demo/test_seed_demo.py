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


def test_seed_demo_makes_a_live_feed_and_a_moderation_queue(django_capture_on_commit_callbacks):
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


def test_seed_demo_makes_a_demo_ledger_once(django_capture_on_commit_callbacks):
    """Issue 14: demo orders through the custom checkout's webhooks, credited to the demo
    creators: two commissions to pay, one held for review; twice changes nothing."""
    from sales import ledger
    from sales.models import Commission, LedgerTransaction, PayoutDetails

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production", "--skip-ugc", stdout=out)
    assert "Demo ledger: 3 commissions (2 available to pay, 1 held for review)" in out.getvalue()
    assert PayoutDetails.objects.filter(complete=True).count() == 2
    before = (Commission.objects.count(), LedgerTransaction.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production", "--skip-ugc", stdout=io.StringIO())
    assert (Commission.objects.count(), LedgerTransaction.objects.count()) == before
    assert ledger.verify()["ok"]
