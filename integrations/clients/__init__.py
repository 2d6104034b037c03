"""One client module per platform: its OAuth endpoints and the API calls Shoploop makes.

Each module exposes `OAUTH` (an `OAuthApp`) and the calls that take a `PlatformSession`
and an access token. `app_for(platform)` finds the OAuth app of a platform. Base URLs are
settings (the real platform by default, the local test servers in tests and the demo).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class Grant:
    """What a token endpoint answered (never logged, never stored unencrypted)."""

    access_token: str
    refresh_token: str = ""
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # account hints the token endpoint gave


@dataclass
class AccountChoice:
    """An account a grant covers: a TikTok shop, a Meta catalog, a Merchant Center account."""

    account_id: str
    name: str
    settings: dict = field(default_factory=dict)


def expires_in(seconds) -> datetime | None:
    if seconds in (None, ""):
        return None
    return datetime.now(UTC) + timedelta(seconds=int(seconds))


def from_timestamp(value) -> datetime | None:
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def app_for(platform: str):
    from integrations.clients import google, meta, shopify, tiktok, tiktok_shop

    return {
        "shopify": shopify.OAUTH,
        "tiktok_shop": tiktok_shop.OAUTH,
        "meta": meta.OAUTH,
        "google": google.OAUTH,
        "tiktok": tiktok.OAUTH,
    }[platform]
