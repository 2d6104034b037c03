"""TikTok Shop: the settlement statement's order details (Seller Center › Finance ›
Statements › Export, CSV), as TikTok Shop documents its columns.

Columns used: `Order/adjustment ID`, `Type` (Order, Refund, or an adjustment such as
Logistics reimbursement), `Order created time(UTC)`, `Order settled time(UTC)`, `Currency`,
`Total settlement amount` (what TikTok Shop pays after fees), `Total revenue` (what the
buyer paid, refunds negative), `Total fees`, `Related order ID` (for a refund or an
adjustment: its order).

A line's id is its `Order/adjustment ID` and `Type` (an order settles once, its refund on a
line of its own). Orders are matched by their id (Shoploop's TikTok Shop orders are known by
TikTok's order id); refunds to the order by `Related order ID` (else the line's id), then to
one of its refunds by amount.
"""

from sales.reconciliation_formats import StatementLine, currency, decimal, moment

REQUIRED = ["Order/adjustment ID", "Type", "Order settled time(UTC)", "Currency",
            "Total settlement amount", "Total revenue", "Total fees"]  # fmt: skip
TIME_FORMATS = ["%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


def parse(rows: list[dict]) -> list[StatementLine]:
    lines = []
    for number, row in enumerate(rows, start=2):
        kind_text = row["Type"].strip().lower()
        kind = {"order": "charge", "refund": "refund"}.get(kind_text, "adjustment")
        line_id = row["Order/adjustment ID"]
        related = row.get("Related order ID", "")
        lines.append(StatementLine(
            external_id=f"tiktok:{line_id}:{kind_text}",
            kind=kind,
            currency=currency(row["Currency"], line=number, column="Currency"),
            amount=decimal(row["Total revenue"], line=number, column="Total revenue"),
            fee=decimal(row["Total fees"], line=number, column="Total fees"),
            net=decimal(row["Total settlement amount"], line=number,
                        column="Total settlement amount"),
            occurred_at=moment(row["Order settled time(UTC)"], TIME_FORMATS, line=number,
                               column="Order settled time(UTC)"),
            order_ref=(line_id if kind == "charge" else related or line_id)
            if kind in ("charge", "refund") else related,
            description=f"{row['Type']} {line_id}"[:500],
            raw=row,
        ))  # fmt: skip
    return lines
