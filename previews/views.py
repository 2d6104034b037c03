"""Preview cards: `/previews/card?url=` (HTML, embeddable in an iframe) and
`/previews/card.json?url=` (what the `<shoploop-preview>` web component renders).

Our own product pages and short links are carded from the catalog and the link itself;
other URLs from their stored preview. Anonymous requests never start a fetch: a card of a
URL nobody in the console has previewed is simply not found.
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
from previews.selectors import cached_card_for_url

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
    try:
        card = cached_card_for_url(normalize_url(url))
    except InvalidURL:
        return None
    return dict(card) if card else None


def card_for(url: str, request) -> dict | None:
    """The card of any URL: ours from the catalog and links, others from stored previews."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if (parts.hostname or "").lower() in _own_hosts(request):
        if match := PRODUCT_PATH.match(parts.path):
            return _product(match["slug"], request)
        if match := SHORT_LINK_PATH.match(parts.path):
            return _short_link(match["code"], request)
    return _external(url)


@require_safe
@xframe_options_exempt
@cache_control(public=True, max_age=300)
def card(request):
    data = card_for(request.GET.get("url", ""), request)
    status = 200 if data else 404
    return render(request, "previews/card.html", {"card": data}, status=status)


@require_safe
@cache_control(public=True, max_age=300)
def card_json(request):
    data = card_for(request.GET.get("url", ""), request)
    if not data:
        response = error_response("not_found", "No preview of this URL.", status=404)
    else:
        response = JsonResponse(data)
    # Public data, read by the web component from any site that embeds it.
    response["Access-Control-Allow-Origin"] = "*"
    return response
