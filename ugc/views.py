"""Public pages of the shoppable feed: /shop/feed, collections (/shop/collections/<slug>/) and
the beacon that counts what they show."""

import logging

from django.conf import settings
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from core import json_input
from core.absolute_urls import absolute_url
from core.errors import ApplicationError, error_response
from ugc import metrics, selectors
from ugc.models import Placement

logger = logging.getLogger(__name__)

EVENT_KINDS = ("impressions", "clicks", "add_to_carts")
# hls.js, vendored from its npm package (light build: no subtitles or alternate audio, which
# the ladder has none of); loaded by feed.js only where the browser has no native HLS.
HLSJS = "vendor/hls.js-1.7.4/hls.light.min.js"
MAX_ID = 2**63 - 1
EVENTS_MAX_BODY = 16 * 1024


FEED_CARD = {
    "title": "Shop the feed",
    "description": "Photos and videos from our customers and creators. Shop what you see.",
}


def _feed_card(request, page, *, title, description, path) -> dict:
    """The Open Graph card of a feed page (the feed or a collection): its first item's
    picture."""
    card = {
        "title": title,
        "description": description,
        "url": absolute_url(path, request),
        "site_name": getattr(settings, "SITE_NAME", "Shoploop"),
        "type": "website",
        "image": None,
    }
    first = page.items[0] if page.items else None
    if first and first["media"]["display_url"]:
        card["image"] = {
            "url": absolute_url(first["media"]["display_url"], request),
            "width": first["media"]["width"],
            "height": first["media"]["height"],
            "alt": first["caption"][:200] or "A customer's photo",
            "type": "",
        }
    return card


def _feed_context(request, page, *, placement, card, api_url) -> dict:
    """What `ugc/feed.html` (and the collection page, which extends it) needs."""
    first = page.items[0] if page.items else None
    return {
        "page": page,
        "placement": placement,
        "card": card,
        "first_poster": first["media"]["display_url"] if first else "",
        "api_url": api_url,
        "hlsjs": HLSJS,
    }


@require_safe
def feed(request):
    """The vertical shoppable feed. Without JavaScript, a "More" link pages through it."""
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.feed_page(cursor=cursor, request=request)
    except ApplicationError as exc:
        return render(request, "ugc/feed_error.html", {"message": exc.message}, status=400)
    # Where this feed is shown: the home feed, or embedded in a page or a widget
    # (`?placement=`); impressions, clicks and the card links (`ugc_placement`) carry it.
    placement = request.GET.get("placement", Placement.HOME_FEED)
    if placement not in Placement.values:
        placement = Placement.HOME_FEED
    card = _feed_card(request, page, path=reverse("ugc:feed"), **FEED_CARD)
    context = _feed_context(
        request, page, placement=placement, card=card, api_url=reverse("ugc-feed-list")
    )
    response = render(request, "ugc/feed.html", context)
    if placement == Placement.WIDGET:
        _allow_framing_by_the_shop(response)
    return response


@require_safe
def collection(request, slug):
    """A collection's page: its items in order, as the feed shows them, counted (and their
    card links tagged) in the `collection` placement. 404 when inactive or unknown."""
    found = selectors.active_collection(slug)
    if found is None:
        raise Http404("No such collection.")
    try:
        page = selectors.collection_page(
            collection=found, cursor=request.GET.get("cursor") or None, request=request
        )
    except ApplicationError as exc:
        return render(request, "ugc/feed_error.html", {"message": exc.message}, status=400)
    card = _feed_card(
        request,
        page,
        title=found.name,
        description=found.description or FEED_CARD["description"],
        path=found.get_absolute_url(),
    )
    api_url = reverse("ugc-collection-feed", kwargs={"slug": found.slug})
    context = _feed_context(
        request, page, placement=Placement.COLLECTION, card=card, api_url=api_url
    )
    context["collection"] = found
    return render(request, "ugc/collection.html", context)


def _allow_framing_by_the_shop(response) -> None:
    """The embedded widget is the feed in an iframe on the merchant's own sites: framing is
    allowed to them only (the shop and its allowed domains), instead of X-Frame-Options DENY."""
    from links.selectors import allowed_domains

    sources = ["'self'"]
    for domain, allowed in sorted(allowed_domains().items()):
        sources.append(f"https://{domain}")
        if allowed.include_subdomains:
            sources.append(f"https://*.{domain}")
    response.xframe_options_exempt = True
    response["Content-Security-Policy"] = "frame-ancestors " + " ".join(sources)


def parse_events(body: bytes) -> dict:
    """`{"impressions": [ids], "clicks": [ids], "add_to_carts": [ids], "placement": "..."}`
    checked (lists optional; placement one of Placement's values, "" when left out), or
    ApplicationError naming the rule."""
    data = json_input.loads(body or b"null", max_bytes=EVENTS_MAX_BODY)
    if not isinstance(data, dict):
        raise ApplicationError(
            'The body is a JSON object: {"impressions": [ids], "clicks": [ids], '
            '"add_to_carts": [ids], "placement": "home_feed"}.',
            code="invalid",
        )
    fields = {}
    unknown = sorted(set(data) - {*EVENT_KINDS, "placement"})
    for name in unknown:
        fields[name] = ["Unknown field; send impressions, clicks, add_to_carts and placement only."]
    events = {}
    for name in EVENT_KINDS:
        ids = data.get(name, [])
        if not isinstance(ids, list) or not all(type(i) is int and 1 <= i <= MAX_ID for i in ids):
            fields[name] = ["A list of item ids (whole numbers ≥ 1)."]
        else:
            events[name] = ids
    placement = data.get("placement", "")
    if placement != "" and placement not in Placement.values:
        fields["placement"] = [f"One of {', '.join(Placement.values)}."]
    events["placement"] = placement
    if not fields:
        total = sum(len(events[name]) for name in EVENT_KINDS)
        cap = settings.UGC_FEED_EVENTS_MAX_IDS
        if total > cap:
            fields["non_field_errors"] = [f"At most {cap} ids per request, not {total}."]
    if fields:
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
        raise ApplicationError(message, code="invalid", fields=fields)
    return events


@csrf_exempt  # sent by navigator.sendBeacon from any page; it only adds to counters
@require_POST
def feed_events(request):
    """Count impressions, card clicks and add-to-carts of UGC items, with the placement they
    were shown in (buffered; unknown ids are dropped at flush)."""
    try:
        events = parse_events(request.body)
    except ApplicationError as exc:
        return error_response(exc.code, exc.message, exc.fields)
    metrics.record(
        impressions=events["impressions"],
        clicks=events["clicks"],
        add_to_carts=events["add_to_carts"],
        placement=events["placement"],
    )
    response = JsonResponse({}, status=202)
    response["Cache-Control"] = "no-store"
    return response
