"""Preview cards: `/previews/card?url=` (HTML, embeddable in an iframe) and
`/previews/card.json?url=` (what the `<shoploop-preview>` web component renders).

Our own product pages and short links are carded from the catalog and the link itself;
other URLs from their stored preview, the merchant's title, description and image before
the scraped ones. Anonymous requests never start a fetch: a card of a URL nobody in the
console has previewed is simply not found. Where there is no card, the page and the JSON say
why: not previewed yet, being made, failed (with the reason) or not allowed.
"""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from catalog.selectors import products_with_details
from catalog.seo import product_card
from core.absolute_urls import absolute_url
from core.errors import error_response
from links import snapshots
from previews.fetch import InvalidURL
from previews.normalize import normalize_url
from previews.selectors import cached_card_state_for_url, missing_reason

PRODUCT_PATH = re.compile(r"^/products/(?P<slug>[-\w]+)/?$")
SHORT_LINK_PATH = re.compile(r"^/p/(?P<code>[A-Za-z0-9_-]{1,50})/?$")


def _own_hosts(request) -> set[str]:
    hosts = {request.get_host().split(":")[0].lower()}
    if settings.PUBLIC_BASE_URL:
        hosts.add((urlsplit(settings.PUBLIC_BASE_URL).hostname or "").lower())
    return hosts


def _product(slug: str, request) -> dict | None:
    product = products_with_details().filter(slug=slug, active=True).first()
    if product is None:
        return None
    card = product_card(product, request)
    return {
        "url": card["url"],
        "title": card["title"],
        "description": card["description"],
        "image": card["image"]["url"] if card["image"] else "",
        "site_name": card["site_name"],
        "price": card["offer"]["amount"] if card["offer"] else "",
        "currency": card["offer"]["currency"] if card["offer"] else "",
        "price_display": card["offer"]["display"] if card["offer"] else "",
    }


def _short_link(code: str, request) -> dict | None:
    snapshot = snapshots.get(code)
    if snapshot is None or not snapshot["active"] or not snapshot["destination"]:
        return None
    if snapshot["product_id"]:
        product = products_with_details().filter(pk=snapshot["product_id"]).first()
        card = _product(product.slug, request) if product else None
    else:
        card = _external(snapshot["destination"])
    if card:
        card["url"] = absolute_url(f"/p/{snapshot['code']}", request)  # clicks go through it
    return card


def _external(url: str) -> dict | None:
    return _external_state(url).get("card")


def _external_state(url: str) -> dict:
    try:
        state = cached_card_state_for_url(normalize_url(url))
    except InvalidURL:
        return {"status": "none", "reason": missing_reason(None)}
    return {"card": dict(state["card"])} if "card" in state else state


def card_state_for(url: str, request) -> dict:
    """The card of any URL, ours from the catalog and links, others from stored previews:
    `{"card": {...}}`, or `{"status": ..., "reason": ...}` saying why there is none."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {"status": "none", "reason": missing_reason(None)}
    if (parts.hostname or "").lower() in _own_hosts(request):
        card = None
        if match := PRODUCT_PATH.match(parts.path):
            card = _product(match["slug"], request)
        elif match := SHORT_LINK_PATH.match(parts.path):
            card = _short_link(match["code"], request)
        else:
            return _external_state(url)
        return {"card": card} if card else {"status": "none", "reason": missing_reason(None)}
    return _external_state(url)


def card_for(url: str, request) -> dict | None:
    return card_state_for(url, request).get("card")


# The error codes of card.json when there is no card, by the preview's status.
MISSING_CODES = {"none": "not_found", "pending": "pending", "failed": "failed",
                 "blocked": "blocked"}  # fmt: skip


@require_safe
@xframe_options_exempt
@cache_control(public=True, max_age=300)
def card(request):
    state = card_state_for(request.GET.get("url", ""), request)
    status = 200 if "card" in state else 404
    context = {"card": state.get("card"), "reason": state.get("reason", "")}
    return render(request, "previews/card.html", context, status=status)


@require_safe
@cache_control(public=True, max_age=300)
def card_json(request):
    state = card_state_for(request.GET.get("url", ""), request)
    if "card" not in state:
        code = MISSING_CODES.get(state["status"], "not_found")
        response = error_response(code, state["reason"], status=404)
    else:
        response = JsonResponse(state["card"])
    # Public data, read by the web component from any site that embeds it.
    response["Access-Control-Allow-Origin"] = "*"
    return response
