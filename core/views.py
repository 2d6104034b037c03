import functools

from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.health import run_checks


@never_cache
@require_safe
def healthz(request):
    """JSON status of each service: 503 when one is down, 200 when ok or only degraded."""
    status, checks = run_checks()
    return JsonResponse(
        {"status": status, "checks": checks}, status=503 if status == "down" else 200
    )


@functools.cache
def _favicon_bytes() -> bytes | None:
    path = finders.find("favicon.ico")
    if not path:
        return None
    with open(path, "rb") as fh:
        return fh.read()


@require_safe
def favicon(request):
    """`/favicon.ico`, which browsers and crawlers ask for whatever the page's <link> says:
    the shop's icon (`static/favicon.ico`), cached for a day."""
    data = _favicon_bytes()
    if data is None:
        raise Http404("No icon.")
    response = HttpResponse(data, content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
