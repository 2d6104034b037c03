"""What a destination may sell of a variant: the one place availability is computed.

Available = on hand - reserved - committed (`catalog.Variant`; `catalog/stock.py` moves the
counts): units held by checkouts in progress (Buy button reservations) and units sold and not
yet shipped (orders from every channel) are not offered again on TikTok Shop, Meta or Google.
An inactive variant offers nothing; the figure is never below zero.

Every move of those counts sends `catalog.signals.products_changed` after its transaction
commits, which marks the product's listings dirty (`receivers.py`); `integrations.sync_push`
(every 5 seconds) pushes them, so stock moved by an order reaches every destination within
a minute.
"""


def available_quantity(variant) -> int:
    if not variant.active:
        return 0
    held = int(variant.stock_reserved or 0) + int(variant.stock_committed or 0)
    return max(0, int(variant.stock_on_hand or 0) - held)
