"""Reads of the catalog for pages and the API."""

from django.db.models import Prefetch
from django.http import Http404

from catalog.models import Product, ProductImage, Variant


def products_with_details():
    """Products with their active variants and images, in two extra queries."""
    return Product.objects.prefetch_related(
        Prefetch(
            "variants", queryset=Variant.objects.filter(active=True).order_by("position", "pk")
        ),
        Prefetch("images", queryset=ProductImage.objects.order_by("position", "pk")),
    )


def product_for_page(*, slug: str) -> Product:
    """The active product behind /products/<slug>/, or Http404."""
    product = products_with_details().filter(slug=slug, active=True).first()
    if product is None:
        raise Http404("No such product")
    return product


def product_offer(product: Product) -> Variant | None:
    """The variant a card shows: the cheapest in stock, else the first."""
    variants = list(product.variants.all())
    in_stock = [v for v in variants if v.in_stock]
    if in_stock:
        return min(in_stock, key=lambda v: (v.price, v.position))
    return variants[0] if variants else None
