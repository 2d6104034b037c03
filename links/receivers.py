"""Keeping link snapshots true when the catalog or a creator changes."""

from django.db.models import Q

from links import snapshots


def products_changed(sender, product_ids, **kwargs):
    snapshots.invalidate_links(snapshots.for_products(product_ids))


def creator_changed(sender, creator_id, **kwargs):
    snapshots.invalidate_links(Q(creator_id=creator_id))
