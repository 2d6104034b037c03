"""The app's URLs plus `/bench/floor`: a no-op view that answers a fixed 302 (the floor)."""

from django.http import HttpResponseRedirect
from django.urls import include, path


def floor(request):
    return HttpResponseRedirect("https://shop.example.com/products/floor")


urlpatterns = [
    path("bench/floor", floor),
    path("", include("config.urls")),
]
