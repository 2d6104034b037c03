"""Keeping link snapshots true when the catalog or a creator changes."""

from django.db.models import Q

from links import snapshots


def products_changed(sender, product_ids, **kwargs):
    snapshots.invalidate_links(snapshots.for_products(product_ids))


def creator_changed(sender, creator_id, **kwargs):
    snapshots.invalidate_links(Q(creator_id=creator_id))


# --- creator portal (issue 15) ---
def creator_erased(sender, creator_id, **kwargs):
    """Inside the erasure's transaction: the creator's links stop working."""
    from links.models import ShortLink
    from links.services import link_deactivate

    for link_id in ShortLink.objects.filter(creator_id=creator_id, active=True).values_list(
        "pk", flat=True
    ):
        link_deactivate(link_id=link_id)


# --- end creator portal ---
