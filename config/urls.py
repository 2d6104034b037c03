from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve as serve_media
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from analytics import views as analytics_views  # dashboards (issue 16)
from attribution.api import (  # attribution (issue 13)
    AttributionViewSet,
    CreatorGroupViewSet,
    ProgramViewSet,
    RuleSetViewSet,
)
from catalog.api import ProductViewSet
from core.views import favicon, healthz
from integrations.api import ConnectionViewSet, ListingViewSet  # integrations
from links.api import ShortLinkViewSet
from previews.api import LinkPreviewViewSet
from sales.api import (
    BalanceViewSet,
    OrderFulfilmentViewSet,
    OrderViewSet,
    PayoutRunViewSet,
    PayoutViewSet,
    SalesChannelViewSet,
)
from ugc.api import CollectionFeedView, FeedView

# The admin site is django-unfold's (it replaces admin.site when the apps load); its title,
# header, icon and sidebar are in settings.UNFOLD.
admin.site.site_header = "Shoploop merchant console"
admin.site.site_title = "Shoploop merchant console"
admin.site.index_title = "Merchant console"

router = DefaultRouter(trailing_slash=False)
router.register("products", ProductViewSet, basename="product")
router.register("links", ShortLinkViewSet, basename="link")
router.register("previews", LinkPreviewViewSet, basename="preview")
router.register("orders", OrderViewSet, basename="order")  # sales
router.register(
    r"orders/(?P<order_id>[0-9]+)/fulfilments", OrderFulfilmentViewSet, basename="order-fulfilment"
)  # issue 19
router.register("sales-channels", SalesChannelViewSet, basename="sales-channel")  # sales
# integrations
router.register("integrations/connections", ConnectionViewSet, basename="integration-connection")
router.register("integrations/listings", ListingViewSet, basename="integration-listing")
# --- attribution (issue 13) ---
router.register("programs", ProgramViewSet, basename="program")
router.register("creator-groups", CreatorGroupViewSet, basename="creator-group")
router.register("rulesets", RuleSetViewSet, basename="ruleset")
router.register("attributions", AttributionViewSet, basename="attribution")
# --- end attribution ---
# --- ledger and payouts (issue 14) ---
router.register("balances", BalanceViewSet, basename="balance")
router.register("payout-runs", PayoutRunViewSet, basename="payout-run")
router.register("payouts", PayoutViewSet, basename="payout")
# --- end ledger ---

urlpatterns = [
    path("", include("links.urls")),  # first: /p/<code> is the hot path
    # --- analytics (issue 16): the console's home is the dashboard; per-entity analytics ---
    path("admin/", admin.site.admin_view(analytics_views.home), name="console-home"),
    path("admin/analytics/", include("analytics.urls")),
    # --- end analytics ---
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),  # issue 10: browsers ask for it
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/ugc/feed", FeedView.as_view(), name="ugc-feed-list"),
    path(
        "api/ugc/collections/<slug:slug>",
        CollectionFeedView.as_view(),
        name="ugc-collection-feed",
    ),
    path("api/", include(router.urls)),
    path("", include("previews.urls")),
    path("", include("ugc.urls")),
    path("", include("sales.urls")),  # webhooks and the checkout
    path("", include("catalog.urls")),
    path("", include("integrations.urls")),  # integrations: OAuth callback, Shopify webhooks
    path("creators/", include("creators.portal.urls")),  # the creator portal (issue 15)
]

if settings.SERVE_MEDIA and not settings.MEDIA_URL.startswith(("http://", "https://")):
    prefix = settings.MEDIA_URL.lstrip("/")
    urlpatterns += [
        re_path(rf"^{prefix}(?P<path>.*)$", serve_media, {"document_root": settings.MEDIA_ROOT}),
    ]
