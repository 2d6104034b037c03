from django.http import JsonResponse
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
