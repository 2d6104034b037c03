"""Fixtures: the platforms' local servers, started per test, with the settings pointed at them;
a console client in the Owner role; Redis keys of the buckets and locks emptied."""

import os

import pytest
import redis

from integrations import ratelimit
from integrations.models import Connection
from tests.integrations.helpers import SHOP, owner_client  # noqa: F401
from testservers import google, instagram, meta, shopify, tiktok_display, tiktok_shop


@pytest.fixture(autouse=True)
def _integrations_settings(settings):
    settings.INTEGRATIONS_REDIS_URL = os.environ["REDIS_URL"]
    settings.INTEGRATIONS_RETRY_BASE = 0.02
    settings.INTEGRATIONS_RETRY_CAP = 0.2
    settings.INTEGRATIONS_PUSH_TIME_BUDGET = 30.0
    settings.INTEGRATIONS_RATE_LIMITS = {
        "shopify": (100.0, 100),
        "tiktok_shop": (200.0, 200),
        "meta": (100.0, 100),
        "google": (100.0, 100),
        "tiktok": (100.0, 100),
    }
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for prefix in (ratelimit.PREFIX, ratelimit.LOCK_PREFIX):
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    ratelimit.reset_local()
    yield


@pytest.fixture
def shopify_server(settings):
    server = shopify.Server().start()
    server.add_shop(SHOP, "Acme Outfitters")
    settings.SHOPIFY_API_KEY = server.api_key
    settings.SHOPIFY_API_SECRET = server.api_secret
    settings.SHOPIFY_SHOP_URL = server.url + "/{shop}"
    yield server
    server.stop()


@pytest.fixture
def tiktok_server(settings):
    server = tiktok_shop.Server(
        redirect_uri="https://shop.example.com/integrations/oauth/tiktok_shop/callback"
    ).start()
    settings.TIKTOK_SHOP_APP_KEY = server.app_key
    settings.TIKTOK_SHOP_APP_SECRET = server.app_secret
    settings.TIKTOK_SHOP_SERVICE_ID = server.service_id
    settings.TIKTOK_SHOP_AUTHORIZE_URL = server.url + "/open/authorize"
    settings.TIKTOK_SHOP_AUTH_URL = server.url
    settings.TIKTOK_SHOP_API_BASE = server.url
    yield server
    server.stop()


@pytest.fixture
def meta_server(settings):
    server = meta.Server().start()
    settings.META_APP_ID = server.app_id
    settings.META_APP_SECRET = server.app_secret
    settings.META_DIALOG_URL = server.url
    settings.META_GRAPH_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def google_server(settings):
    server = google.Server().start()
    settings.GOOGLE_CLIENT_ID = server.client_id
    settings.GOOGLE_CLIENT_SECRET = server.client_secret
    settings.GOOGLE_AUTHORIZE_URL = server.url + "/o/oauth2/v2/auth"
    settings.GOOGLE_OAUTH_URL = server.url
    settings.GOOGLE_MERCHANT_API_URL = server.url
    yield server
    server.stop()


# --- social pulls and rights requests (issue 18) ---

IG_USER = "17841400000000001"


@pytest.fixture
def ig_server(settings):
    server = instagram.Server().start()
    server.add_user(IG_USER, "acme_brand")
    settings.META_APP_ID = server.app_id
    settings.META_APP_SECRET = server.app_secret
    settings.META_GRAPH_URL = server.url
    settings.META_DIALOG_URL = server.url
    settings.PREVIEW_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]  # the server's CDN is local
    settings.SOCIAL_PULL_TIME_BUDGET = 30.0
    yield server
    server.stop()


@pytest.fixture
def ig_connection(ig_server):
    return Connection.objects.create(
        platform="meta",
        status=Connection.Status.ACTIVE,
        account_id="880000000000001",
        account_name="Acme",
        access_token=ig_server.token_for(),
    )


def post(server, n, **fields):
    fields.setdefault("username", f"fan{n}")
    fields.setdefault("caption", f"My favourite jacket for long walks @acme_brand #acmefit {n}")
    fields.setdefault("hashtags", ("acmefit",))
    fields.setdefault("tagged", (IG_USER,))
    fields.setdefault("timestamp", 1_790_000_000 + n * 60)
    return server.add_media(**fields)


# --- TikTok account videos (issue 18) ---

TT_OPEN_ID = "-000AcmeTikTokOpenId"
TT_REDIRECT = "https://shop.example.com/integrations/oauth/tiktok/callback"


@pytest.fixture
def tt_server(settings):
    server = tiktok_display.Server(redirect_uri=TT_REDIRECT).start()
    server.add_user(TT_OPEN_ID, "acme.tok", "Acme on TikTok")
    settings.TIKTOK_CLIENT_KEY = server.client_key
    settings.TIKTOK_CLIENT_SECRET = server.client_secret
    settings.TIKTOK_LOGIN_URL = server.url
    settings.TIKTOK_API_URL = server.url
    settings.PREVIEW_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]  # the server's CDN is local
    settings.SOCIAL_PULL_TIME_BUDGET = 30.0
    yield server
    server.stop()


@pytest.fixture
def tt_connection(tt_server):
    from datetime import timedelta

    from django.utils import timezone

    access, refresh = tt_server.token_for(TT_OPEN_ID)
    return Connection.objects.create(
        platform="tiktok",
        status=Connection.Status.ACTIVE,
        account_id=TT_OPEN_ID,
        account_name="@acme.tok",
        access_token=access,
        refresh_token=refresh,
        access_token_expires_at=timezone.now() + timedelta(hours=24),
        refresh_token_expires_at=timezone.now() + timedelta(days=365),
        scopes=["user.info.basic", "user.info.profile", "video.list"],
    )


def video(server, n, **fields):
    fields.setdefault("description", f"My favourite jacket for long walks #acmefit {n}")
    fields.setdefault("create_time", 1_790_000_000 + n * 60)
    return server.add_video(TT_OPEN_ID, **fields)
