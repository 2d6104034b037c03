"""SKU mapping: which products (or variants) an item is shown beside, and where.

Mapping writes lock the item row first, so they serialise with publishing: a published item
mapped to another product gets that product's card link at once, and keeps at least one
mapping to an active product.
"""

from decimal import Decimal

from django.db import transaction

from core.errors import ApplicationError, full_clean
from ugc.models import UGCItem, UGCProductMap
from ugc.services.feed import ugc_item_link_get_or_create
from ugc.services.moderation import _event, _lock

Status = UGCItem.Status


def ugc_map_product(
    *,
    item_id: int,
    product=None,
    variant=None,
    placement: str = UGCProductMap.Placement.PRODUCT_PAGE,
    confidence: Decimal | int | str = 1,
    pinned: bool = False,
    position: int = 0,
    actor=None,
) -> UGCProductMap:
    """Map an item to a product (or one of its variants) in a placement; updates a mapping."""
    if product is None and variant is not None:
        product = variant.product
    if product is None:
        raise ApplicationError(
            "Choose a product.", code="invalid", fields={"product": ["Choose a product."]}
        )
    if variant is not None and variant.product_id != product.pk:
        raise ApplicationError(
            "This variant belongs to another product.",
            code="variant_mismatch",
            fields={"variant": ["This variant belongs to another product."]},
        )
    with transaction.atomic():
        item = _lock(item_id)
        mapping = UGCProductMap.objects.filter(
            item=item, product=product, placement=placement
        ).first() or UGCProductMap(item=item, product=product, placement=placement)
        mapping.variant = variant
        mapping.confidence = Decimal(str(confidence))
        mapping.pinned = pinned
        mapping.position = position
        full_clean(mapping)
        mapping.save()
        if item.status == Status.PUBLISHED:
            ugc_item_link_get_or_create(item=item, product=product)
        _event(
            item,
            action="map_product",
            actor=actor,
            from_status=item.status,
            reason=f"{product} ({mapping.get_placement_display()})",
        )
    return mapping


def ugc_unmap_product(*, mapping_id: int, actor=None) -> None:
    """Remove a mapping. A published item keeps at least one: archive it first."""
    with transaction.atomic():
        mapping = UGCProductMap.objects.select_related("product").filter(pk=mapping_id).first()
        if mapping is None:
            return
        item = _lock(mapping.item_id)
        others = UGCProductMap.objects.filter(item=item, product__active=True).exclude(
            pk=mapping.pk
        )
        if item.status == Status.PUBLISHED and not others.exists():
            raise ApplicationError(
                f"Item #{item.pk} is published and this is its only mapping to an active "
                "product; archive the item before removing it.",
                code="mapping_required",
            )
        mapping.delete()
        _event(
            item,
            action="unmap_product",
            actor=actor,
            from_status=item.status,
            reason=f"{mapping.product} ({mapping.get_placement_display()})",
        )
