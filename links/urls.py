from django.urls import re_path

from links import views

app_name = "links"

urlpatterns = [
    re_path(r"^p/(?P<code>[A-Za-z0-9_-]{1,50})/qr\.(?P<kind>svg|png)$", views.qr_code, name="qr"),
    re_path(r"^p/(?P<code>[A-Za-z0-9_-]{1,50})$", views.short_link, name="redirect"),
]
