from django.shortcuts import render
from django.views.decorators.http import require_safe

from catalog.selectors import product_for_page, products_with_details
from catalog.seo import product_card, product_json_ld


@require_safe
def product_page(request, slug):
    """The public product page; its tags unfurl it as a product card."""
    product = product_for_page(slug=slug)
    card = product_card(product, request)
    context = {
        "product": product,
        "card": card,
        "json_ld": product_json_ld(product, card),
        "variants": list(product.variants.all()),
        "images": list(product.images.all()),
    }
    return render(request, "catalog/product_page.html", context)


@require_safe
def product_index(request):
    """The shop's front page: every active product."""
    products = products_with_details().filter(active=True).order_by("title")
    cards = [product_card(product, request) for product in products]
    return render(request, "catalog/product_index.html", {"cards": cards})
