"""The catalog console: a page of products or variants costs the same queries however many."""

import pytest

from tests.catalog.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


def _products(n):
    for _ in range(n):
        product = ProductFactory()
        VariantFactory.create_batch(3, product=product)


def test_the_product_list_costs_the_same_for_two_products_or_thirty(owner_client, query_budget):
    _products(2)
    queries = query_budget(owner_client, "/admin/catalog/product/", lambda: _products(28))
    assert queries <= 10  # session, user, the page and its count, thumbnails, the filters
    # (the brands and the currencies in use)


def test_the_variant_list_costs_the_same_for_six_variants_or_ninety(owner_client, query_budget):
    _products(2)
    queries = query_budget(owner_client, "/admin/catalog/variant/", lambda: _products(28))
    assert queries <= 8
