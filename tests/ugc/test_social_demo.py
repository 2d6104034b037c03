"""`seed_demo` shows issue 18: pulled Instagram posts and TikTok videos, a waiting rights
request, published
reviews on a product page and a creator's product request; seeding again adds nothing."""

import io

import pytest
from django.core.management import call_command

from creators.models import ProductRequest
from integrations.models import PulledPost, SocialSource
from ugc.models import Review, RightsRequest, UGCItem

pytestmark = pytest.mark.django_db


def test_seed_demo_pulls_posts_asks_for_rights_and_shows_reviews(client):
    out = io.StringIO()
    call_command("seed_demo", "--allow-production", stdout=out)
    assert "Demo social: 3 Instagram posts and 2 TikTok videos pulled" in out.getvalue()

    source = SocialSource.objects.get(kind="ig_tags")
    assert source.last_counts["new"] == 3
    assert PulledPost.objects.filter(source=source).count() == 3
    tiktok = SocialSource.objects.get(kind="tiktok_videos")
    assert tiktok.last_counts["new"] == 2 and tiktok.connection.platform == "tiktok"
    videos = UGCItem.objects.filter(source="tiktok", media_status="ready")
    assert videos.count() == 2
    assert all(v.social_post.permalink.startswith("https://www.tiktok.com/@demo_brand_tt/")
               for v in videos)  # fmt: skip
    assert all(v.product_maps.exists() for v in videos)
    request = RightsRequest.objects.get()
    assert request.status == "requested" and request.sent_ref  # commented on the post
    assert UGCItem.objects.filter(source="instagram", media_status="ready").count() == 3
    assert Review.objects.filter(status="published").count() == 2
    page = client.get("/products/trail-runner-2/")
    assert b"Grippy and light" in page.content and b"Verified buyer" in page.content
    assert b'"aggregateRating"' in page.content
    assert ProductRequest.objects.get().status == "requested"
    photos = UGCItem.objects.filter(source="review")
    assert photos.count() == 2 and {p.status for p in photos} == {"queued"}
    assert {p.media_status for p in photos} == {"ready"}

    call_command("seed_demo", "--allow-production", stdout=io.StringIO())
    assert (UGCItem.objects.filter(source="instagram").count(), RightsRequest.objects.count(),
            Review.objects.count(), ProductRequest.objects.count()) == (3, 1, 2, 1)  # fmt: skip
    assert UGCItem.objects.filter(source="tiktok").count() == 2
