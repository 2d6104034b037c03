from django.urls import path

from creators.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("brand.css", views.brand_css, name="brand_css"),
    # Joining
    path("apply/<slug:slug>/", views.apply, name="apply"),
    path("apply/<slug:slug>/thanks/", views.apply_done, name="apply_done"),
    path("apply/answer/<str:token>/", views.apply_answer, name="apply_answer"),
    path("invitation/<str:token>/", views.invitation, name="invitation"),
    # Logging in
    path("login/", views.login_view, name="login"),
    path("login/link/", views.login_link_request, name="login_link_request"),
    path("login/link/<str:token>/", views.login_link, name="login_link"),
    path("logout/", views.logout_view, name="logout"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password/set/<uidb64>/<token>/", views.SetPasswordView.as_view(), name="set_password"),
    # The portal
    path("links/", views.links, name="links"),
    path("links/<int:link_id>/", views.link_detail, name="link"),
    path("codes/", views.codes, name="codes"),
    path("content/", views.content, name="content"),
    path("samples/", views.samples, name="samples"),  # issue 18: product requests
    path("content/new/", views.content_new, name="content_new"),
    path("content/<int:item_id>/", views.content_item, name="content_item"),
    path("content/<int:item_id>/withdraw/", views.content_withdraw, name="content_withdraw"),
    path("earnings/", views.earnings, name="earnings"),
    path("payouts/", views.payouts, name="payouts"),
    path("payouts/details/", views.payout_details, name="payout_details"),
    path("payouts/tax-forms/", views.tax_form_upload, name="tax_form_upload"),
    path("payouts/tax-forms/<int:form_id>/", views.tax_form_download, name="tax_form"),
    path("settings/", views.settings_view, name="settings"),
    path("settings/password/", views.password_change, name="password_change"),
    path("settings/export/", views.export, name="export"),
    path("settings/erase/", views.erase, name="erase"),
]
