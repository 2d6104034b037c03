"""The console's side of the OAuth 2 authorization-code flow: state bound to the session, PKCE.

Contract:
- `begin(session, platform=..., shop=..., connection_id=...)` makes a random `state` (256 bits)
  and, where the platform supports PKCE (Meta, Google), a code verifier and its S256
  challenge; both are kept in the merchant's own session (server side), never in the URL
  but for the state and the challenge.
- `finish(session, platform=..., state=...)` accepts a state once, only in the session that
  began it, only for the same platform and only within INTEGRATIONS_OAUTH_STATE_TTL
  seconds; anything else is ApplicationError `invalid_state` (a forged or replayed callback).
- The redirect URI is built from PUBLIC_BASE_URL, so it is the one registered with the
  platform whatever host the console was opened on.
"""

import base64
import hashlib
import secrets
import time

from django.conf import settings
from django.urls import reverse

from core.absolute_urls import absolute_url
from core.errors import ApplicationError

SESSION_KEY = "integrations.oauth"
MAX_PENDING = 5


def redirect_uri(platform: str) -> str:
    return absolute_url(reverse("integrations:oauth-callback", args=[platform]))


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-] (RFC 7636: 43-128)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def begin(session, *, platform: str, pkce: bool, shop: str = "", connection_id=None) -> dict:
    now = time.time()
    pending = {
        state: entry
        for state, entry in (session.get(SESSION_KEY) or {}).items()
        if now - entry.get("at", 0) < settings.INTEGRATIONS_OAUTH_STATE_TTL
    }
    state = secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair() if pkce else ("", "")
    pending[state] = {
        "platform": platform,
        "shop": shop,
        "connection_id": connection_id,
        "verifier": verifier,
        "at": now,
    }
    if len(pending) > MAX_PENDING:
        for old in sorted(pending, key=lambda s: pending[s]["at"])[: len(pending) - MAX_PENDING]:
            del pending[old]
    session[SESSION_KEY] = pending
    session.modified = True
    return {"state": state, "challenge": challenge}


def finish(session, *, platform: str, state: str) -> dict:
    pending = dict(session.get(SESSION_KEY) or {})
    entry = pending.pop(state, None) if state else None
    session[SESSION_KEY] = pending
    session.modified = True
    if entry is None or entry["platform"] != platform:
        raise ApplicationError(
            "This authorization was not started from this console session (or was already "
            "used); start connecting again.",
            code="invalid_state",
        )
    if time.time() - entry["at"] > settings.INTEGRATIONS_OAUTH_STATE_TTL:
        raise ApplicationError(
            "This authorization took too long; start connecting again.", code="invalid_state"
        )
    return entry
