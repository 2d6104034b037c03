"""The per link, creator, content and product analytics pages, under /admin/analytics/."""

from django.contrib import admin
from django.urls import path

from analytics import views

app_name = "analytics"


def _page(dim):
    def view(request, pk):
        return views.entity(request, dim, pk)

    view.__name__ = f"{dim}_analytics"
    return admin.site.admin_view(view)


urlpatterns = [path(f"{dim}/<int:pk>/", _page(dim), name=dim) for dim in views.ENTITIES]
