from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

from catalog.selectors import product_offer, products_with_details, variant_for_query
from catalog.seo import product_card, product_json_ld
from core.money import currencies_are_mixed
from sales.selectors import checkout_exists
from ugc.reviews import published_reviews, review_annotations, review_json_ld, review_summary
from ugc.selectors import product_gallery, product_gallery_exists


@require_safe
def product_page(request, slug):
    """The public product page; its tags unfurl it as a product card.

    Its UGC gallery costs a query only when there is something to show: whether there is
    comes with the product's own query.
    """
    # catalog.selectors.product_for_page, plus the gallery and Buy flags (catalog cannot
    # import ugc or sales; this view is presentation).
    product = (
        products_with_details()
        .filter(slug=slug, active=True)
        .annotate(has_ugc_gallery=product_gallery_exists(), has_checkout=checkout_exists())
        .annotate(**review_annotations())  # issue 18: on-site reviews, no query when none
        .first()
    )
    if product is None:
        raise Http404("No such product")
    card = product_card(product, request)
    reviews_summary = review_summary(product)
    reviews = published_reviews(product) if reviews_summary["count"] else []
    # `?variant=<sku>` (a short link to a variant): that option is preselected and its price
    # shown; an unknown SKU is ignored.
    selected = variant_for_query(product, request.GET.get("variant"))
    context = {
        "product": product,
        "card": card,
        # JSON-LD ratings come from published reviews only (issue 18).
        "json_ld": {**product_json_ld(product, card), **review_json_ld(reviews_summary, reviews)},
        "reviews": reviews,
        "reviews_summary": reviews_summary,
        "selected_variant": selected,
        "variants": list(product.variants.all()),
        "images": list(product.images.all()),
        "ugc_gallery": product_gallery(product=product) if product.has_ugc_gallery else [],
    }
    return render(request, "catalog/product_page.html", context)


@require_safe
def product_index(request):
    """The shop's front page: every active product."""
    products = list(products_with_details().filter(active=True).order_by("title"))
    # Prices in several currencies side by side: "$" alone could be any dollar.
    offers = [product_offer(product) for product in products]
    mixed = currencies_are_mixed(offer.currency for offer in offers if offer)
    cards = [product_card(product, request, unambiguous_money=mixed) for product in products]
    return render(request, "catalog/product_index.html", {"cards": cards})
