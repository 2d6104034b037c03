"""Checks of the services Shoploop needs, for /healthz."""

import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from kombu import Connection

OK = "ok"
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


def run_checks() -> tuple[bool, dict]:
    """Run every check; healthy only when all pass."""
    results = {name: check() for name, check in CHECKS.items()}
    return all(r["status"] == OK for r in results.values()), results
