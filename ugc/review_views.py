"""The review page `/reviews/write/<token>/`: a verified buyer reviews one purchase.

Presentation: it reads the order line the signed link names from `sales` (ugc's domain sits
below sales and never does), checks that the order is paid and not cancelled or refunded and
that the line's product is on sale, then hands the form to `services.review_submit`.
"""

from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core.crypto import keyed_hash
from core.errors import ApplicationError
from links.visitors import client_ip, network_of
from sales.models import Order, OrderLine
from ugc import reviews
from ugc.models import Review
from ugc.services import reviews as review_services

REVIEWABLE = (Order.Status.PAID, Order.Status.FULFILLED, Order.Status.PARTIALLY_REFUNDED)


def _network_key(request) -> str:
    network = network_of(client_ip(request))
    return keyed_hash("ugc-review-network", network) if network else ""


def _line_for(token: str):
    """The order line a link names, or (None, why not)."""
    line_id = reviews.order_line_of(token)
    if line_id is None:
        return None, "This review link is not valid or has expired."
    line = OrderLine.objects.select_related("order", "product").filter(pk=line_id).first()
    if line is None or line.product is None:
        return None, "We cannot find this purchase."
    if line.order.status not in REVIEWABLE:
        return None, "Only paid orders can be reviewed."
    if not line.product.active:
        return None, "This product is no longer sold."
    return line, ""


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def write_review(request, token: str):
    line, problem = _line_for(token[:500])
    if line is None:
        return render(request, "ugc/review_write.html", {"problem": problem}, status=404)
    done = Review.objects.filter(order_line_id=line.pk).first()
    context = {
        "line": line,
        "product": line.product,
        "consent_text": review_services.consent_text(),
        "already": done,
        "values": {},
        "errors": {},
    }
    if request.method == "POST" and done is None:
        values = {name: request.POST.get(name, "") for name in ("stars", "title", "body", "name")}
        try:
            review = review_services.review_submit(
                product_id=line.product_id,
                order_line_id=line.pk,
                stars=values["stars"],
                title=values["title"],
                body=values["body"],
                reviewer_name=values["name"],
                consent=request.POST.get("consent") == "yes",
                media_files=request.FILES.getlist("media"),
                network_key=_network_key(request),
            )
        except ApplicationError as exc:
            errors = {name: " ".join(m) for name, m in exc.fields.items()} or {"form": exc.message}
            renamed = {"reviewer_name": "name", "media_file": "media"}  # the service's names
            errors = {renamed.get(name, name): message for name, message in errors.items()}
            status = 429 if exc.code == "rate_limited" else 400
            return render(
                request, "ugc/review_write.html",
                {**context, "values": values, "errors": errors}, status=status,
            )  # fmt: skip
        return render(
            request, "ugc/review_thanks.html", {"review": review, "product": line.product}
        )
    return render(request, "ugc/review_write.html", context)
