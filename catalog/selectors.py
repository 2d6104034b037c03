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


def variant_for_query(product: Product, sku: str | None) -> Variant | None:
    """The active variant a product page's `?variant=<sku>` names (a short link to a variant
    adds it), from the variants already fetched with the product; None for an unknown,
    inactive or malformed SKU, which the page then ignores."""
    sku = (sku or "").strip()
    if not sku or len(sku) > 64:
        return None
    return next((v for v in product.variants.all() if v.sku == sku), None)
