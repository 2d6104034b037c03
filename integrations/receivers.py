"""Keeping destinations true when the catalog changes (catalog.signals, wired in apps.py)."""

from integrations import inbound, services


def products_changed(sender, product_ids, **kwargs):
    product_ids = list(product_ids)
    # Stock Shopify owns: its available plus what this shop's orders hold here (inbound.py).
    inbound.stock_reconcile(product_ids=product_ids)
    services.listings_mark_dirty(product_ids=product_ids)
