"""One decision for a visit to `/p/<code>`, shared by the Django view (`links/views.py`) and the
link edge (`links/edge.py`): whether the link is live, where the visitor goes, the click it
records and the cookies the 302 sets.

`plan()` has no side effect (it records nothing and writes nothing), so a caller may still
hand the request to Django after planning; the caller records `visit.click` and then answers
with `redirect_response()`. Both entries therefore send the same Location, the same cookies
and the same click for the same request.
"""

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from functools import lru_cache
from http.cookies import _quote as cookie_quote
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.encoding import force_bytes
from django.utils.http import http_date

from links import clicks, routing
from links.models import UTM_FIELDS
from links.visitors import Agent, client_address, visitor_hash

ATTRIBUTION_SALT = "shoploop.attribution"
ATTRIBUTION_FIELDS = ("click", "link", "creator", "product", "source", "at")
NO_STORE = "private, no-store"

LIVE, GONE, NOT_YET, EXPIRED = "live", "gone", "not_yet", "expired"

_attribution_signer = signing.Signer(salt=ATTRIBUTION_SALT)


def state(snapshot: dict, now: float) -> str:
    """live, gone (inactive), not_yet (before its start) or expired (its fallback, else 410)."""
    if not snapshot["active"]:
        return GONE
    if snapshot["starts_at"] and now < snapshot["starts_at"]:
        return NOT_YET
    if snapshot["expires_at"] and now >= snapshot["expires_at"]:
        return EXPIRED
    return LIVE


@dataclass(frozen=True, slots=True)
class Visit:
    location: str
    click: dict
    is_bot: bool
    product_id: int | None
    relative: bool  # the destination was a path, made absolute from the request's host
    cookies: tuple  # (name, value) pairs, each set for the attribution window


def country_of(meta) -> str:
    value = meta.get(settings.COUNTRY_HEADER_META, "").strip().upper()
    return value if len(value) == 2 and value.isalpha() and value.isascii() else ""


@lru_cache(maxsize=4096)
def _host_of(referrer: str) -> str:
    try:
        return (urlsplit(referrer).hostname or "")[:253]
    except ValueError:
        return ""


def referrer_host(meta) -> str:
    referrer = meta.get("HTTP_REFERER", "")
    return _host_of(referrer) if referrer else ""


def plan(request, snapshot: dict, *, agent: Agent, user_agent: str, now: float) -> Visit:
    """Where this visit goes and what it records, for a live link. Records nothing."""
    meta = request.META
    is_bot = agent.is_bot or request.method == "HEAD"
    query = request.GET
    country = country_of(meta)
    arm_cookie = f"sl_ab_{snapshot['id']}"
    sticky = request.COOKIES.get(arm_cookie, "") if snapshot["arms"] else ""
    destination, product_id, route, arm = routing.choose(
        snapshot,
        country=country,
        # Only rules read the language: no parsing for links without any.
        language=routing.preferred_language(meta.get("HTTP_ACCEPT_LANGUAGE", ""))
        if snapshot["rules"]
        else "",
        agent=agent,
        query=query,
        now=now,
        sticky_arm=unquote(sticky),
    )
    click_id = clicks.new_click_id()
    ip, network = client_address(request)
    click = {
        "click_id": click_id,
        "link_id": snapshot["id"],
        "creator_id": snapshot["creator_id"],
        "product_id": product_id,
        "ts": now,
        "route": route,
        "country": country,
        "device_type": agent.device_type,
        "os": agent.os,
        "browser": agent.browser,
        "in_app": agent.in_app,
        "referrer_host": referrer_host(meta),
        **{f: snapshot["utm"].get(f, "") for f in UTM_FIELDS},
        "is_qr": query.get("qr") == "1",
        "is_bot": is_bot,
        "network": network,
        "visitor_hash": visitor_hash(ip, user_agent, at=now) if ip else "",
    }
    relative = destination.startswith("/")
    if relative:
        destination = request.build_absolute_uri(destination)
    forwarded = [(k, v) for k, values in query.lists() if k != "qr" for v in values]
    location = routing.location(destination, forwarded, snapshot, click_id)
    cookies = [
        (settings.ATTRIBUTION_COOKIE_NAME, attribution_value(snapshot, click_id, product_id, now))
    ]
    if arm is not None:
        cookies.append((arm_cookie, quote(arm["label"], safe="")))
    return Visit(location, click, is_bot, product_id, relative, tuple(cookies))


def attribution_value(snapshot: dict, click_id: str, product_id, now: float) -> str:
    """A signed value: click id, link, creator, product, source, time."""
    fields = (
        click_id, snapshot["code"], snapshot["creator_id"] or "", product_id or "",
        snapshot["utm"].get("utm_source", ""), int(now),
    )  # fmt: skip
    return sign("|".join(quote(str(f), safe="") for f in fields))


@lru_cache(maxsize=4)
def _signing_key(secret) -> bytes:
    # django.utils.crypto.salted_hmac's derived key, for the attribution signer's salt.
    return hashlib.sha256(force_bytes(f"{ATTRIBUTION_SALT}signer") + force_bytes(secret)).digest()


def sign(value: str) -> str:
    """`_attribution_signer.sign(value)`, byte for byte, in one HMAC call: the derived key is
    computed once, not on every click (tests compare the two)."""
    digest = hmac.digest(_signing_key(_attribution_signer.key), value.encode(), "sha256")
    return f"{value}:{base64.urlsafe_b64encode(digest).strip(b'=').decode()}"


def redirect_response(location: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(location)  # 302: a link's destination can change
    response["Cache-Control"] = NO_STORE
    return response


def visit_response(request, visit: Visit) -> HttpResponseRedirect:
    """The shopper's 302: Location, no-store, and the visit's first-party cookies."""
    response = redirect_response(visit.location)
    secure = request.is_secure()
    max_age = settings.ATTRIBUTION_WINDOW_DAYS * 86400
    for name, value in visit.cookies:
        response.set_cookie(
            name, value, max_age=max_age, secure=secure, httponly=True, samesite="Lax"
        )
    return response


def set_cookie_headers(visit: Visit, *, secure: bool, now: float) -> list[tuple[str, str]]:
    """The Set-Cookie headers `visit_response()` gives, as Django's WSGI handler writes them
    (`morsel.output(header="")`), without building a response: the link edge's road."""
    max_age = settings.ATTRIBUTION_WINDOW_DAYS * 86400
    attributes = _cookie_attributes(int(now) + max_age, max_age, secure)
    return [("Set-Cookie", f" {name}={cookie_quote(value)}{attributes}")
            for name, value in visit.cookies]  # fmt: skip


@lru_cache(maxsize=8)
def _cookie_attributes(expires_at: int, max_age: int, secure: bool) -> str:
    """What follows `name=value` in the cookie `visit_response()` sets, from Django's own
    set_cookie; it changes once a second (the expiry date)."""
    response = HttpResponse()
    response.set_cookie("n", "v", max_age=max_age, secure=secure, httponly=True, samesite="Lax")
    morsel = response.cookies["n"]
    morsel["expires"] = http_date(expires_at)  # as set_cookie: time.time() + max_age
    return morsel.OutputString()[len("n=v") :]


def read_attribution_cookie(request) -> dict | None:
    """The attribution a shopper carries, if its signature holds and it is in the window."""
    raw = request.COOKIES.get(settings.ATTRIBUTION_COOKIE_NAME)
    if not raw:
        return None
    try:
        parts = [unquote(p) for p in _attribution_signer.unsign(raw).split("|")]
    except signing.BadSignature:
        return None
    if len(parts) != len(ATTRIBUTION_FIELDS):
        return None
    value = dict(zip(ATTRIBUTION_FIELDS, parts, strict=True))
    value["creator"] = int(value["creator"]) if value["creator"] else None
    value["product"] = int(value["product"]) if value["product"] else None
    value["at"] = int(value["at"])
    if time.time() - value["at"] > settings.ATTRIBUTION_WINDOW_DAYS * 86400:
        return None
    return value
