"""Every call Shoploop makes to a platform goes through `PlatformSession.request`.

Contract:
- Before each request a token is taken from the account's bucket (`ratelimit`), shared by
  every worker; the bucket's rate and burst are the platform's documented limits.
- A throttled answer (HTTP 429, or the platform's own throttling shape, as each client's
  `classify` says) pauses the bucket for `Retry-After` seconds (or a backoff when the platform
  gives none), so every worker waits, and the request is sent again; this is counted in
  `stats.throttled`, not as a failure.
- Timeouts, connection errors and 5xx are retried with exponential backoff and full jitter,
  at most INTEGRATIONS_MAX_RETRIES_PER_CALL times, then raised as a transient
  `PlatformError`. Other errors are raised at once, in the platform's words.
- Nothing here logs or raises a token, a secret, a query string or a request body: log lines
  carry the platform, method, path and status only.
- Nothing here writes to the database: the session remembers the last successful call and
  the last error, and the services record them on the connection.
"""

import email.utils
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings

from integrations import ratelimit

logger = logging.getLogger(__name__)

_local = threading.local()


class PlatformError(Exception):
    """A platform said no (or did not answer). `message` is safe to show and store."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        transient: bool = False,
        throttled: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = str(code or "")
        self.transient = transient
        self.throttled = throttled
        self.retry_after = retry_after


class AuthError(PlatformError):
    """The platform refused the access token (expired early, revoked, app uninstalled)."""


class GrantError(PlatformError):
    """The grant itself is gone (refresh token revoked, expired or already used)."""


@dataclass
class CallStats:
    requests: int = 0
    throttled: int = 0
    retries: int = 0
    waited: float = 0.0


@dataclass
class PlatformSession:
    """Calls to one account of one platform, within one job."""

    platform: str
    account: str
    deadline: float | None = None  # time.monotonic() past which waits are not started
    stats: CallStats = field(default_factory=CallStats)
    last_ok_at: datetime | None = None
    last_error: str = ""

    @property
    def bucket(self) -> str:
        return ratelimit.bucket_key(self.platform, self.account)

    def limits(self) -> tuple[float, int]:
        return settings.INTEGRATIONS_RATE_LIMITS[self.platform]

    def request(
        self, method: str, url: str, *, classify, per_attempt=None, **kwargs
    ) -> requests.Response:
        """Send one request; `classify(response)` returns None when it succeeded, else the
        PlatformError it means (with `throttled` / `transient` set as the platform says).
        `per_attempt()`, if given, returns keyword arguments made afresh for each attempt (a
        timestamp and the signature over it)."""
        rate, burst = self.limits()
        attempt = throttles = 0
        path = urlsplit(url).path
        while True:
            try:
                self.stats.waited += ratelimit.acquire(
                    self.bucket, rate, burst, deadline=self.deadline
                )
            except ratelimit.RateLimitTimeout as exc:
                raise PlatformError(
                    f"Rate limit: {exc}; left for the next run.", transient=True, throttled=True
                ) from None
            self.stats.requests += 1
            started = time.monotonic()
            try:
                fresh = per_attempt() if per_attempt is not None else {}
                response = _session().request(
                    method, url, timeout=settings.INTEGRATIONS_HTTP_TIMEOUT, **kwargs, **fresh
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                error = PlatformError(
                    f"The platform did not answer ({type(exc).__name__}).", transient=True
                )
                status = None
            else:
                status = response.status_code
                error = classify(response)
            logger.info(
                "integrations.call",
                extra={
                    "platform": self.platform,
                    "method": method,
                    "path": path,
                    "status": status,
                    "ms": round((time.monotonic() - started) * 1000),
                },
            )
            if error is None:
                self.last_ok_at = datetime.now(UTC)
                return response
            if error.throttled:
                self.stats.throttled += 1
                throttles += 1
                wait = error.retry_after if error.retry_after is not None else backoff(throttles)
                ratelimit.pause(self.bucket, wait)
                if throttles > 20:
                    self.last_error = error.message
                    raise error
                continue  # acquire() waits out the pause
            if error.transient and attempt < settings.INTEGRATIONS_MAX_RETRIES_PER_CALL:
                attempt += 1
                self.stats.retries += 1
                wait = backoff(attempt)
                if self.deadline is not None and time.monotonic() + wait > self.deadline:
                    self.last_error = error.message
                    raise error
                time.sleep(wait)
                continue
            self.last_error = error.message
            raise error


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: a random wait up to base * 2^(attempt - 1)."""
    ceiling = min(
        settings.INTEGRATIONS_RETRY_CAP, settings.INTEGRATIONS_RETRY_BASE * 2 ** (attempt - 1)
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def retry_after(response: requests.Response) -> float | None:
    """`Retry-After` in seconds (a number or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def json_object(response: requests.Response) -> dict:
    """The answer's JSON object, or {} when it is not JSON or not an object (an HTML error
    page from a proxy, a bare list): callers read fields with .get()."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def is_transient_status(status: int) -> bool:
    return status >= 500 or status == 408


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # proxy variables never redirect platform traffic
        _local.session = session
    return session
