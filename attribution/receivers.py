"""Sales tells attribution an order was paid (`sales.signals.order_paid`, after commit): the
decision and the conversions run as jobs, so the webhook answers at once."""

from attribution import tasks
from core.jobs import enqueue_on_commit


def order_paid(sender, order_id, **kwargs):
    enqueue_on_commit(tasks.decide, order_id)
    enqueue_on_commit(tasks.enqueue_conversions, order_id)
