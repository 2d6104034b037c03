"""The webhook endpoint, the Buy button's checkout, and the test-mode payment gateway."""

import logging
import secrets

import requests
from django.conf import settings
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.absolute_urls import absolute_url
from core.errors import ApplicationError, error_response
from core.money import format_money, quantize
from links.redirect import read_attribution_cookie
from links.visitors import client_ip
from sales import defence, services
from sales.models import Order, Reservation

logger = logging.getLogger(__name__)
# The Buy button's visitor cookie (random; stored only as a keyed hash): the reservation caps.
VISITOR_COOKIE = "sl_buyer"


@csrf_exempt
@require_POST
def webhook(request, provider, token):
    """`POST /webhooks/<provider>/<token>/`: store, verify, answer; a job processes it."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.WEBHOOK_MAX_BODY_BYTES:
        body = request.read(settings.WEBHOOK_REJECTED_BODY_BYTES)
    else:
        body = request.body
    receipt = services.delivery_receive(
        provider=provider, token=token, body=body, headers=request.headers,
        declared_size=declared,
    )  # fmt: skip
    if receipt.status != 200:
        code = {401: "signature", 413: "too_large"}.get(receipt.status, "invalid_body")
        return error_response(code, receipt.message, status=receipt.status)
    return JsonResponse({"received": True, "duplicate": receipt.duplicate})


@csrf_exempt
@require_POST
def payout_webhook(request, provider):
    """`POST /webhooks/payouts/<stripe|paypal>/`: a payout's fate, verified, applied once."""
    from sales import payouts

    if int(request.META.get("CONTENT_LENGTH") or 0) > settings.WEBHOOK_MAX_BODY_BYTES:
        return error_response("too_large", "The body is too large.", status=413)
    status, message = payouts.payout_notification_receive(
        provider=provider, body=request.body, headers=dict(request.headers)
    )
    if status != 200:
        code = {401: "signature", 404: "not_found", 503: "unavailable"}.get(status, "invalid_body")
        return error_response(code, message, status=status)
    return JsonResponse({"received": True, "outcome": message})


def _checkout_error(request, message: str, status: int):
    return render(request, "sales/checkout_error.html", {"message": message}, status=status)


@require_POST
def checkout(request):
    """The Buy form: reserve the units, then go to the checkout (Stripe or the test gateway)."""
    try:
        variant_id = int(request.POST.get("variant", ""))
        quantity = int(request.POST.get("quantity", "1"))
    except ValueError:
        return _checkout_error(request, "Choose an option and a quantity (a whole number).", 400)
    attribution = read_attribution_cookie(request) or {}
    param = settings.CLICK_ID_PARAM
    visitor_cookie = request.COOKIES.get(VISITOR_COOKIE, "")[:64] or secrets.token_urlsafe(24)
    try:
        reservation = services.checkout_start(
            variant_id=variant_id,
            quantity=quantity,
            key=request.POST.get("key", ""),
            click_id=request.POST.get(param, "")[:100] or attribution.get("click", ""),
            visitor_click_id=attribution.get("click", ""),
            landing_url=request.POST.get("landing", "")[:2000],
            referring_site=request.META.get("HTTP_REFERER", "")[:2000],
            visitor=defence.visitor_of(visitor_cookie),
            network=defence.network_of(client_ip(request)),
        )
    except ApplicationError as exc:
        status = {"out_of_stock": 409, "conflict": 409, "not_found": 404,
                  "checkout_unavailable": 503,
                  "reservation_limit": 429}.get(exc.code, 400)  # fmt: skip
        response = _checkout_error(request, exc.message, status)
    else:
        response = HttpResponseRedirect(reservation.checkout_url, status=303)
    if VISITOR_COOKIE not in request.COOKIES:
        response.set_cookie(VISITOR_COOKIE, visitor_cookie, max_age=365 * 24 * 3600,
                            httponly=True, samesite="Lax",
                            secure=request.is_secure())  # fmt: skip
    return response


@require_safe
@never_cache
def checkout_done(request):
    """Where Stripe (or the test gateway) sends the shopper after paying."""
    session_id = request.GET.get("session_id", "")[:255]
    reservation = (
        Reservation.objects.select_related("variant__product")
        .filter(checkout_session_id=session_id)
        .first()
        if session_id
        else None
    )
    order = Order.objects.filter(reservation=reservation).first() if reservation else None
    return render(request, "sales/checkout_done.html",
                  {"reservation": reservation, "order": order,
                   "review_links": _review_links(order, request)})  # fmt: skip


def _review_links(order, request) -> list[tuple[str, str]]:
    """A paid order's lines, each with its signed link to review it (issue 18)."""
    from ugc.reviews import review_url  # presentation may read any app

    if order is None or order.status not in (Order.Status.PAID, Order.Status.FULFILLED):
        return []
    lines = order.lines.filter(product__isnull=False).select_related("product")
    return [(line.product.title, review_url(line.pk, request)) for line in lines]


@require_http_methods(["GET", "POST"])
@never_cache
def test_pay(request, token):
    """The test-mode gateway: a clearly labelled payment page standing in for Stripe. Pay
    sends a Stripe-format `checkout.session.completed`, signed with the checkout channel's
    secret, to the shop's real webhook endpoint."""
    if not services.test_mode_enabled():
        raise Http404("Test mode is off")
    reservation = services.reservation_for_test_session(token)
    if reservation is None or reservation.channel is None:
        raise Http404("No such test checkout")
    amount = quantize(reservation.unit_price * reservation.quantity, reservation.currency)
    context = {"reservation": reservation, "total": format_money(amount, reservation.currency)}
    if request.method == "GET":
        return render(request, "sales/test_payment.html", context)
    from testservers import webhooks

    event = services.test_checkout_event(
        reservation=reservation,
        email=request.POST.get("email", "")[:320],
        country=request.POST.get("country", "")[:2].upper(),
    )
    body = webhooks.body_of(event)
    channel = reservation.channel
    url = absolute_url(channel.webhook_path())
    try:
        answer = webhooks.send(url, body, webhooks.stripe_headers(secrets=channel.secret,
                                                                  body=body))  # fmt: skip
        ok = answer.status_code == 200
        detail = f"The webhook endpoint answered {answer.status_code}."
    except requests.RequestException as exc:
        ok, detail = False, f"The webhook endpoint could not be reached ({exc.__class__.__name__})."
    logger.info("checkout.test_payment_sent", extra={"reservation_id": reservation.pk, "ok": ok})
    if not ok:
        return render(request, "sales/test_payment.html",
                      {**context, "error": detail}, status=502)  # fmt: skip
    session_id = event["data"]["object"]["id"]
    return HttpResponseRedirect(f"{absolute_url('/checkout/done/')}?session_id={session_id}",
                                status=303)  # fmt: skip


@require_safe
@never_cache
def order_status(request, token):
    """`/orders/<token>/`: the shopper's order page (issue 19): lines, parcels with tracking
    links, delivery. The token is the only key; nothing about the customer is shown beyond
    what they bought."""
    from sales import selectors

    page = selectors.order_status_page(token)
    if page is None:
        raise Http404("No such order")
    response = render(request, "sales/order_status.html", page)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


# --- statements (issue 14): a creator's ledger for one month, as HTML or CSV ------------------


def month_bounds(value: str):
    """`2026-12` -> (2026-12-01 00:00 UTC, 2027-01-01 00:00 UTC); the current month if empty."""
    from datetime import UTC, datetime

    from django.utils import timezone

    if value:
        try:
            first = datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC)
        except ValueError:
            raise ApplicationError("month: a month as YYYY-MM, e.g. 2026-12.",
                                   fields={"month": "YYYY-MM."}) from None  # fmt: skip
    else:
        now = timezone.now()
        first = datetime(now.year, now.month, 1, tzinfo=UTC)
    after = datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=UTC)
    return first, after


def _money(minor: int, currency: str) -> str:
    from core.money import from_minor

    return str(from_minor(minor, currency))


def statement_response(request, data: dict, fmt: str, creator, *, template: str, extra=None):
    """The statement as a page or a CSV download (what the console and the signed link serve)."""
    import csv
    import io

    from django.http import HttpResponse

    from core.money import format_money, from_minor

    currency = data["currency"]
    month = data["start"].strftime("%Y-%m")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        kinds = ["pending", "available", "in_payout", "paid", "receivable"]
        writer.writerow(["date", "transaction", "what", "order", "sku", "memo", *kinds])
        writer.writerow([data["start"].date().isoformat(), "", "Opening balance", "", "", "",
                         *(_money(data["opening"][k], currency) for k in kinds)])  # fmt: skip
        for line in data["lines"]:
            writer.writerow([line["at"].isoformat(), line["transaction_id"], line["label"],
                             line["order"], line["sku"], line["memo"],
                             *(_money(line["moves"][k], currency) for k in kinds)])  # fmt: skip
        writer.writerow([data["end"].date().isoformat(), "", "Closing balance", "", "", "",
                         *(_money(data["closing"][k], currency) for k in kinds)])  # fmt: skip
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="statement-{creator.handle}-{currency}-{month}.csv"'
        )
        return response

    def show(minor):
        return format_money(from_minor(minor, currency), currency)

    context = {
        "creator": creator, "currency": currency, "month": month, "data": data,
        "opening": {k: show(v) for k, v in data["opening"].items()},
        "closing": {k: show(v) for k, v in data["closing"].items()},
        "payable": show(data["payable"]),
        "summary": {k: show(v) for k, v in data["summary"].items()},
        "lines": [{**line, "shown": {k: (show(v) if v else "") for k, v in line["moves"].items()}}
                  for line in data["lines"]],
        **(extra or {}),
    }  # fmt: skip
    return render(request, template, context)


@require_safe
@never_cache
def statement(request, token, fmt):
    """`/statements/<signed token>.<html|csv>`: the link the portal gives a creator."""
    from django.core import signing

    from creators.models import Creator
    from sales import selectors

    try:
        claims = signing.loads(token, salt="sales.statement",
                               max_age=settings.STATEMENT_LINK_MAX_AGE)  # fmt: skip
        start, end = month_bounds(claims["m"])
        creator = Creator.objects.get(pk=claims["c"])
    except (signing.BadSignature, KeyError, ApplicationError, Creator.DoesNotExist):
        raise Http404("This statement link is not valid (or has expired).") from None
    data = selectors.statement(creator_id=creator.pk, currency=claims["cur"], start=start, end=end)
    return statement_response(request, data, fmt, creator, template="sales/statement.html")
