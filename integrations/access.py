"""A connection's platform calls within one job: its rate-limited session and its token.

`Access.call(fn, ...)` calls a client function with the current access token. A token about
to expire is refreshed first, and a token the platform refuses is refreshed once and the call
sent again; both go through `services.connection_refresh_token`, which refreshes one at a
time per connection (concurrent jobs wait on the row lock and then use the new token). A
platform without refresh tokens (Shopify, Meta), or a refresh refused, marks the connection
"needs reconnecting" and raises ApplicationError `needs_reconnect`.

`close()` records the last successful call and the last error on the connection.
"""

from core.errors import ApplicationError
from integrations import services
from integrations.http import AuthError, PlatformSession
from integrations.models import Connection


class Access:
    def __init__(self, connection: Connection, *, deadline: float | None = None):
        self.connection_id = connection.pk
        self.platform = connection.platform
        self.account_id = connection.account_id
        self.settings = dict(connection.settings)
        self.session = PlatformSession(
            platform=connection.platform,
            account=connection.account_id or f"connection-{connection.pk}",
            deadline=deadline,
        )
        self._take(connection)

    def _take(self, connection: Connection) -> None:
        self._token = connection.access_token
        self._version = connection.token_version
        self._expiring = services.token_expiring(connection)
        self._refreshable = bool(connection.refresh_token)

    def token(self) -> str:
        if self._expiring:
            self._take(
                services.connection_refresh_token(
                    connection_id=self.connection_id, seen_version=self._version
                )
            )
        if not self._token:
            raise ApplicationError("The connection has no access token.", code="needs_reconnect")
        return self._token

    def call(self, fn, *args, **kwargs):
        try:
            return fn(self.session, *args, token=self.token(), **kwargs)
        except AuthError as exc:
            if not self._refreshable:
                self._lost(exc.message)
            self._take(
                services.connection_refresh_token(
                    connection_id=self.connection_id, seen_version=self._version, force=True
                )
            )
            try:
                return fn(self.session, *args, token=self.token(), **kwargs)
            except AuthError as again:
                self._lost(again.message)

    def _lost(self, message: str):
        services.connection_mark_needs_reconnect(connection_id=self.connection_id, reason=message)
        raise ApplicationError(f"Needs reconnecting: {message}", code="needs_reconnect")

    def close(self) -> None:
        services.connection_record_calls(
            connection_id=self.connection_id,
            ok_at=self.session.last_ok_at,
            error=self.session.last_error,
        )
