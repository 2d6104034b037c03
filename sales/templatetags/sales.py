"""Template tags for the Buy form on product pages."""

import uuid

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def checkout_key() -> str:
    """A fresh idempotency key for one Buy form: submitting it twice is one reservation."""
    return uuid.uuid4().hex


@register.simple_tag
def checkout_max_quantity() -> int:
    return settings.CHECKOUT_MAX_QUANTITY


@register.filter
def units_left(variant) -> int:
    """'Only N left' (issue 19), from available stock: on hand minus reserved minus committed,
    so units held by checkouts in progress are never counted as left, and units only reserved
    never make the figure up. 0 when it is above STOCK_LOW_SHOWN_BELOW (nothing is said)."""
    threshold = settings.STOCK_LOW_SHOWN_BELOW
    available = max(0, int(getattr(variant, "stock_available", 0) or 0))
    if not getattr(variant, "active", True) or not threshold or available > threshold:
        return 0
    return available
