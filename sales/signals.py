"""What sales tells apps above it (attribution, the ledger), which it must not import.

Each is sent once the transaction that made the change commits, with ids only; receivers load
what they need. A receiver that fails is logged and does not undo the order (robust sends).
"""

from django.dispatch import Signal

# An order became paid (or arrived paid). Arguments: order_id.
order_paid = Signal()
# A refund was recorded (partial or full). Arguments: order_id, refund_id.
order_refunded = Signal()
# An order was cancelled. Arguments: order_id.
order_cancelled = Signal()
# A parcel of an order from Shopify or TikTok Shop waits to be pushed to its channel
# (issue 19; `integrations` pushes it). Arguments: fulfilment_id.
fulfilment_created = Signal()
