"""The OAuth callback (the redirect URI registered with each platform), Shopify's catalog
webhooks and its mandatory compliance webhooks. Starting a connection, choosing its account
and everything else live in the console (`integrations/admin.py`)."""

import logging

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError
from integrations import compliance, oauth, services
from integrations.clients import app_for
from integrations.clients import shopify as shopify_client
from integrations.http import PlatformError, PlatformSession
from integrations.models import Connection, Platform
from integrations.signing import shopify_oauth_valid

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 5 * 1024 * 1024


def _list_url() -> str:
    return reverse("admin:integrations_connection_changelist")


@require_GET
@staff_member_required
def oauth_callback(request, platform: str):
    """Where the platform sends the merchant back: check the state, trade the code for a
    grant, list the accounts it covers and store the connection."""
    if platform not in Platform.values:
        raise PermissionDenied
    if not request.user.has_perm("integrations.add_connection"):
        raise PermissionDenied
    try:
        entry = oauth.finish(request.session, platform=platform, state=request.GET.get("state", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(_list_url())
    if request.GET.get("error"):
        detail = request.GET.get("error_description") or request.GET["error"]
        messages.error(request, f"{Platform(platform).label} did not grant access: {detail}")
        return HttpResponseRedirect(_list_url())
    shop = entry.get("shop", "")
    if platform == Platform.SHOPIFY:
        from django.conf import settings

        params = {k: v for k, v in request.GET.items()}
        if not shopify_oauth_valid(settings.SHOPIFY_API_SECRET, params):
            messages.error(request, "Shopify's answer was not signed by Shopify; not connected.")
            return HttpResponseRedirect(_list_url())
        if shopify_client.normalize_shop(params.get("shop", "")) != shop:
            messages.error(request, "Shopify answered for another shop; not connected.")
            return HttpResponseRedirect(_list_url())
    code = request.GET.get("code", "")
    if not code:
        messages.error(request, "The platform sent no authorization code.")
        return HttpResponseRedirect(_list_url())
    app = app_for(platform)
    session = PlatformSession(platform=platform, account=shop or "oauth")
    try:
        grant = app.exchange(
            session,
            code=code,
            redirect_uri=oauth.redirect_uri(platform),
            shop=shop,
            verifier=entry.get("verifier") or None,
        )
        choices = app.accounts(session, grant, shop=shop)
        connection = services.connection_connect(
            platform=platform,
            grant=grant,
            choices=choices,
            actor=request.user,
            connection_id=entry.get("connection_id"),
        )
    except (ApplicationError, PlatformError) as exc:
        messages.error(request, f"Not connected: {exc.message}")
        return HttpResponseRedirect(_list_url())
    if connection.status == Connection.Status.PENDING:
        return HttpResponseRedirect(
            reverse("admin:integrations_connection_choose", args=[connection.pk])
        )
    messages.success(request, f"Connected {connection}.")
    return HttpResponseRedirect(
        reverse("admin:integrations_connection_change", args=[connection.pk])
    )


@csrf_exempt
@require_POST
def shopify_webhook(request):
    """Verify (HMAC of the raw body), store once, answer at once; a job applies it."""
    if int(request.headers.get("Content-Length") or 0) > MAX_WEBHOOK_BYTES:
        return HttpResponse("too large", status=413)
    body = request.body
    outcome = services.shopify_webhook_receive(
        shop=request.headers.get("X-Shopify-Shop-Domain", ""),
        topic=request.headers.get("X-Shopify-Topic", ""),
        webhook_id=request.headers.get("X-Shopify-Webhook-Id", ""),
        body=body,
        hmac_header=request.headers.get("X-Shopify-Hmac-Sha256", ""),
    )
    return HttpResponse(outcome.message, status=outcome.status, content_type="text/plain")


@csrf_exempt
@require_POST
def shopify_compliance_webhook(request):
    """`customers/data_request`, `customers/redact`, `shop/redact`: verify (HMAC of the raw
    body; 401 if wrong), store, answer at once; a job acts on it (`integrations/compliance.py`)."""
    if int(request.headers.get("Content-Length") or 0) > compliance.MAX_BODY_BYTES:
        return HttpResponse("too large", status=413)
    outcome = compliance.compliance_request_receive(
        shop=request.headers.get("X-Shopify-Shop-Domain", ""),
        topic=request.headers.get("X-Shopify-Topic", ""),
        webhook_id=request.headers.get("X-Shopify-Webhook-Id", ""),
        body=request.body,
        hmac_header=request.headers.get("X-Shopify-Hmac-Sha256", ""),
    )
    return HttpResponse(outcome.message, status=outcome.status, content_type="text/plain")
