from django.urls import path, re_path

from sales import views

app_name = "sales"

urlpatterns = [
    re_path(
        r"^webhooks/(?P<provider>shopify|stripe|tiktok_shop|standard)/(?P<token>[A-Za-z0-9_-]{1,64})/$",
        views.webhook,
        name="webhook",
    ),
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/done/", views.checkout_done, name="checkout-done"),
    path("checkout/test/<str:token>/", views.test_pay, name="test-pay"),
]
