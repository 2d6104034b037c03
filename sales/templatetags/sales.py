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
