"""The short-link redirect `/p/<code>`, its crawler unfurl page and its QR codes.

The redirect is the hot path: it reads the link's snapshot from the cache, classifies the
visitor from a per-process cache, makes one Redis call to buffer the click, and answers.
It never waits on PostgreSQL.
"""

import logging
import time
from urllib.parse import quote, unquote, urlsplit

import segno
from django.conf import settings
from django.core import signing
from django.db import DatabaseError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_safe

from links import clicks, routing, snapshots
from links.models import UTM_FIELDS
from links.visitors import classify, client_ip, network_of, visitor_hash

logger = logging.getLogger(__name__)
ATTRIBUTION_SALT = "shoploop.attribution"
NO_STORE = "private, no-store"


def _gone(request, snapshot=None):
    response = render(
        request, "links/gone.html", {"code": snapshot and snapshot["code"]}, status=410
    )
    response["Cache-Control"] = NO_STORE
    return response


def _unavailable(request):
    response = render(
        request, "links/not_found.html",
        {"message": "This link is briefly unavailable; please try again in a moment."},
        status=503,
    )  # fmt: skip
    response["Cache-Control"] = NO_STORE
    response["Retry-After"] = "5"
    return response


def _not_found(request, message="This link does not exist."):
    response = render(request, "links/not_found.html", {"message": message}, status=404)
    response["Cache-Control"] = NO_STORE
    return response


def _country(request) -> str:
    value = request.META.get(settings.COUNTRY_HEADER_META, "").strip().upper()
    return value if len(value) == 2 and value.isalpha() and value.isascii() else ""


def _referrer_host(request) -> str:
    referrer = request.META.get("HTTP_REFERER", "")
    try:
        return (urlsplit(referrer).hostname or "")[:253]
    except ValueError:
        return ""


def _absolute(request, url: str) -> str:
    return request.build_absolute_uri(url) if url.startswith("/") else url


@require_safe
def short_link(request, code):
    try:
        snapshot = snapshots.get(code)
    except DatabaseError:  # not cached anywhere, and PostgreSQL is down
        logger.error("link.snapshot_unavailable")
        return _unavailable(request)
    if snapshot is None:
        return _not_found(request)
    if not snapshot["active"]:
        return _gone(request, snapshot)
    now = time.time()
    if snapshot["starts_at"] and now < snapshot["starts_at"]:
        return _not_found(request, "This link is not live yet.")
    if snapshot["expires_at"] and now >= snapshot["expires_at"]:
        if snapshot["fallback_url"]:
            return _redirect(snapshot["fallback_url"])
        return _gone(request, snapshot)

    user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
    agent = classify(user_agent)
    is_bot = agent.is_bot or request.method == "HEAD"
    query = request.GET
    country = _country(request)
    arm_cookie = f"sl_ab_{snapshot['id']}"
    destination, product_id, route, arm = routing.choose(
        snapshot,
        country=country,
        language=routing.preferred_language(request.META.get("HTTP_ACCEPT_LANGUAGE", "")),
        agent=agent,
        query=query,
        now=now,
        sticky_arm=unquote(request.COOKIES.get(arm_cookie, "")),
    )
    click_id = clicks.new_click_id()
    ip = client_ip(request)
    clicks.record(
        {
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
            "referrer_host": _referrer_host(request),
            **{f: snapshot["utm"].get(f, "") for f in UTM_FIELDS},
            "is_qr": query.get("qr") == "1",
            "is_bot": is_bot,
            "network": network_of(ip),
            "visitor_hash": visitor_hash(ip, user_agent) if ip else "",
        }
    )
    forwarded = [(k, v) for k, values in query.lists() if k != "qr" for v in values]
    location = routing.with_params(
        _absolute(request, destination), forwarded, routing.tracking_params(snapshot, click_id)
    )
    if is_bot:
        return _unfurl(request, snapshot, location, product_id)

    response = _redirect(location)
    _set_attribution_cookie(request, response, snapshot, click_id, product_id)
    if arm is not None:
        response.set_cookie(
            arm_cookie,
            quote(arm["label"], safe=""),
            max_age=settings.ATTRIBUTION_WINDOW_DAYS * 86400,
            secure=request.is_secure(),
            httponly=True,
            samesite="Lax",
        )
    return response


def _redirect(location: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(location)  # 302: a link's destination can change
    response["Cache-Control"] = NO_STORE
    return response


def _set_attribution_cookie(request, response, snapshot, click_id, product_id) -> None:
    """A signed, first-party cookie: click id, link, creator, product, source, time."""
    fields = (
        click_id, snapshot["code"], snapshot["creator_id"] or "", product_id or "",
        snapshot["utm"].get("utm_source", ""), int(time.time()),
    )  # fmt: skip
    value = _attribution_signer.sign("|".join(quote(str(f), safe="") for f in fields))
    response.set_cookie(
        settings.ATTRIBUTION_COOKIE_NAME,
        value,
        max_age=settings.ATTRIBUTION_WINDOW_DAYS * 86400,
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


ATTRIBUTION_FIELDS = ("click", "link", "creator", "product", "source", "at")
_attribution_signer = signing.Signer(salt=ATTRIBUTION_SALT)


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


def _unfurl(request, snapshot, location, product_id):
    """A 200 page with the destination's card tags; humans are sent on by meta refresh."""
    from links.unfurl import card_for

    context = card_for(snapshot, product_id, request)
    context.update({"location": location, "short_url": request.build_absolute_uri()})
    response = render(request, "links/unfurl.html", context)
    response["Cache-Control"] = NO_STORE
    response["X-Robots-Tag"] = "noindex"
    return response


def _short_url(code: str, request) -> str:
    from core.absolute_urls import absolute_url

    return absolute_url(f"/p/{code}?qr=1", request)


@require_safe
def qr_code(request, code, kind):
    snapshot = snapshots.get(code)
    if snapshot is None:
        raise Http404("No such link")
    qr = segno.make(_short_url(snapshot["code"], request), error="m")
    response = HttpResponse(content_type="image/svg+xml" if kind == "svg" else "image/png")
    qr.save(response, kind=kind, scale=8, border=2)
    response["Cache-Control"] = "public, max-age=86400"
    if request.GET.get("download") == "1":
        response["Content-Disposition"] = (
            f'attachment; filename="shoploop-{snapshot["code"]}.{kind}"'
        )
    return response
