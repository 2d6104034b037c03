"""Shop the look: where each product of an item is in the frame (and, in a video, when).

A product's tag is stored on the item's mappings to it (`UGCProductMap.tag_*`), so the single
product/SKU mapping keeps working unchanged: an untagged mapping is a product in the look's
sheet without a point on the media. Writes lock the item row first, like every UGC service.
"""

from decimal import Decimal, InvalidOperation

from django.db import transaction

from core.errors import ApplicationError, full_clean
from ugc.models import UGCItem, UGCProductMap
from ugc.services.moderation import _event, _lock

FRACTION = Decimal("0.0001")
SECONDS = Decimal("0.01")


def _decimal(value, *, field: str, step: Decimal) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value)).quantize(step)
    except (InvalidOperation, ValueError):
        message = f"{field}: a number, not {str(value)[:20]!r}."
        raise ApplicationError(message, code="invalid", fields={field: [message]}) from None
    if not number.is_finite():
        raise ApplicationError(f"{field}: a finite number.", code="invalid",
                               fields={field: ["A finite number."]})  # fmt: skip
    return number


def _check_tag(x, y, start_s, end_s, *, is_video: bool) -> None:
    fields = {}
    if (x is None) != (y is None):
        fields["x" if x is None else "y"] = ["Give both x and y, or neither."]
    for name, value in (("x", x), ("y", y)):
        if value is not None and not Decimal(0) <= value <= Decimal(1):
            fields[name] = ["Between 0 and 1 (a fraction of the frame)."]
    if (start_s is not None or end_s is not None) and not is_video:
        fields["start_s"] = ["Only a video's tags have a time range."]
    if start_s is not None and start_s < 0:
        fields["start_s"] = ["From 0 seconds."]
    if start_s is not None and end_s is not None and end_s <= start_s:
        fields["end_s"] = ["The time range ends after it starts."]
    if (start_s is not None or end_s is not None) and x is None:
        fields["x"] = ["Place the tag on the frame before giving it a time range."]
    if fields:
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
        raise ApplicationError(message, code="invalid", fields=fields)


def ugc_tag_product(
    *, item_id: int, product_id: int, x=None, y=None, start_s=None, end_s=None, actor=None
) -> int:
    """Place (or, with x and y None, remove) a product's tag on an item. Returns how many of
    the item's mappings to the product were updated (one per placement it is mapped in)."""
    x = _decimal(x, field="x", step=FRACTION)
    y = _decimal(y, field="y", step=FRACTION)
    start_s = _decimal(start_s, field="start_s", step=SECONDS)
    end_s = _decimal(end_s, field="end_s", step=SECONDS)
    with transaction.atomic():
        item = _lock(item_id)
        _check_tag(x, y, start_s, end_s, is_video=item.media_type == UGCItem.MediaType.VIDEO)
        mappings = list(
            UGCProductMap.objects.select_related("product")
            .filter(item=item, product_id=product_id)
            .order_by("pk")
        )
        if not mappings:
            raise ApplicationError(
                f"Item #{item.pk} is not mapped to product #{product_id}; map it first.",
                code="not_mapped",
            )
        for mapping in mappings:
            mapping.tag_x, mapping.tag_y = x, y
            mapping.tag_start_s, mapping.tag_end_s = start_s, end_s
            full_clean(mapping)
            mapping.save(update_fields=["tag_x", "tag_y", "tag_start_s", "tag_end_s"])
        where = "removed" if x is None else f"at ({x}, {y})"
        if start_s is not None or end_s is not None:
            where += f" from {start_s or 0} s to {end_s if end_s is not None else 'the end'} s"
        _event(item, action="tag_product", actor=actor, from_status=item.status,
               reason=f"{mappings[0].product}: {where}")  # fmt: skip
    return len(mappings)
