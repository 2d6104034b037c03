"""Test settings: the production parts (PostgreSQL and Redis), never SQLite.

DATABASE_URL and REDIS_URL may be set; they default to the services on 127.0.0.1.
"""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shoploop")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 40)
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # the real-worker tests turn it off
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("PUBLIC_BASE_URL", "https://shop.example.com")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="shoploop-test-media-"))

from .settings import *  # noqa: E402,F403
from .settings import DATABASES, STORAGES  # noqa: E402

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "Tests run on PostgreSQL only; DATABASE_URL must be a postgres:// URL, "
        f"not {DATABASES['default']['ENGINE']}."
    )

ALLOWED_HOSTS = ["*"]
PUBLIC_BASE_URL = "https://shop.example.com"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# WhiteNoise finds static files through the finders in tests; no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT = tempfile.mkdtemp(prefix="shoploop-test-static-")
