"""Configuration from the environment: production checks and the embedded default."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-secret-that-is-long-enough-and-random-1234567890-abcdefghijk",
    "ALLOWED_HOSTS": "shop.example.com",
    "PUBLIC_BASE_URL": "https://shop.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "ENCRYPTION_KEYS": "x3mvHnAT9wP9jzP7Tr1y9F0h3aCS0W1f2oH8mq0ZbEs=",
}


def manage(*args, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_passes_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_secrets_are_encrypted_under_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "ENCRYPTION_KEYS"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "shoploop.W001" in result.stderr


def test_missing_public_base_url_stops_start_up_with_a_clear_message():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "PUBLIC_BASE_URL"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL is not set" in result.stderr


def test_missing_secret_key_stops_start_up_with_a_clear_message():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


SHOW_RUNTIME = (
    "from django.conf import settings as s; import json; print(json.dumps({"
    "'db': s.DATABASES['default']['ENGINE'], 'cache': s.CACHES['default']['BACKEND'], "
    "'eager': s.CELERY_TASK_ALWAYS_EAGER}))"
)


def test_embedded_default_is_sqlite_local_memory_and_in_process_jobs():
    result = manage("shell", "-c", SHOW_RUNTIME, env={"DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    runtime = json.loads(result.stdout.strip().splitlines()[-1])
    assert runtime == {
        "db": "django.db.backends.sqlite3",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "eager": True,
    }


def test_production_runtime_uses_postgres_redis_and_celery():
    result = manage("shell", "-c", SHOW_RUNTIME, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    runtime = json.loads(result.stdout.strip().splitlines()[-1])
    assert runtime == {
        "db": "django.db.backends.postgresql",
        "cache": "django.core.cache.backends.redis.RedisCache",
        "eager": False,
    }
