"""Keeping destinations true when the catalog changes (catalog.signals, wired in apps.py)."""

from integrations import services


def products_changed(sender, product_ids, **kwargs):
    services.listings_mark_dirty(product_ids=list(product_ids))
