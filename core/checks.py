"""System checks of Shoploop's own settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_encryption_keys(app_configs, **kwargs):
    if settings.ENCRYPTION_KEYS:
        return []
    return [
        Warning(
            "ENCRYPTION_KEYS is not set: stored secrets (webhook secrets, OAuth tokens, payout "
            "details) are encrypted under a key derived from SECRET_KEY, so rotating "
            "SECRET_KEY would make them unreadable.",
            hint="Set ENCRYPTION_KEYS to a Fernet key (see the README's configuration table).",
            id="shoploop.W001",
        )
    ]
