"""Keeping destinations true when the catalog changes (catalog.signals, wired in apps.py)."""

from integrations import inbound, services


def products_changed(sender, product_ids, **kwargs):
    product_ids = list(product_ids)
    # Stock Shopify owns: its available plus what this shop's orders hold here (inbound.py).
    inbound.stock_reconcile(product_ids=product_ids)
    services.listings_mark_dirty(product_ids=product_ids)


def fulfilment_created(sender, fulfilment_id, **kwargs):
    """A parcel of a Shopify or TikTok Shop order (sent after commit): push it now; the
    `integrations.fulfilments_push` sweep catches what a lost message missed."""
    from integrations.tasks import fulfilment_push

    fulfilment_push.delay(fulfilment_id)
