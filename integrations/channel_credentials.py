"""TikTok Shop sales channels call the API with the shop's connection: the resolver that
`integrations/apps.py` registers with `sales.credentials`.

Contract (`sales.credentials` says what a resolver may return or raise):
- The channel's connection is the TikTok Shop connection whose account is the channel's shop
  id (not disconnected). Without one the resolver returns None and the channel's own
  credentials are used, as before connections existed.
- An active connection gives the app's key and secret (TIKTOK_SHOP_APP_KEY/SECRET, the app
  the grant was made to), the connection's access token and the shop cipher TikTok gave it.
  A token due to expire is refreshed first, under the connection's row lock (one refresh at a
  time; a caller that waited takes the new token, so TikTok's rotating refresh token is never
  sent twice). With `refused`, the token TikTok just refused is replaced: refreshed unless
  another caller already did.
- A connection that needs reconnecting (or whose refresh TikTok refuses, which marks it so)
  raises `CredentialsWaiting` with the reason: the delivery waits, and
  `deliveries_resume` queues it again when the connection is reconnected.
- A token endpoint that is down raises `ProviderUnavailable`: the delivery job retries.
"""

import logging

from django.conf import settings

from core.errors import ApplicationError
from core.jobs import enqueue_on_commit
from integrations import services
from integrations.http import PlatformError
from integrations.models import Connection, Platform
from sales import selectors as sales_selectors
from sales.credentials import ApiCredentials, CredentialsWaiting
from sales.providers.base import ProviderUnavailable

logger = logging.getLogger(__name__)

Status = Connection.Status


def _connection_for(channel) -> Connection | None:
    if not channel.shop_id:
        return None
    return (
        Connection.objects.filter(platform=Platform.TIKTOK_SHOP, account_id=channel.shop_id)
        .exclude(status__in=[Status.DISCONNECTED, Status.PENDING])
        .order_by("-pk")
        .first()
    )


def _waiting(connection: Connection, reason: str) -> CredentialsWaiting:
    return CredentialsWaiting(
        f"the TikTok Shop connection {connection.account_name or connection.account_id} "
        f"needs reconnecting ({reason or 'no reason given'}). Reconnect it in Integrations › "
        "Connections: waiting deliveries are processed then."
    )


def tiktok_shop_credentials(channel, *, refused: ApiCredentials | None = None):
    """The credentials of `channel`'s TikTok Shop connection, or None (see the docstring)."""
    connection = _connection_for(channel)
    if connection is None:
        return None
    if not (settings.TIKTOK_SHOP_APP_KEY and settings.TIKTOK_SHOP_APP_SECRET):
        return None  # the app is not configured here: the channel's own credentials
    if connection.status == Status.NEEDS_RECONNECT:
        raise _waiting(connection, connection.status_reason)
    try:
        if refused is not None and refused.access_token == connection.access_token:
            connection = services.connection_refresh_token(
                connection_id=connection.pk, seen_version=connection.token_version, force=True
            )
        elif services.token_expiring(connection):
            connection = services.connection_refresh_token(
                connection_id=connection.pk, seen_version=connection.token_version
            )
    except ApplicationError as exc:
        if exc.code != "needs_reconnect":
            raise
        connection.refresh_from_db()
        raise _waiting(connection, connection.status_reason) from None
    except PlatformError as exc:
        raise ProviderUnavailable(
            f"TikTok Shop's token endpoint failed: {exc.message}", retry_after=exc.retry_after
        ) from None
    if not connection.access_token:
        raise _waiting(connection, "it holds no access token")
    return ApiCredentials(
        app_key=settings.TIKTOK_SHOP_APP_KEY,
        app_secret=settings.TIKTOK_SHOP_APP_SECRET,
        access_token=connection.access_token,
        shop_cipher=connection.settings.get("shop_cipher") or channel.shop_cipher,
        source=f"connection #{connection.pk}",
    )


def deliveries_resume(*, connection: Connection) -> int:
    """The connection can be used again: queue the order deliveries that waited for it."""
    from sales.tasks import process_delivery

    if connection.platform != Platform.TIKTOK_SHOP or not connection.account_id:
        return 0
    ids = sales_selectors.deliveries_waiting(
        provider=Platform.TIKTOK_SHOP, shop_id=connection.account_id
    )
    for delivery_id in ids:
        enqueue_on_commit(process_delivery, delivery_id)
    if ids:
        logger.info(
            "integrations.deliveries_resumed",
            extra={"connection_id": connection.pk, "count": len(ids)},
        )
    return len(ids)
