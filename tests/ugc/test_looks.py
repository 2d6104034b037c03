"""Shop the look: tags on an item's mappings, through `ugc_tag_product`, and in the feed."""

from decimal import Decimal

import pytest

from core.errors import ApplicationError
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.ugc.factories import publishable_item, with_card_links
from ugc import selectors, services
from ugc.models import ModerationEvent, UGCItem, UGCProductMap


@pytest.mark.django_db
def test_a_tag_is_placed_on_every_mapping_of_the_product_and_the_feed_shows_it():
    item = publishable_item(status=UGCItem.Status.PUBLISHED)
    product = item.product_maps.get().product
    VariantFactory(product=product, price="10.00")
    services.ugc_map_product(item_id=item.pk, product=product, placement="home_feed")
    with_card_links(item)

    assert services.ugc_tag_product(item_id=item.pk, product_id=product.pk, x="0.3", y=0.7) == 2
    tags = set(UGCProductMap.objects.filter(item=item).values_list("tag_x", "tag_y"))
    assert tags == {(Decimal("0.3000"), Decimal("0.7000"))}
    entry = selectors.feed_page().items[0]["products"][0]
    assert entry["tag"] == {
        "x": 0.3, "y": 0.7, "left": "30.00%", "top": "70.00%", "start_s": None, "end_s": None
    }  # fmt: skip
    assert ModerationEvent.objects.filter(item=item, action="tag_product").count() == 1

    services.ugc_tag_product(item_id=item.pk, product_id=product.pk, x=None, y=None)
    assert selectors.feed_page().items[0]["products"][0]["tag"] is None


@pytest.mark.django_db
def test_a_video_tag_has_a_time_range_and_bad_tags_are_refused_and_change_nothing():
    video = publishable_item(media_type=UGCItem.MediaType.VIDEO)
    photo = publishable_item()
    v_product = video.product_maps.get().product_id
    p_product = photo.product_maps.get().product_id
    services.ugc_tag_product(
        item_id=video.pk, product_id=v_product, x=0.5, y=0.5, start_s="1.5", end_s=4
    )
    mapping = UGCProductMap.objects.get(item=video)
    assert (mapping.tag_start_s, mapping.tag_end_s) == (Decimal("1.50"), Decimal("4.00"))

    bad = [
        (video.pk, v_product, dict(x=1.2, y=0.5), "x"),
        (video.pk, v_product, dict(x=0.5, y=None), "y"),
        (video.pk, v_product, dict(x="left", y=0.5), "x"),
        (video.pk, v_product, dict(x=0.5, y=0.5, start_s=4, end_s=2), "end_s"),
        (photo.pk, p_product, dict(x=0.5, y=0.5, start_s=1), "start_s"),
    ]
    for item_id, product_id, tag, field in bad:
        with pytest.raises(ApplicationError) as caught:
            services.ugc_tag_product(item_id=item_id, product_id=product_id, **tag)
        assert field in caught.value.fields, (tag, caught.value.fields)
    mapping.refresh_from_db()
    assert (mapping.tag_x, mapping.tag_start_s) == (Decimal("0.5000"), Decimal("1.50"))
    with pytest.raises(ApplicationError, match="not mapped"):
        services.ugc_tag_product(item_id=photo.pk, product_id=ProductFactory().pk, x=0, y=0)


@pytest.mark.django_db
def test_items_mapped_before_tags_keep_their_single_product_card():
    with_card_links(publishable_item(status=UGCItem.Status.PUBLISHED))
    products = selectors.feed_page().items[0]["products"]
    assert len(products) == 1 and products[0]["tag"] is None
