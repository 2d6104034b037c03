from django.urls import path, re_path

from sales import views

app_name = "sales"

urlpatterns = [
    re_path(
        r"^webhooks/(?P<provider>shopify|stripe|tiktok_shop|standard)/(?P<token>[A-Za-z0-9_-]{1,64})/$",
        views.webhook,
        name="webhook",
    ),
    re_path(
        r"^webhooks/payouts/(?P<provider>stripe|paypal)/$",
        views.payout_webhook,
        name="payout-webhook",
    ),  # issue 14: Stripe Connect and PayPal Payouts tell us a payout's fate
    re_path(
        r"^statements/(?P<token>[\w:.-]{1,400})\.(?P<fmt>html|csv)$",
        views.statement,
        name="statement",
    ),  # issue 14: the signed link to a creator's monthly statement
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/done/", views.checkout_done, name="checkout-done"),
    path("checkout/test/<str:token>/", views.test_pay, name="test-pay"),
    re_path(
        r"^orders/(?P<token>[A-Za-z0-9_-]{20,64})/$", views.order_status, name="order-status"
    ),  # issue 19: the shopper's order page
]
