"""Builders for the analytics tests: credited orders, refunds through the services."""

import uuid
from datetime import timedelta
from decimal import Decimal

from analytics.models import Rollup
from attribution.services import attribution_decide
from sales import commissions
from sales.models import Refund, RefundLine
from tests.attribution.factories import click, make_order


def credited_order(creator, link, *, at, total="100.00", currency="USD", **fields):
    """A paid order carrying a click on `link` an hour earlier, attributed (commission
    posted to the ledger)."""
    made = click(creator, link=link, at=at - timedelta(hours=1))
    order = make_order(
        lines=(("A", 1, total),),
        currency=currency,
        placed_at=at,
        click_id=str(made.click_id),
        products={"A": link.product},
        **fields,
    )
    attribution_decide(order_id=order.pk)
    return order


def refund(order, amount: str, *, at):
    """A refund of part of the order's line, its commission reversed pro rata."""
    refund = Refund.objects.create(
        order=order,
        channel=order.channel,
        external_id=f"re-{uuid.uuid4().hex[:8]}",
        currency=order.currency,
        total=Decimal(amount),
        refunded_at=at,
    )
    line = order.lines.first()
    RefundLine.objects.create(refund=refund, line=line, sku=line.sku, quantity=1, amount=amount)
    commissions.commissions_reverse_for_refund(refund_id=refund.pk)
    return refund


def rows():
    """Every rollup row as comparable tuples."""
    return sorted(
        Rollup.objects.values_list(
            "grain", "dim", "key", "currency", "bucket", "clicks", "unique_clicks",
            "bot_clicks", "orders", "revenue", "refunds", "commission",
        )
    )  # fmt: skip


def total(grain="d", dim="total", key="", currency="USD", **bucket):
    qs = Rollup.objects.filter(grain=grain, dim=dim, key=key, currency=currency, **bucket)
    return list(qs.values_list("bucket", "orders", "revenue", "refunds", "commission"))
