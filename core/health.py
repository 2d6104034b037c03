"""Checks of the services Shoploop needs, for /healthz."""

import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils.module_loading import import_string
from kombu import Connection

OK = "ok"
DEGRADED = "degraded"  # serving, but something needs attention
DOWN = "down"


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"status": DOWN, "error": type(exc).__name__}
    return {"status": OK, "vendor": connection.vendor}


def check_cache() -> dict:
    nonce = secrets.token_hex(8)
    try:
        cache.set("healthz:probe", nonce, timeout=10)
        if cache.get("healthz:probe") != nonce:
            return {"status": DOWN, "error": "value not read back"}
    except Exception as exc:
        return {"status": DOWN, "error": type(exc).__name__}
    return {"status": OK, "backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def check_broker() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": OK, "mode": "in-process"}
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=1)
    except Exception as exc:
        return {"status": DOWN, "error": type(exc).__name__}
    return {"status": OK, "mode": "celery"}


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


def run_checks() -> tuple[str, dict]:
    """Run every check: the overall status is the worst of them."""
    checks = dict(CHECKS)
    for name, path in settings.HEALTH_EXTRA_CHECKS.items():
        checks[name] = import_string(path)
    results = {}
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:
            results[name] = {"status": DOWN, "error": type(exc).__name__}
    statuses = {r["status"] for r in results.values()}
    overall = DOWN if DOWN in statuses else DEGRADED if DEGRADED in statuses else OK
    return overall, results
