"""Short-link codes: random base62, or a custom slug that is not a reserved word."""

import re
import secrets
import string

from django.core.exceptions import ValidationError

ALPHABET = string.ascii_letters + string.digits  # base62
RANDOM_LENGTH = 7  # 62**7 ≈ 3.5e12 codes
CUSTOM_RE = re.compile(r"^[A-Za-z0-9_-]{3,50}$")
# Words that name (or could one day name) a page of the site, so they cannot be codes.
RESERVED = frozenset(
    """about account admin api app assets auth billing blog cart checkout creators
    dashboard docs feed health healthz help home login logout media p portal previews
    privacy products qr robots search settings shop signup sitemap static status support
    terms webhooks www""".split()
)


def random_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))


def validate_code(value: str) -> None:
    if not CUSTOM_RE.match(value):
        raise ValidationError(
            "A code is 3 to 50 characters: letters, digits, '-' and '_'.", code="code_format"
        )
    if value.lower() in RESERVED:
        raise ValidationError(
            "“%(value)s” is reserved; choose another code.", code="code_reserved",
            params={"value": value},
        )  # fmt: skip
