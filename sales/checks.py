"""System checks for sales (run by `manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def test_mode_gateway_check(app_configs, **kwargs):
    if settings.CHECKOUT_TEST_MODE and settings.CHECKOUT_TEST_MODE_WITHOUT_DEBUG:
        return [
            Warning(
                "The test-mode checkout gateway is on without DEBUG: shoppers can 'pay' "
                "without paying.",
                hint="Unset CHECKOUT_TEST_MODE (or CHECKOUT_TEST_MODE_WITHOUT_DEBUG) on a live "
                "shop.",
                id="sales.W001",
            )
        ]
    return []
