from django.urls import path

from integrations import views

app_name = "integrations"

urlpatterns = [
    path(
        "integrations/oauth/<str:platform>/callback",
        views.oauth_callback,
        name="oauth-callback",
    ),
    # Shopify's catalog topics (products/*, inventory_levels/update); orders have their own.
    path("webhooks/shopify/catalog", views.shopify_webhook, name="shopify-webhook"),
    # Shopify's mandatory compliance webhooks (the app's settings in the Partner Dashboard).
    path(
        "webhooks/shopify/compliance",
        views.shopify_compliance_webhook,
        name="shopify-compliance-webhook",
    ),
]
