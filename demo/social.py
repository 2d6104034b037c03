"""Demo data for issue 18: an Instagram source with pulled posts, a TikTok source with two
pulled videos, a rights request waiting for its author, verified reviews on a product page,
and a creator's product request.

The pull is real: the local Instagram Graph API (`testservers/instagram.py`, with the demo
account and token that `python -m testservers instagram --port 8805` also serves) runs in
this process for the seeding, with three posts showing demo products, and they come through
the Graph client, the safe fetcher and `ugc_social_ingest` like any pull. With the stand-alone
server running and `META_GRAPH_URL` pointed at it, *Pull now* in the console pulls its own
four demo posts the same way. The TikTok pull is real too: the local TikTok for Developers
server (`testservers/tiktok_display.py`, the token `python -m testservers tiktok_display
--port 8806` also accepts) with two videos whose covers show demo products.
"""

import logging
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.test import override_settings
from django.utils import timezone

from catalog.models import Product
from core.errors import ApplicationError
from creators import services as creator_services
from creators.models import Creator, ProductRequest
from integrations import social
from integrations.models import Connection, SocialSource
from sales.models import Order, OrderLine, SalesChannel
from testservers import instagram, tiktok_display
from ugc import services
from ugc.models import Review, RightsRequest, UGCItem

logger = logging.getLogger(__name__)

DEMO_CONNECTION_ACCOUNT = "demo-instagram"
DEMO_POSTS = [
    ("sunny.days", "Cloud Knit Hoodie", "Sunday hoodie weather with @demo_brand #demobrand"),
    ("trail_mix", "Trail Runner 2", "New trail shoes, first muddy run #demobrand @demo_brand"),
    ("cafe_lena", "Ceramic Pour-Over Set", "Slow mornings with my pour-over @demo_brand"),
]
DEMO_VIDEOS = [
    ("Trail Runner 2", "Trail Runner 2 on a muddy morning loop #demobrand"),
    ("Cloud Knit Hoodie", "Three ways to wear the Cloud Knit Hoodie #demobrand"),
]
DEMO_REVIEWS = [
    ("Trail Runner 2", 5, "Grippy and light", "Ran a muddy 15k and never slipped.", "Sam"),
    ("Trail Runner 2", 4, "Comfortable from day one", "Runs a little narrow.", "Ines"),
]


@dataclass
class SocialDemo:
    pulled: int = 0
    videos: int = 0
    requests: int = 0
    reviews: int = 0
    product_requests: int = 0
    problems: list[str] = field(default_factory=list)


def _picture(product_title: str, handle: str, seed: int) -> bytes:
    from demo.management.commands.seed_demo import PRODUCTS, product_picture
    from demo.ugc import PORTRAIT, jpeg_bytes, ugc_picture

    colour, shape = next((r[3], r[4]) for r in PRODUCTS if r[0] == product_title)
    picture = product_picture(product_title, colour, shape)
    scene = ugc_picture(picture, size=PORTRAIT, colour=colour, handle=handle, seed=seed)
    return jpeg_bytes(scene)


def _connection(server) -> Connection:
    connection = Connection.objects.filter(
        platform="meta", account_id=DEMO_CONNECTION_ACCOUNT
    ).first()
    if connection is None:
        connection = Connection.objects.create(
            platform="meta",
            status=Connection.Status.ACTIVE,
            account_id=DEMO_CONNECTION_ACCOUNT,
            account_name="Demo Instagram (local test server)",
            access_token=instagram.DEMO_TOKEN,
            scopes=["instagram_basic", "instagram_manage_comments"],
        )
    return connection


def seed_social_pull(result: SocialDemo) -> None:
    server = instagram.DemoServer()
    server.media.clear()  # the demo posts below, with pictures of the demo products
    for n, (handle, product, caption) in enumerate(DEMO_POSTS):
        server.add_media(
            username=handle, caption=caption, hashtags=("demobrand",),
            tagged=(instagram.DEMO_USER,), content=_picture(product, handle, 40 + n),
            content_type="image/jpeg", timestamp=1_796_000_000 - n * 3600,
        )  # fmt: skip
    server.start()
    try:
        with override_settings(
            META_GRAPH_URL=server.url, META_APP_SECRET=server.app_secret,
            PREVIEW_FETCH_ALLOWED_HOSTS=["127.0.0.1"],
        ):  # fmt: skip
            connection = _connection(server)
            source, _ = SocialSource.objects.get_or_create(
                connection=connection, kind=SocialSource.Kind.IG_TAGS,
                ig_user_id=instagram.DEMO_USER, hashtag="",
                defaults={"interval_minutes": 60, "media_types": ["image", "video"]},
            )  # fmt: skip
            pull = social.social_source_pull(source_id=source.pk)
            result.pulled = pull.new
            result.problems += pull.errors
            _seed_rights_request(source, result)
    finally:
        server.stop()


def _tiktok_connection() -> Connection:
    connection = Connection.objects.filter(
        platform="tiktok", account_id=tiktok_display.DEMO_OPEN_ID
    ).first()
    if connection is None:
        connection = Connection.objects.create(
            platform="tiktok",
            status=Connection.Status.ACTIVE,
            account_id=tiktok_display.DEMO_OPEN_ID,
            account_name="Demo TikTok @demo_brand_tt (local test server)",
            access_token=tiktok_display.DEMO_ACCESS_TOKEN,
            refresh_token=tiktok_display.DEMO_REFRESH_TOKEN,
            scopes=["user.info.basic", "user.info.profile", "video.list"],
            settings={"username": "demo_brand_tt", "display_name": "Demo Brand"},
        )
    return connection


def seed_tiktok_pull(result: SocialDemo) -> None:
    """Two videos of the demo TikTok account, pulled through the Display API client."""
    server = tiktok_display.DemoServer()
    server.videos.clear()  # the demo videos below, with covers of the demo products
    for n, (product, text) in enumerate(DEMO_VIDEOS):
        server.add_video(
            tiktok_display.DEMO_OPEN_ID, description=text, title=product,
            cover=_picture(product, "demo_brand_tt", 50 + n), create_time=1_796_000_000 - n * 3600,
        )  # fmt: skip
    server.start()
    try:
        with override_settings(
            TIKTOK_API_URL=server.url, PREVIEW_FETCH_ALLOWED_HOSTS=["127.0.0.1"]
        ):
            source, _ = SocialSource.objects.get_or_create(
                connection=_tiktok_connection(), kind=SocialSource.Kind.TIKTOK_VIDEOS,
                ig_user_id=tiktok_display.DEMO_OPEN_ID, hashtag="",
                defaults={"interval_minutes": 60},
            )  # fmt: skip
            pull = social.social_source_pull(source_id=source.pk)
            result.videos = pull.new
            result.problems += pull.errors
    finally:
        server.stop()
    items = UGCItem.objects.filter(source=UGCItem.Source.TIKTOK).order_by("pk")
    for item, (product, _) in zip(items, DEMO_VIDEOS, strict=False):
        _map_and_process(item, product)


def _map_and_process(item: UGCItem, product_title: str) -> None:
    product = Product.objects.filter(title=product_title).order_by("pk").first()
    if product and not item.product_maps.exists():
        services.ugc_map_product(item_id=item.pk, product=product)
    if item.media_status != UGCItem.MediaStatus.READY:
        services.ugc_media_process(item_id=item.pk)


def _seed_rights_request(source: SocialSource, result: SocialDemo) -> None:
    """The first pulled post waits for its author's answer (a comment sent on Instagram)."""
    from demo.ugc import demo_moderator

    items = {i.author_handle: i for i in UGCItem.objects.filter(source="instagram")}
    for handle, product, _ in DEMO_POSTS:
        if handle in items:
            _map_and_process(items[handle], product)
    first = items.get(DEMO_POSTS[0][0])
    if first is None or RightsRequest.objects.filter(item=first).exists():
        return
    request = services.rights_request_create(item_id=first.pk, actor=demo_moderator())
    social.rights_request_send(request_id=request.pk)
    result.requests += 1


def _demo_order_line(product: Product, n: int) -> OrderLine | None:
    channel = SalesChannel.objects.order_by("pk").first()
    if channel is None:
        return None
    order, _ = Order.objects.get_or_create(
        channel=channel, external_id=f"DEMO-REVIEW-{n}",
        defaults={"name": f"#R{n}", "status": Order.Status.PAID, "currency": channel.currency,
                  "paid_at": timezone.now()},
    )  # fmt: skip
    line = order.lines.first()
    if line is None:
        line = OrderLine.objects.create(order=order, product=product, title=product.title,
                                        quantity=1)  # fmt: skip
    return line


def seed_reviews(result: SocialDemo) -> None:
    from demo.ugc import demo_moderator

    moderator = demo_moderator()
    for n, (title, stars, heading, body, name) in enumerate(DEMO_REVIEWS, start=1):
        product = Product.objects.filter(title=title).order_by("pk").first()
        line = _demo_order_line(product, n) if product else None
        if line is None or Review.objects.filter(order_line_id=line.pk).exists():
            continue
        photo = ContentFile(_picture(title, name.lower(), 60 + n), name=f"review-{n}.jpg")
        review = services.review_submit(
            product_id=product.pk, order_line_id=line.pk, stars=stars, title=heading, body=body,
            reviewer_name=name, consent=True, media_files=[photo],
        )  # fmt: skip
        services.review_publish(review_id=review.pk, actor=moderator)
        # The photos wait in the item queue (source "review"): publishing one there shows it
        # under the review on the product page.
        for media in review.media.select_related("item"):
            services.ugc_media_process(item_id=media.item_id)
        result.reviews += 1


def seed_product_request(result: SocialDemo) -> None:
    from demo.portal import DEMO_CREATOR_HANDLE

    creator = Creator.objects.filter(handle=DEMO_CREATOR_HANDLE).first()
    product = Product.objects.filter(title="Recycled Yoga Mat").first()
    if creator is None or product is None:
        return
    if ProductRequest.objects.filter(creator=creator, product=product).exists():
        return
    creator_services.product_request_create(
        creator_id=creator.pk, product_id=product.pk,
        note="A morning flow reel for my 40k followers.",
    )  # fmt: skip
    result.product_requests += 1


def seed_social() -> SocialDemo:
    """Every issue-18 demo row; a step the services refuse is reported, not fatal."""
    result = SocialDemo()
    for step in (seed_social_pull, seed_tiktok_pull, seed_reviews, seed_product_request):
        try:  # each service call is its own transaction (a pull records calls durably)
            step(result)
        except ApplicationError as exc:
            result.problems.append(f"{step.__name__}: {exc.message}")
    return result
