"""System checks for integrations (`manage.py check`)."""

import os

from django.conf import settings
from django.core.checks import Warning, register


@register()
def retired_settings_check(app_configs, **kwargs):
    """TIKTOK_SHOP_API_URL was folded into TIKTOK_SHOP_API_BASE: say so if it is still set."""
    old = os.environ.get("TIKTOK_SHOP_API_URL", "").rstrip("/")
    if old and old != settings.TIKTOK_SHOP_API_BASE:
        return [
            Warning(
                "TIKTOK_SHOP_API_URL is no longer read: TikTok Shop's API host is "
                f"TIKTOK_SHOP_API_BASE ({settings.TIKTOK_SHOP_API_BASE}).",
                hint="Set TIKTOK_SHOP_API_BASE to the host and remove TIKTOK_SHOP_API_URL.",
                id="integrations.W001",
            )
        ]
    return []
