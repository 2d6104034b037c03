"""On-site reviews: verified buyers only, one per order line, media through moderation, the
product page and its JSON-LD from published reviews only, spam guards."""

import json
from decimal import Decimal

import pytest
from bs4 import BeautifulSoup
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import ApplicationError
from tests.ugc.factories import BlocklistEntryFactory, UserFactory, pattern_bytes
from tests.ugc.review_helpers import paid_line, review_path
from ugc import services
from ugc.models import Review, UGCItem, UGCRights
from ugc.reviews import order_line_of, review_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The review rate limit counts in the shared cache: each test starts from zero."""
    from django.core.cache import cache

    cache.clear()


def photo(seed, name="photo.png"):
    return SimpleUploadedFile(name, pattern_bytes(seed, size=(640, 640)), "image/png")


def form(**fields):
    return {"stars": "5", "title": "Warm and light", "body": "Wore it up the ridge in the rain.",
            "name": "Ada", "consent": "yes", **fields}  # fmt: skip


def json_ld(html: bytes) -> dict:
    soup = BeautifulSoup(html, "lxml")
    return json.loads(soup.find("script", type="application/ld+json").string)


def test_verified_review_with_photos_through_moderation_to_the_page_and_json_ld(
    client, django_capture_on_commit_callbacks
):
    line = paid_line()
    moderator = UserFactory(username="mina")
    page = client.get(review_path(line))
    assert page.status_code == 200 and b"Verified buyer" in page.content

    with django_capture_on_commit_callbacks(execute=True):  # the media jobs run
        done = client.post(review_path(line), {**form(), "media": [photo(1), photo(2, "b.png")]})
    assert done.status_code == 200 and b"Thank you for your review" in done.content
    review = Review.objects.get()
    assert (review.stars, review.order_line_id, review.status) == (5, line.pk, "pending")
    assert review.verified_buyer
    items = [m.item for m in review.media.order_by("position")]
    assert [i.source for i in items] == ["review", "review"]
    assert all(i.status == UGCItem.Status.QUEUED for i in items)
    rights = UGCRights.objects.get(item=items[0])
    assert rights.allowed_channels == ["site"] and "Ada" in rights.proof_text
    assert items[0].product_maps.get().product == line.product

    product_url = f"/products/{line.product.slug}/"
    assert b"Warm and light" not in client.get(product_url).content  # pending: not shown
    assert "aggregateRating" not in json_ld(client.get(product_url).content)

    services.review_publish(review_id=review.pk, actor=moderator)
    for item in items[:1]:  # one photo published, the other still in the queue
        services.ugc_claim(item_id=item.pk, moderator=moderator)
        services.ugc_approve(item_id=item.pk, moderator=moderator)
        services.ugc_publish(item_id=item.pk, actor=moderator)
    other = paid_line(line.product, external_id="1002")
    Review.objects.create(product=line.product, order_line_id=other.pk, stars=4, title="Good",
                          body="Fine.", reviewer_name="Bo", consent_text="x",
                          status="published", published_at=review.created_at)  # fmt: skip
    Review.objects.create(product=line.product, order_line_id=None, stars=1, title="Spam",
                          body="Bad.", reviewer_name="Z", consent_text="x")  # fmt: skip

    html = client.get(product_url).content
    soup = BeautifulSoup(html, "lxml")
    assert soup.select_one(".reviews-average").text == "4.5"
    assert soup.select_one(".reviews-count").text == "2 reviews"
    first = soup.select(".review")[0]
    assert "Verified buyer" in first.text and "Warm and light" in first.text
    assert len(first.select(".review-media img")) == 1  # the published photo only
    assert "Spam" not in soup.text
    data = json_ld(html)
    assert data["aggregateRating"] == {"@type": "AggregateRating", "ratingValue": "4.5",
                                       "reviewCount": 2, "bestRating": 5,
                                       "worstRating": 1}  # fmt: skip
    assert sorted(r["reviewRating"]["ratingValue"] for r in data["review"]) == [4, 5]
    assert {r["author"]["name"] for r in data["review"]} == {"Ada", "Bo"}


def test_one_review_per_order_line(client):
    line = paid_line()
    assert client.post(review_path(line), form()).status_code == 200
    again = client.get(review_path(line))
    assert b"reviewed" in again.content and b"review-form" not in again.content
    with pytest.raises(ApplicationError, match="reviewed this purchase already"):
        services.review_submit(product_id=line.product_id, order_line_id=line.pk, stars=3,
                               title="t", body="b", reviewer_name="n", consent=True)  # fmt: skip
    assert Review.objects.count() == 1


@pytest.mark.parametrize("status", ["pending", "cancelled", "refunded"])
def test_only_paid_orders_are_reviewed(client, status):
    line = paid_line(status=status)
    response = client.post(review_path(line), form())
    assert response.status_code == 404 and b"Only paid orders" in response.content
    assert not Review.objects.exists()


def test_forged_or_altered_links_are_refused(client, settings):
    line = paid_line()
    token = review_token(line.pk)
    assert order_line_of(token) == line.pk
    assert order_line_of(token[:-2] + "xx") is None
    forged = signing.dumps({"line": line.pk}, salt="other", compress=True)
    assert client.get(f"/reviews/write/{forged}/").status_code == 404
    settings.UGC_REVIEW_LINK_DAYS = 0
    assert order_line_of(token) is None  # expired


def test_bad_input_names_the_problem_and_stores_nothing(client):
    line = paid_line()
    cases = [
        (form(stars="7"), b"1 to 5 stars"),
        (form(consent=""), b"Tick the box"),
        (form(title=""), b"This field cannot be blank"),
        ({**form(), "media": [photo(n, f"{n}.png") for n in range(7)]}, b"at most 6 photos"),
        ({**form(), "media": [SimpleUploadedFile("x.png", b"<html>", "image/png")]},
         b"not a photo or a video"),
    ]  # fmt: skip
    for data, message in cases:
        response = client.post(review_path(line), data)
        assert response.status_code == 400 and message in response.content, message
    assert not Review.objects.exists() and not UGCItem.objects.exists()


def test_a_refused_later_file_leaves_no_file_behind(client, settings):
    from pathlib import Path

    line = paid_line()
    small = SimpleUploadedFile("small.png", pattern_bytes(9, size=(100, 100)), "image/png")
    response = client.post(review_path(line), {**form(), "media": [photo(1), small]})
    assert response.status_code == 400 and b"at least 320" in response.content
    assert not Review.objects.exists() and not UGCItem.objects.exists()
    stored = [p for p in Path(settings.PRIVATE_MEDIA_ROOT).rglob("*") if p.is_file()]
    assert stored == []


def test_blocklist_flags_or_rejects_and_networks_are_rate_limited(client, settings):
    settings.UGC_REVIEW_RATE_PER_HOUR = 2
    BlocklistEntryFactory(term="scam", action="reject")
    BlocklistEntryFactory(term="meh", action="flag")
    product = paid_line().product
    lines = [paid_line(product, external_id=str(2000 + n)) for n in range(3)]
    client.post(review_path(lines[0]), form(body="Total scam, avoid"))
    client.post(review_path(lines[1]), form(body="meh it is fine"))
    limited = client.post(review_path(lines[2]), form())
    assert limited.status_code == 429 and b"Too many reviews" in limited.content
    rejected, flagged = Review.objects.order_by("pk")
    assert rejected.status == "rejected" and rejected.events.last().action == "reject"
    assert flagged.status == "pending" and flagged.flags[0]["code"] == "blocklist"
    assert Review.objects.count() == 2
    with pytest.raises(ApplicationError, match="Cannot publish"):
        services.review_publish(review_id=rejected.pk, actor=None)


def test_summary_rounds_half_up():
    from ugc.reviews import review_summary

    line = paid_line()
    for n, stars in enumerate((5, 4, 4)):
        Review.objects.create(product=line.product, order_line_id=9000 + n, stars=stars,
                              title="t", body="b", reviewer_name="n", consent_text="x",
                              status="published")  # fmt: skip
    assert review_summary(line.product) == {"count": 3, "average": Decimal("4.3")}


def test_checkout_confirmation_links_each_line_to_its_review(client):
    from sales.models import Reservation

    line = paid_line()
    reservation = Reservation.objects.filter(pk=-1).first()
    assert reservation is None  # the page needs a session: checked through the view's helper
    from sales.views import _review_links

    links = _review_links(line.order, None)
    assert links and links[0][0] == "Trail Jacket"
    assert order_line_of(links[0][1].rstrip("/").rsplit("/", 1)[-1]) == line.pk
