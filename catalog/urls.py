from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.product_index, name="product-index"),
    path("products/<slug:slug>/", views.product_page, name="product-page"),
]
