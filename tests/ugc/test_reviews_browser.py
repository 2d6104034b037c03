"""Leaving a review in a real browser: the link from the order, stars, text, a photo and the
consent box; then, once moderated, the review on the product page."""

import pytest
from playwright.sync_api import expect

from tests.ugc.factories import UserFactory, pattern_bytes
from tests.ugc.review_helpers import paid_line, review_path
from ugc import services
from ugc.models import Review

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_buyer_leaves_a_review_with_a_photo(page, tmp_path):
    from django.core.cache import cache

    cache.clear()  # the review rate limit counts per network in the shared cache
    line = paid_line()
    photo = tmp_path / "jacket.png"
    photo.write_bytes(pattern_bytes(3, size=(640, 640)))

    page.goto(review_path(line))
    expect(page.locator("h1")).to_contain_text("Review Trail Jacket")
    expect(page.locator(".verified-buyer")).to_contain_text("Verified buyer")
    page.get_by_label("4★").check()
    page.fill("#review-title", "Keeps the wind out")
    page.fill("#review-body", "Light, packs small, and the hood stays put.")
    page.fill("#review-name", "Lena")
    page.set_input_files("#review-media", str(photo))
    page.get_by_role("button", name="Send my review").click()
    # The browser refuses to send without consent (required checkbox): nothing is stored.
    assert not Review.objects.exists()
    page.check("#review-consent")
    page.get_by_role("button", name="Send my review").click()

    expect(page.locator("h1")).to_contain_text("Thank you for your review")
    review = Review.objects.get()
    assert (review.stars, review.reviewer_name, review.media.count()) == (4, "Lena", 1)

    services.review_publish(review_id=review.pk, actor=UserFactory(username="mod"))
    page.goto(f"/products/{line.product.slug}/")
    reviews = page.locator("#reviews")
    expect(reviews.locator(".reviews-average")).to_have_text("4.0")
    expect(reviews.locator(".review-title")).to_have_text("Keeps the wind out")
    expect(reviews.locator(".verified-buyer")).to_be_visible()
    assert page.js_errors == []
