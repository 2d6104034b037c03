"""The consent page `/ugc/consent/<token>/`: a post's author accepts or declines a rights request.

The token is the request's secret (sent in the comment or message); the page shows the post,
the program's terms link and version, and two buttons. The answer is recorded by
`services.rights_request_answer` with the terms version the page showed.
"""

from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError
from ugc import selectors, services
from ugc.models import RightsRequest


@require_http_methods(["GET", "HEAD", "POST"])
def consent(request, token: str):
    rights_request = RightsRequest.objects.select_related("item").filter(token=token[:64]).first()
    if rights_request is None:
        return render(request, "ugc/consent.html", {"missing": True}, status=404)
    error = ""
    if request.method == "POST":
        answer = request.POST.get("answer")
        if answer not in ("accept", "decline"):
            error = "Choose “I agree” or “No, thanks”."
        else:
            try:
                rights_request = services.rights_request_answer(
                    token=rights_request.token,
                    accept=answer == "accept",
                    terms_version=request.POST.get("terms_version", ""),
                )
            except ApplicationError as exc:
                error = exc.message
                rights_request.refresh_from_db()
    context = {
        "rights_request": rights_request,
        "item": rights_request.item,
        "media": selectors.item_media(rights_request.item),
        "open": rights_request.status == RightsRequest.Status.REQUESTED,
        "error": error,
    }
    return render(request, "ugc/consent.html", context, status=400 if error else 200)
