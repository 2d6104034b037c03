"""Shoploop settings, read from the environment with django-environ.

With nothing set but DEBUG=true, the embedded default runs: a SQLite file, a local-memory
cache and background jobs run in-process. Production sets DATABASE_URL, REDIS_URL and
CELERY_BROKER_URL. Every variable is listed in the README's configuration table.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static

from config import console  # the console's sidebar: no models imported at import time

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=true for local development."
        )
    SECRET_KEY = "django-insecure-local-development-only-never-use-in-production"  # noqa: S105

# Secrets at rest (webhook secrets, OAuth tokens, payout details): Fernet keys, newest first.
# Empty: one key derived from SECRET_KEY (see core/crypto.py).
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[])

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base of the shop's URLs: og:url, og:image and canonical links for crawlers, short
# links in the console and the API, QR codes. Required in production.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")
if not PUBLIC_BASE_URL:
    if not DEBUG:
        raise ImproperlyConfigured(
            "PUBLIC_BASE_URL is not set. Set it to the shop's public address, "
            "e.g. https://shop.example.com (short links, QR codes and product cards use it)."
        )
    PUBLIC_BASE_URL = "http://127.0.0.1:8000"

INSTALLED_APPS = [
    "unfold",  # the console's theme (issue 16); before django.contrib.admin (it overrides it)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "catalog",
    "creators",
    "previews",
    "links",
    "ugc",
    "sales",
    "integrations",
    "attribution",
    "analytics",  # dashboards and rollups (issue 16)
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

# The merchant console's theme, django-unfold (issue 16): its frame, the task-ordered sidebar
# (config/console.py: each item shown only to those who may open it), light and dark mode
# (following the system, or the user's choice in the account menu), the shop's icon.
UNFOLD = {
    "SITE_TITLE": "Shoploop merchant console",  # the tab's title and the login page's heading
    "SITE_HEADER": "Shoploop merchant console",
    "SITE_SYMBOL": "storefront",
    "SITE_URL": "/",
    "SITE_FAVICONS": [
        {
            "rel": "icon",
            "sizes": "any",
            "type": "image/x-icon",
            "href": lambda request: static("favicon.ico"),
        },
    ],
    "SIDEBAR": {
        "show_search": True,  # finds lists by model name among those the user may open
        "show_all_applications": False,  # every page has a task group (tests/core/test_sidebar.py)
        "navigation": console.SIDEBAR,
    },
}

WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: PostgreSQL in production and tests, a SQLite file by default.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: Redis when REDIS_URL is set, else local memory.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "shoploop",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Background jobs: Celery on a broker, or in-process when there is none.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
if not CELERY_BROKER_URL:
    # Jobs run in-process; nothing is sent anywhere. Celery still takes a producer from its
    # pool to round-trip a job's arguments through JSON, and kombu warns "No hostname was
    # supplied" for a URL without one: the in-memory transport ignores the name.
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"
# --- jobs: one retry policy (core/jobs.py) ---
# Backoff before retry n: between half and all of min(BACKOFF * 2**n, BACKOFF_MAX) seconds.
JOBS_RETRY_BACKOFF = env.float("JOBS_RETRY_BACKOFF", default=2)
JOBS_RETRY_BACKOFF_MAX = env.float("JOBS_RETRY_BACKOFF_MAX", default=600)
# In-process jobs (no broker) retry inline, bounded so a request is held seconds, not minutes.
JOBS_INLINE_MAX_RETRIES = env.int("JOBS_INLINE_MAX_RETRIES", default=2)
JOBS_INLINE_RETRY_MAX_DELAY = env.float("JOBS_INLINE_RETRY_MAX_DELAY", default=2)
# --- end jobs ---

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Where a login goes when its `next` is missing or refused (an outside site): the console.
LOGIN_REDIRECT_URL = "admin:index"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# Static files are served by WhiteNoise, in production too.
STATIC_URL = env.str("STATIC_URL", default="/static/")
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
# Files that must never be public: UGC originals (with their GPS tags) and proofs of consent.
# They are stored outside MEDIA_ROOT, have no URL, and staff read them through the console.
PRIVATE_MEDIA_ROOT = Path(env.str("PRIVATE_MEDIA_ROOT", default=str(BASE_DIR / "private_media")))
STORAGES["private"] = {"BACKEND": "core.storage.PrivateStorage"}
# Serve uploaded media from Django itself (crawlers must reach og:image). Turn off when a
# CDN or object storage serves MEDIA_URL.
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=True)

# Images: uploads larger than this many pixels are refused before they are decoded.
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=40_000_000)
IMAGE_MAX_UPLOAD_BYTES = env.int("IMAGE_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# JSON from outside (API bodies, webhooks, beacons, imports) nests at most this deep.
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=64)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.StaffModelPermissions"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Shoploop API",
    "DESCRIPTION": "Automate everything the Shoploop merchant console can do.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "LinkStatusEnum": "links.models.ShortLink.Status",
        "PreviewStatusEnum": "previews.models.LinkPreview.Status",
    },
}

# Security: production defaults, relaxed only with DEBUG.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = [
    # HSTS preload is a one-way decision for the merchant's domain: opt in with the variable.
    "security.W021",
]

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "event": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "event"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
# --- issue 10: in-process jobs (no broker) do not log "Task ... succeeded" each, which
# flooded `make run`; failures still log. Workers keep Celery's own logging. ---
if CELERY_TASK_ALWAYS_EAGER:
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}
# --- end issue 10 ---

# Demo data (manage.py seed_demo): the admin login it creates.
DEMO_ADMIN_USERNAME = env.str("DEMO_ADMIN_USERNAME", default="admin")
DEMO_ADMIN_PASSWORD = env.str("DEMO_ADMIN_PASSWORD", default="shoploop-demo")


# Short links and click capture (links app).
def _meta_name(header: str) -> str:
    """`CF-IPCountry` -> `HTTP_CF_IPCOUNTRY`, the name Django gives it in request.META."""
    return "HTTP_" + header.upper().replace("-", "_") if header else ""


AFFILIATE_PARAM = env.str("AFFILIATE_PARAM", default="ref")
CLICK_ID_PARAM = env.str("CLICK_ID_PARAM", default="slclid")
ATTRIBUTION_COOKIE_NAME = env.str("ATTRIBUTION_COOKIE_NAME", default="sl_attr")
ATTRIBUTION_WINDOW_DAYS = env.int("ATTRIBUTION_WINDOW_DAYS", default=30)
# Trust these headers only when the edge (Cloudflare, a load balancer) sets or overwrites them.
COUNTRY_HEADER = env.str("COUNTRY_HEADER", default="CF-IPCountry")
COUNTRY_HEADER_META = _meta_name(COUNTRY_HEADER)
CLIENT_IP_HEADER = _meta_name(env.str("CLIENT_IP_HEADER", default=""))
CLIENT_IP_HOPS = env.int("CLIENT_IP_HOPS", default=1)
CLICK_BUFFER_URL = env.str("CLICK_BUFFER_URL", default=REDIS_URL)
CLICK_UNIQUE_WINDOW = env.int("CLICK_UNIQUE_WINDOW", default=3600)
CLICK_DRAIN_BATCH = env.int("CLICK_DRAIN_BATCH", default=5000)
CLICK_DRAIN_TIME_BUDGET = env.float("CLICK_DRAIN_TIME_BUDGET", default=50.0)
CLICK_DRAIN_LOCK_TTL = env.int("CLICK_DRAIN_LOCK_TTL", default=90)
CLICK_BUFFER_DEGRADED_DEPTH = env.int("CLICK_BUFFER_DEGRADED_DEPTH", default=100_000)
LINK_SNAPSHOT_LOCAL_TTL = env.float("LINK_SNAPSHOT_LOCAL_TTL", default=2.0)
LINK_SNAPSHOT_TTL = env.int("LINK_SNAPSHOT_TTL", default=300)

# Checks /healthz runs besides the database, cache and broker.
HEALTH_EXTRA_CHECKS = {
    "click_buffer": "links.clicks.check_click_buffer",
    "feed_metrics_buffer": "ugc.metrics.check_buffer",
}
# Clicks wait in each web process at most one Redis round trip; past this many the
# redirect writes them to the database itself (see links/handoff.py).
CLICK_HANDOFF_MAX_QUEUE = env.int("CLICK_HANDOFF_MAX_QUEUE", default=50_000)
CLICK_HANDOFF_LINGER = env.float("CLICK_HANDOFF_LINGER", default=0.005)
# -- link edge (issue 11) ----------------------------------------------------------------
# config/wsgi.py answers a shopper's /p/<code> before Django (links/edge.py); false: Django
# answers every request.
LINK_EDGE = env.bool("LINK_EDGE", default=True)
# -- end link edge -------------------------------------------------------------------------

# Link previews (previews app). The fetcher's own settings are read in previews/fetch.py.
PREVIEW_USER_AGENT = env.str(
    "PREVIEW_USER_AGENT", default="ShoploopPreview/1.0 (+https://github.com/shoploop/shoploop)"
)
PREVIEW_PROXY_URL = env.str("PREVIEW_PROXY_URL", default="") or None
PREVIEW_FETCH_MAX_BYTES = env.int("PREVIEW_FETCH_MAX_BYTES", default=5 * 1024 * 1024)
PREVIEW_FETCH_CONNECT_TIMEOUT = env.float("PREVIEW_FETCH_CONNECT_TIMEOUT", default=3)
PREVIEW_FETCH_TOTAL_TIMEOUT = env.float("PREVIEW_FETCH_TOTAL_TIMEOUT", default=10)
# Videos pulled from platforms (the fetcher's "video" kind): larger and slower than pages.
PREVIEW_FETCH_VIDEO_MAX_BYTES = env.int("PREVIEW_FETCH_VIDEO_MAX_BYTES", default=100 * 1024**2)
PREVIEW_FETCH_VIDEO_TOTAL_TIMEOUT = env.float("PREVIEW_FETCH_VIDEO_TOTAL_TIMEOUT", default=120)
PREVIEW_FETCH_MAX_REDIRECTS = env.int("PREVIEW_FETCH_MAX_REDIRECTS", default=5)
PREVIEW_FETCH_ALLOWED_PORTS = tuple(
    env.list("PREVIEW_FETCH_ALLOWED_PORTS", cast=int, default=[80, 443, 8080, 8443])
)
# Never in production: named hosts that may be fetched although they are local (tests).
PREVIEW_FETCH_ALLOWED_HOSTS = env.list("PREVIEW_FETCH_ALLOWED_HOSTS", default=[])
PREVIEW_FETCH_CA_BUNDLE = env.str("PREVIEW_FETCH_CA_BUNDLE", default="") or None
PREVIEW_FETCH_LOCK_TTL = env.int("PREVIEW_FETCH_LOCK_TTL", default=90)
PREVIEW_HOST_CONCURRENCY = env.int("PREVIEW_HOST_CONCURRENCY", default=2)
PREVIEW_HOST_INTERVAL = env.int("PREVIEW_HOST_INTERVAL", default=1)
PREVIEW_REFRESH_AFTER = env.int("PREVIEW_REFRESH_AFTER", default=86_400)
PREVIEW_RETRY_FAILED_AFTER = env.int("PREVIEW_RETRY_FAILED_AFTER", default=6 * 3600)

# UGC: moderation claims and the limits on ingested media.
UGC_CLAIM_TIMEOUT = env.int("UGC_CLAIM_TIMEOUT", default=900)  # seconds a claim is held
UGC_IMAGE_MIN_SIDE = env.int("UGC_IMAGE_MIN_SIDE", default=320)
UGC_VIDEO_MIN_SIDE = env.int("UGC_VIDEO_MIN_SIDE", default=360)
UGC_VIDEO_MAX_SECONDS = env.int("UGC_VIDEO_MAX_SECONDS", default=180)
UGC_VIDEO_MAX_BYTES = env.int("UGC_VIDEO_MAX_BYTES", default=200 * 1024 * 1024)
UGC_VIDEO_MAX_PIXELS = env.int("UGC_VIDEO_MAX_PIXELS", default=4096 * 4096)
UGC_FFMPEG_TIMEOUT_SECONDS = env.int("UGC_FFMPEG_TIMEOUT_SECONDS", default=600)
# Zip uploads in the console: refused whole beyond these.
UGC_ZIP_MAX_ENTRIES = env.int("UGC_ZIP_MAX_ENTRIES", default=200)
UGC_ZIP_MAX_ENTRY_BYTES = env.int(
    "UGC_ZIP_MAX_ENTRY_BYTES", default=max(IMAGE_MAX_UPLOAD_BYTES, UGC_VIDEO_MAX_BYTES)
)
UGC_ZIP_MAX_TOTAL_BYTES = env.int("UGC_ZIP_MAX_TOTAL_BYTES", default=1024**3)
UGC_IMPORT_MAX_ROWS = env.int("UGC_IMPORT_MAX_ROWS", default=10_000)  # `import_ugc` files
# The shoppable feed (/shop/feed, /api/ugc/feed) and the product page gallery.
# Rights requests and social pulls (issue 18).
UGC_RIGHTS_BRAND_NAME = env.str("UGC_RIGHTS_BRAND_NAME", default="Shoploop")
UGC_RIGHTS_REPLY_HASHTAG = env.str("UGC_RIGHTS_REPLY_HASHTAG", default="#yesbrand")
UGC_RIGHTS_TERMS_URL = env.str("UGC_RIGHTS_TERMS_URL", default="https://shoploop.example/ugc-terms")
UGC_RIGHTS_TERMS_VERSION = env.str("UGC_RIGHTS_TERMS_VERSION", default="2026-12")
UGC_RIGHTS_REQUEST_DAYS = env.int("UGC_RIGHTS_REQUEST_DAYS", default=14)
UGC_RIGHTS_REQUEST_CHANNELS = env.list("UGC_RIGHTS_REQUEST_CHANNELS", default=["site", "social"])
UGC_RIGHTS_REQUEST_TEMPLATE = env.str(
    "UGC_RIGHTS_REQUEST_TEMPLATE",
    default="Hi {handle}! {brand} loves this post and would like to show it on our site. "
    "Reply {hashtag} to agree to our terms ({terms_url}), or answer here: {consent_url}",
)
CREATOR_SAMPLE_MAX_OPEN = env.int("CREATOR_SAMPLE_MAX_OPEN", default=3)  # product requests
UGC_REVIEW_LINK_DAYS = env.int("UGC_REVIEW_LINK_DAYS", default=90)  # a review link's life
UGC_REVIEW_RATE_PER_HOUR = env.int("UGC_REVIEW_RATE_PER_HOUR", default=5)  # per network
SOCIAL_PULL_TIME_BUDGET = env.float("SOCIAL_PULL_TIME_BUDGET", default=120.0)  # seconds a pull
SOCIAL_DELETED_CHECK_BATCH = env.int("SOCIAL_DELETED_CHECK_BATCH", default=100)  # posts a run
UGC_FEED_PAGE_SIZE = env.int("UGC_FEED_PAGE_SIZE", default=8)
UGC_FEED_MAX_PAGE_SIZE = env.int("UGC_FEED_MAX_PAGE_SIZE", default=50)
UGC_GALLERY_SIZE = env.int("UGC_GALLERY_SIZE", default=12)
# Feed impressions and card clicks: buffered in Redis, flushed by `ugc.metrics_flush`.
UGC_FEED_METRICS_URL = env.str("UGC_FEED_METRICS_URL", default=REDIS_URL)
UGC_FEED_EVENTS_MAX_IDS = env.int("UGC_FEED_EVENTS_MAX_IDS", default=100)  # per beacon
UGC_FEED_METRICS_LOCK_TTL = env.int("UGC_FEED_METRICS_LOCK_TTL", default=60)
UGC_FEED_METRICS_LOCAL_INTERVAL = env.float("UGC_FEED_METRICS_LOCAL_INTERVAL", default=30.0)
UGC_FEED_METRICS_DEGRADED_DEPTH = env.int("UGC_FEED_METRICS_DEGRADED_DEPTH", default=100_000)

# --- sales (issue 12): channels, signed webhooks, orders, stock reservations, checkout -----
# Webhook bodies larger than this are refused (413) and kept truncated like any rejected one.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# Rejected deliveries (forged, stale, unparsable) are kept for the console, bounded: the body
# cut to this many bytes, at most WEBHOOK_REJECTED_PER_MINUTE stored per channel (or per
# provider for unknown channels) a minute, and `sales.prune_rejected_deliveries` keeps the
# newest WEBHOOK_REJECTED_KEEP per channel, none older than WEBHOOK_REJECTED_RETENTION_DAYS.
WEBHOOK_REJECTED_BODY_BYTES = env.int("WEBHOOK_REJECTED_BODY_BYTES", default=4096)
WEBHOOK_REJECTED_PER_MINUTE = env.int("WEBHOOK_REJECTED_PER_MINUTE", default=60)
WEBHOOK_REJECTED_KEEP = env.int("WEBHOOK_REJECTED_KEEP", default=500)
WEBHOOK_REJECTED_RETENTION_DAYS = env.int("WEBHOOK_REJECTED_RETENTION_DAYS", default=7)
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com").rstrip("/")
STRIPE_API_VERSION = env.str("STRIPE_API_VERSION", default="2024-06-20")
STRIPE_API_TIMEOUT = env.float("STRIPE_API_TIMEOUT", default=10.0)
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
STANDARD_WEBHOOK_TOLERANCE = env.int("STANDARD_WEBHOOK_TOLERANCE", default=300)
TIKTOK_SHOP_API_BASE = env.str(
    "TIKTOK_SHOP_API_BASE", default="https://open-api.tiktokglobalshop.com"
).rstrip("/")
TIKTOK_SHOP_API_TIMEOUT = env.float("TIKTOK_SHOP_API_TIMEOUT", default=10.0)
# Stock held for a checkout in progress; `sales.expire_reservations` releases it after this.
RESERVATION_TTL = env.int("RESERVATION_TTL", default=15 * 60)
CHECKOUT_MAX_QUANTITY = env.int("CHECKOUT_MAX_QUANTITY", default=10)
# The test-mode gateway stands in for Stripe (a "Test mode" payment page that sends a signed
# Stripe event to the real webhook). Off unless set; refused without DEBUG unless
# CHECKOUT_TEST_MODE_WITHOUT_DEBUG is also set (a staging site, never a live shop).
CHECKOUT_TEST_MODE = env.bool("CHECKOUT_TEST_MODE", default=False)
CHECKOUT_TEST_MODE_WITHOUT_DEBUG = env.bool("CHECKOUT_TEST_MODE_WITHOUT_DEBUG", default=False)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "OrderStatusEnum": "sales.models.Order.Status",
        "SalesProviderEnum": "sales.models.Provider",
    }
)
# --- end sales ------------------------------------------------------------------------------

# --- integrations: platform connections and catalog sync (integrations app) ---------------
# Each platform's base URLs are settings, so tests, benchmarks and the demo point them at the
# local servers in testservers/. The OAuth apps' credentials come from each platform's
# developer console (see the README's "Connections and catalog sync").
SHOPIFY_API_KEY = env.str("SHOPIFY_API_KEY", default="")
SHOPIFY_API_SECRET = env.str("SHOPIFY_API_SECRET", default="")
SHOPIFY_SCOPES = env.list("SHOPIFY_SCOPES", default=["read_products", "read_inventory"])
SHOPIFY_API_VERSION = env.str("SHOPIFY_API_VERSION", default="2025-01")
# `{shop}` is the shop's myshopify.com domain.
SHOPIFY_SHOP_URL = env.str("SHOPIFY_SHOP_URL", default="https://{shop}")
# Days a customer data export (Shopify's customers/data_request) is kept for the merchant to
# download; `integrations.compliance_sweep` deletes it after that.
SHOPIFY_COMPLIANCE_EXPORT_DAYS = env.int("SHOPIFY_COMPLIANCE_EXPORT_DAYS", default=30)
TIKTOK_SHOP_APP_KEY = env.str("TIKTOK_SHOP_APP_KEY", default="")
TIKTOK_SHOP_APP_SECRET = env.str("TIKTOK_SHOP_APP_SECRET", default="")
TIKTOK_SHOP_SERVICE_ID = env.str("TIKTOK_SHOP_SERVICE_ID", default="")
TIKTOK_SHOP_AUTHORIZE_URL = env.str(
    "TIKTOK_SHOP_AUTHORIZE_URL", default="https://services.tiktokshop.com/open/authorize"
)
TIKTOK_SHOP_AUTH_URL = env.str("TIKTOK_SHOP_AUTH_URL", default="https://auth.tiktok-shops.com")
# TikTok Shop's Partner API host is TIKTOK_SHOP_API_BASE (see sales above): one setting for
# the catalog calls here and the orders and returns sales re-fetches.
META_APP_ID = env.str("META_APP_ID", default="")
META_APP_SECRET = env.str("META_APP_SECRET", default="")
META_GRAPH_VERSION = env.str("META_GRAPH_VERSION", default="v21.0")
META_DIALOG_URL = env.str("META_DIALOG_URL", default="https://www.facebook.com")
META_GRAPH_URL = env.str("META_GRAPH_URL", default="https://graph.facebook.com")
META_SCOPES = env.list("META_SCOPES", default=["catalog_management", "business_management"])
GOOGLE_CLIENT_ID = env.str("GOOGLE_CLIENT_ID", default="")
GOOGLE_CLIENT_SECRET = env.str("GOOGLE_CLIENT_SECRET", default="")
GOOGLE_AUTHORIZE_URL = env.str(
    "GOOGLE_AUTHORIZE_URL", default="https://accounts.google.com/o/oauth2/v2/auth"
)
GOOGLE_OAUTH_URL = env.str("GOOGLE_OAUTH_URL", default="https://oauth2.googleapis.com")
GOOGLE_MERCHANT_API_URL = env.str(
    "GOOGLE_MERCHANT_API_URL", default="https://merchantapi.googleapis.com"
)
# TikTok account connections (Login Kit for Web + Display API, issue 18): the app's client key
# and secret from developers.tiktok.com, where to send the merchant to log in, and the API.
# `username` needs user.info.profile since TikTok's 2024 scope migration (user.info.basic
# alone gives open_id and display_name only).
TIKTOK_CLIENT_KEY = env.str("TIKTOK_CLIENT_KEY", default="")
TIKTOK_CLIENT_SECRET = env.str("TIKTOK_CLIENT_SECRET", default="")
TIKTOK_LOGIN_URL = env.str("TIKTOK_LOGIN_URL", default="https://www.tiktok.com")
TIKTOK_API_URL = env.str("TIKTOK_API_URL", default="https://open.tiktokapis.com")
TIKTOK_SCOPES = env.list(
    "TIKTOK_SCOPES", default=["user.info.basic", "user.info.profile", "video.list"]
)
# Requests a second and burst per destination account: the platforms' documented limits.
INTEGRATIONS_RATE_LIMITS = {
    "shopify": (
        env.float("SHOPIFY_REQUESTS_PER_SECOND", default=2.0),
        env.int("SHOPIFY_BURST", default=40),
    ),
    "tiktok_shop": (
        env.float("TIKTOK_SHOP_REQUESTS_PER_SECOND", default=50.0),
        env.int("TIKTOK_SHOP_BURST", default=50),
    ),
    "meta": (
        env.float("META_REQUESTS_PER_SECOND", default=1.0),
        env.int("META_BURST", default=5),
    ),
    "google": (
        env.float("GOOGLE_REQUESTS_PER_SECOND", default=5.0),
        env.int("GOOGLE_BURST", default=10),
    ),
    # TikTok's Display API: 600 requests a minute per endpoint (a sliding window).
    "tiktok": (
        env.float("TIKTOK_REQUESTS_PER_SECOND", default=10.0),
        env.int("TIKTOK_BURST", default=20),
    ),
}
# Items a destination takes in one request (each below its documented maximum).
INTEGRATIONS_BATCH_SIZES = {
    "meta": env.int("META_BATCH_SIZE", default=1000),  # items_batch takes up to 5,000
    "google": env.int("GOOGLE_BATCH_SIZE", default=500),  # HTTP batch takes up to 1,000 calls
}
# Redis for the token buckets and the one-push-per-connection locks; empty: in-process.
INTEGRATIONS_REDIS_URL = env.str("INTEGRATIONS_REDIS_URL", default=REDIS_URL)
INTEGRATIONS_HTTP_TIMEOUT = env.float("INTEGRATIONS_HTTP_TIMEOUT", default=20.0)
INTEGRATIONS_PUSH_TIME_BUDGET = env.float("INTEGRATIONS_PUSH_TIME_BUDGET", default=45.0)
INTEGRATIONS_PUSH_CHUNK = env.int("INTEGRATIONS_PUSH_CHUNK", default=500)
INTEGRATIONS_RETRY_BASE = env.float("INTEGRATIONS_RETRY_BASE", default=1.0)
INTEGRATIONS_RETRY_CAP = env.float("INTEGRATIONS_RETRY_CAP", default=900.0)
INTEGRATIONS_MAX_RETRIES_PER_CALL = env.int("INTEGRATIONS_MAX_RETRIES_PER_CALL", default=4)
# urllib3 logs whole URLs at DEBUG, and TikTok Shop's token endpoints take the app secret and
# the refresh token in the query string: never let those lines out, whatever LOG_LEVEL says.
LOGGING["loggers"]["urllib3.connectionpool"] = {"level": "WARNING"}
# Seconds the OAuth state of a console session stays valid.
INTEGRATIONS_OAUTH_STATE_TTL = env.int("INTEGRATIONS_OAUTH_STATE_TTL", default=600)
# --- end integrations ----------------------------------------------------------------------
# --- attribution (issue 13): who gets the credit, commissions, fraud, conversions ----------
# A rule-set version that lowers a rate applies to orders placed this many days after it is
# published (a raise applies at once).
COMMISSION_DECREASE_NOTICE_DAYS = env.int("COMMISSION_DECREASE_NOTICE_DAYS", default=30)
# Fraud signals (each flags the commission for review; none drops it).
FRAUD_SPIKE_WINDOW_MINUTES = env.int("FRAUD_SPIKE_WINDOW_MINUTES", default=60)
FRAUD_SPIKE_MIN_CLICKS = env.int("FRAUD_SPIKE_MIN_CLICKS", default=50)
FRAUD_SPIKE_SHARE = env.float("FRAUD_SPIKE_SHARE", default=0.5)
FRAUD_REPEAT_WINDOW_HOURS = env.int("FRAUD_REPEAT_WINDOW_HOURS", default=24)
FRAUD_REPEAT_MAX_ORDERS = env.int("FRAUD_REPEAT_MAX_ORDERS", default=3)
FRAUD_DISPOSABLE_DOMAINS_EXTRA = env.list("FRAUD_DISPOSABLE_DOMAINS_EXTRA", default=[])
# Conversions sent server to server (the outbox); base URLs point tests at local servers.
TIKTOK_EVENTS_API_BASE = env.str(
    "TIKTOK_EVENTS_API_BASE", default="https://business-api.tiktok.com"
).rstrip("/")
META_CAPI_BASE = env.str("META_CAPI_BASE", default="https://graph.facebook.com").rstrip("/")
META_CAPI_VERSION = env.str("META_CAPI_VERSION", default="v21.0")
CONVERSIONS_TIMEOUT = env.float("CONVERSIONS_TIMEOUT", default=10.0)
CONVERSIONS_MAX_ATTEMPTS = env.int("CONVERSIONS_MAX_ATTEMPTS", default=8)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "AttributionRuleEnum": "attribution.models.Attribution.Rule",
        "CommissionRuleKindEnum": "creators.program_models.CommissionRule.Kind",
        "ApplicationModeEnum": "creators.program_models.CreatorGroup.ApplicationMode",
        "ConversionStatusEnum": "attribution.models.ConversionEvent.Status",
    }
)
# --- end attribution ------------------------------------------------------------------------

# --- creator portal (issue 15): accounts, applications, email, login throttling, CSP -------
INSTALLED_APPS += ["axes", "csp"]
# The portal's Content-Security-Policy (on /creators/ only), then django-axes, which must be
# the last middleware: it answers a locked-out login with the portal's lockout page.
MIDDLEWARE += ["creators.portal.middleware.PortalCSPMiddleware", "axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "creators.portal.auth.ThrottleBackend",  # first: django-axes refuses a locked-out login
    "django.contrib.auth.backends.ModelBackend",
    "creators.portal.auth.CreatorEmailBackend",  # creators log in by email
]
# Email: the console backend on the embedded default; SMTP with EMAIL_URL, e.g.
# smtp+tls://user:password@smtp.example.com:587
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Shoploop <no-reply@localhost>")
# The shop's brand on the portal and in its emails.
PORTAL_BRAND_NAME = env.str("PORTAL_BRAND_NAME", default="Shoploop")
PORTAL_BRAND_COLOR = env.str("PORTAL_BRAND_COLOR", default="#e3165b")
PORTAL_INVITATION_DAYS = env.int("PORTAL_INVITATION_DAYS", default=14)
PORTAL_LOGIN_LINK_MINUTES = env.int("PORTAL_LOGIN_LINK_MINUTES", default=15)
# Spam guards: applications per network (/24 or /48) an hour; login links per address an hour.
PORTAL_APPLY_PER_NETWORK_PER_HOUR = env.int("PORTAL_APPLY_PER_NETWORK_PER_HOUR", default=5)
PORTAL_LOGIN_LINKS_PER_HOUR = env.int("PORTAL_LOGIN_LINKS_PER_HOUR", default=5)
# Failed logins (portal and console alike), counted per address and user name by django-axes.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "creators.portal.auth.locked_out"
AXES_CLIENT_IP_CALLABLE = "creators.portal.auth.client_ip"
AXES_VERBOSE = False
# /creators/ only: scripts, styles, fonts and forms from the site itself; nothing inline.
_MEDIA_ORIGIN = (
    MEDIA_URL.split("/", 3)[:3] if MEDIA_URL.startswith(("http://", "https://")) else None
)
PORTAL_CONTENT_SECURITY_POLICY = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", *(["/".join(_MEDIA_ORIGIN)] if _MEDIA_ORIGIN else [])],
    "media-src": ["'self'", *(["/".join(_MEDIA_ORIGIN)] if _MEDIA_ORIGIN else [])],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}
# --- end creator portal ---------------------------------------------------------------------
# --- ledger, payouts and reconciliation (issue 14) -------------------------------------------
# The merchant's ledger accounts are split in this many rows per kind and currency so that
# concurrent postings do not queue on one row (sales/ledger.py); raising it later is safe.
LEDGER_MERCHANT_SHARDS = env.int("LEDGER_MERCHANT_SHARDS", default=8)
# Payout runs: the default schedule (weekly, twice_monthly, monthly) and minimum, in major units
# of the run's currency, with per-currency overrides ("JPY=5000,KWD=15").
PAYOUT_SCHEDULE = env.str("PAYOUT_SCHEDULE", default="monthly")
PAYOUT_MINIMUM = env.str("PAYOUT_MINIMUM", default="50")
PAYOUT_MINIMUMS = env.dict("PAYOUT_MINIMUMS", default={})
# A payout sent this many seconds ago without the provider's word is asked about (polled).
PAYOUT_POLL_AFTER = env.int("PAYOUT_POLL_AFTER", default=600)
# Stripe Connect transfers: the platform's secret key and the payout webhook's signing secret.
STRIPE_PAYOUTS_API_KEY = env.str("STRIPE_PAYOUTS_API_KEY", default="")
STRIPE_PAYOUTS_WEBHOOK_SECRET = env.str("STRIPE_PAYOUTS_WEBHOOK_SECRET", default="")
# PayPal Payouts: the REST app's client id and secret (OAuth client credentials), its webhook id.
PAYPAL_API_BASE = env.str("PAYPAL_API_BASE", default="https://api-m.paypal.com").rstrip("/")
PAYPAL_CLIENT_ID = env.str("PAYPAL_CLIENT_ID", default="")
PAYPAL_CLIENT_SECRET = env.str("PAYPAL_CLIENT_SECRET", default="")
PAYPAL_WEBHOOK_ID = env.str("PAYPAL_WEBHOOK_ID", default="")
PAYPAL_API_TIMEOUT = env.float("PAYPAL_API_TIMEOUT", default=10.0)
# Statement links for creators (the portal): how long a signed link works, in seconds.
STATEMENT_LINK_MAX_AGE = env.int("STATEMENT_LINK_MAX_AGE", default=7 * 24 * 3600)
# Tax forms creators upload in the portal (PDF or image), the most bytes one may have.
TAX_FORM_MAX_BYTES = env.int("TAX_FORM_MAX_BYTES", default=10 * 1024 * 1024)
# Reconciliation: the most lines one statement file may have.
RECONCILIATION_MAX_ROWS = env.int("RECONCILIATION_MAX_ROWS", default=50_000)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "PayoutStatusEnum": "sales.payout_models.Payout.Status",
        "PayoutRunStatusEnum": "sales.payout_models.PayoutRun.Status",
        "PayoutRunScheduleEnum": "sales.payout_models.PayoutRun.Schedule",
        "PayoutMethodEnum": "sales.payout_models.PayoutMethod",
    }
)
# --- end ledger ------------------------------------------------------------------------------
# --- analytics (issue 16): rollups and the console's dashboards -----------------------------
# The merchant's time zone: the dashboards' days and hours (an IANA name; default TIME_ZONE).
# Changing it needs `manage.py rollups_build --rebuild` (days are folded in this zone).
DASHBOARD_TIME_ZONE = env.str("DASHBOARD_TIME_ZONE", default=TIME_ZONE)
# --- end analytics ---------------------------------------------------------------------------
# --- fulfilment and stock defence (issue 19) -------------------------------------------------
# Parcels pushed to Shopify / TikTok Shop: failed pushes are retried with exponential backoff
# and jitter from RETRY_BASE seconds up to RETRY_CAP, at most MAX_ATTEMPTS times.
FULFILMENT_PUSH_RETRY_BASE = env.float("FULFILMENT_PUSH_RETRY_BASE", default=30.0)
FULFILMENT_PUSH_RETRY_CAP = env.float("FULFILMENT_PUSH_RETRY_CAP", default=3600.0)
FULFILMENT_PUSH_MAX_ATTEMPTS = env.int("FULFILMENT_PUSH_MAX_ATTEMPTS", default=12)
FULFILMENT_CSV_MAX_ROWS = env.int("FULFILMENT_CSV_MAX_ROWS", default=5000)
# The carrier tracking poll: an AfterShip-compatible tracking API (empty key: no poll).
CARRIER_TRACKING_API_BASE = env.str(
    "CARRIER_TRACKING_API_BASE", default="https://api.aftership.com/tracking/2024-10"
).rstrip("/")
CARRIER_TRACKING_API_KEY = env.str("CARRIER_TRACKING_API_KEY", default="")
FULFILMENT_TRACKING_EVERY = env.int("FULFILMENT_TRACKING_EVERY", default=3 * 3600)
FULFILMENT_TRACKING_MAX_DAYS = env.int("FULFILMENT_TRACKING_MAX_DAYS", default=60)
INTEGRATIONS_RATE_LIMITS["aftership"] = (
    env.float("CARRIER_TRACKING_REQUESTS_PER_SECOND", default=10.0),
    env.int("CARRIER_TRACKING_BURST", default=10),
)
# Reservation caps (a flash sale's defaults): active reservations per visitor and per network
# (/24 IPv4, /64 IPv6, so an office or a carrier's NAT is not one shopper), and units of one
# product held by one visitor or one network. CHECKOUT_MAX_QUANTITY bounds a line.
RESERVATION_MAX_PER_VISITOR = env.int("RESERVATION_MAX_PER_VISITOR", default=3)
RESERVATION_MAX_PER_NETWORK = env.int("RESERVATION_MAX_PER_NETWORK", default=40)
RESERVATION_MAX_UNITS_PER_PRODUCT_VISITOR = env.int(
    "RESERVATION_MAX_UNITS_PER_PRODUCT_VISITOR", default=10
)
RESERVATION_MAX_UNITS_PER_PRODUCT_NETWORK = env.int(
    "RESERVATION_MAX_UNITS_PER_PRODUCT_NETWORK", default=30
)
# The anomaly job (`sales.stock_anomalies`, every minute) looks at the last WINDOW seconds.
# A network trips when it made >= NETWORK_MIN_RESERVATIONS reservations across
# >= NETWORK_MIN_PRODUCTS products and paid for at most NETWORK_MAX_PAID_SHARE of them. A
# product trips when >= PRODUCT_MIN_EXPIRED of its reservations expired unpaid and its expiry
# rate is PRODUCT_EXPIRY_FACTOR times its rate over the BASELINE_DAYS before (or above
# PRODUCT_EXPIRY_RATE with no baseline); the networks behind SUSPECT_SHARE of those expiries
# are throttled. A throttled network may hold THROTTLE_MAX_ACTIVE reservations, each for
# THROTTLE_TTL seconds, for THROTTLE_FOR seconds.
STOCK_DEFENCE_WINDOW = env.int("STOCK_DEFENCE_WINDOW", default=600)
STOCK_DEFENCE_NETWORK_MIN_RESERVATIONS = env.int(
    "STOCK_DEFENCE_NETWORK_MIN_RESERVATIONS", default=20
)
STOCK_DEFENCE_NETWORK_MIN_PRODUCTS = env.int("STOCK_DEFENCE_NETWORK_MIN_PRODUCTS", default=4)
STOCK_DEFENCE_NETWORK_MAX_PAID_SHARE = env.float(
    "STOCK_DEFENCE_NETWORK_MAX_PAID_SHARE", default=0.1
)
STOCK_DEFENCE_PRODUCT_MIN_EXPIRED = env.int("STOCK_DEFENCE_PRODUCT_MIN_EXPIRED", default=20)
STOCK_DEFENCE_PRODUCT_EXPIRY_FACTOR = env.float("STOCK_DEFENCE_PRODUCT_EXPIRY_FACTOR", default=3.0)
STOCK_DEFENCE_PRODUCT_EXPIRY_RATE = env.float("STOCK_DEFENCE_PRODUCT_EXPIRY_RATE", default=0.8)
STOCK_DEFENCE_BASELINE_DAYS = env.int("STOCK_DEFENCE_BASELINE_DAYS", default=7)
STOCK_DEFENCE_SUSPECT_SHARE = env.float("STOCK_DEFENCE_SUSPECT_SHARE", default=0.25)
STOCK_DEFENCE_THROTTLE_MAX_ACTIVE = env.int("STOCK_DEFENCE_THROTTLE_MAX_ACTIVE", default=2)
STOCK_DEFENCE_THROTTLE_TTL = env.int("STOCK_DEFENCE_THROTTLE_TTL", default=120)
STOCK_DEFENCE_THROTTLE_FOR = env.int("STOCK_DEFENCE_THROTTLE_FOR", default=3600)
# The Buy button says "Only N left" at or below this many available units (0: never).
STOCK_LOW_SHOWN_BELOW = env.int("STOCK_LOW_SHOWN_BELOW", default=5)
# Days of cover: reorder when a variant's stock lasts fewer days than its product's threshold
# (or this default) at its 28-day sales rate (the 7-day rate when that is higher).
REORDER_DAYS = env.int("REORDER_DAYS", default=14)
# --- end fulfilment and stock defence --------------------------------------------------------
