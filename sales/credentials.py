"""The credentials sales calls a provider's API with: a resolver registry.

Sales calls TikTok Shop's API to re-fetch the orders and returns its webhooks only hint at.
By default it uses what the channel holds (its app key and secret, access token and shop
cipher). An app above sales that holds the platform connection (`integrations`: OAuth tokens,
refreshed under the connection's lock) registers a resolver from its `AppConfig.ready()`;
sales never imports it.

Contract:
- `register(provider, resolver)`: `resolver(channel, *, refused=None)` returns
  `ApiCredentials` for the channel, or None when it has nothing for it (no connection for
  that shop): the next resolver is asked, and in the end the channel's own credentials are
  used. Registering the same resolver again changes nothing.
- `refused`: the credentials the provider has just refused (an expired or revoked access
  token). The resolver returns fresher ones (a refresh) or raises; the caller retries once.
  The channel's own credentials cannot be refreshed: a refusal of them fails the delivery.
- A resolver raises `CredentialsWaiting(reason)` when the credentials exist but cannot be
  used until a person acts (the connection needs reconnecting): the delivery waits, with the
  reason shown in the console, and is processed when the connection is usable again. It
  raises `ProviderUnavailable` for a failure worth retrying (the token endpoint is down).
- Credentials are secrets: never logged, never put in a reason or an error message.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sales.providers.base import ProviderUnavailable  # noqa: F401 - part of the contract


@dataclass(frozen=True)
class ApiCredentials:
    app_key: str
    app_secret: str
    access_token: str
    shop_cipher: str = ""
    source: str = "channel"  # where they came from, for the console: "channel", "connection #3"

    @property
    def refreshable(self) -> bool:
        return self.source != "channel"

    def __repr__(self) -> str:  # never print a secret
        return f"ApiCredentials(app_key={self.app_key!r}, source={self.source!r})"


class CredentialsWaiting(Exception):  # noqa: N818 - not an error: the delivery waits
    """The provider's credentials cannot be used until a person acts; `reason` says what."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


Resolver = Callable[..., ApiCredentials | None]
_resolvers: dict[str, list[Resolver]] = {}


def register(provider: str, resolver: Resolver) -> None:
    chain = _resolvers.setdefault(provider, [])
    if resolver not in chain:
        chain.append(resolver)


def unregister(provider: str, resolver: Resolver) -> None:
    chain = _resolvers.get(provider, [])
    if resolver in chain:
        chain.remove(resolver)


def channel_own(channel) -> ApiCredentials:
    """What the channel itself holds (the default)."""
    return ApiCredentials(
        app_key=channel.app_key,
        app_secret=channel.secret,
        access_token=channel.access_token,
        shop_cipher=channel.shop_cipher,
    )


def for_channel(channel, *, refused: ApiCredentials | None = None) -> ApiCredentials:
    """The credentials to call `channel`'s provider with (see the module docstring)."""
    if refused is not None and not refused.refreshable:
        return refused  # nothing fresher to be had: the caller fails the delivery
    for resolver in list(_resolvers.get(channel.provider, [])):
        found = resolver(channel, refused=refused)
        if found is not None:
            return found
    return channel_own(channel)
