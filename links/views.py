"""The short-link redirect `/p/<code>`, its crawler unfurl page and its QR codes.

The redirect is the hot path: it reads the link's snapshot from the cache, classifies the
visitor from a per-process cache, makes one Redis call to buffer the click, and answers.
It never waits on PostgreSQL.
"""

import logging
import time

import segno
from django.db import DatabaseError
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from links import clicks, redirect, snapshots
from links.redirect import NO_STORE
from links.visitors import classify, visitor_hash  # noqa: F401 - visitor_hash: public here too

logger = logging.getLogger(__name__)


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


@csrf_exempt  # it takes no form: any other method than GET and HEAD is a 405, not a 403
@require_safe
def short_link(request, code):
    """The Django entry of the redirect. The link edge (links/edge.py) answers most shoppers'
    GETs before Django and hands everything else here; both decide with links/redirect.py."""
    try:
        snapshot = snapshots.get(code)
    except DatabaseError:  # not cached anywhere, and PostgreSQL is down
        logger.error("link.snapshot_unavailable")
        return _unavailable(request)
    if snapshot is None:
        return _not_found(request)
    now = time.time()
    state = redirect.state(snapshot, now)
    if state == redirect.GONE:
        return _gone(request, snapshot)
    if state == redirect.NOT_YET:
        return _not_found(request, "This link is not live yet.")
    if state == redirect.EXPIRED:
        if snapshot["fallback_url"]:
            return redirect.redirect_response(snapshot["fallback_url"])
        return _gone(request, snapshot)

    user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
    visit = redirect.plan(
        request, snapshot, agent=classify(user_agent), user_agent=user_agent, now=now
    )
    clicks.record(visit.click)
    if visit.is_bot:
        return _unfurl(request, snapshot, visit.location, visit.product_id)
    return redirect.visit_response(request, visit)


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
