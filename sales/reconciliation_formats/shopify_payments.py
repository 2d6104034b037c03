"""Shopify Payments: the payout transactions export (Shopify admin › Finance › Payouts ›
Export transactions, CSV), as Shopify documents its columns.

Columns: `Transaction Date`, `Type` (charge, refund, dispute, adjustment, payout, ...),
`Order` (the order's name, e.g. #1001), `Card Brand`, `Card Source`, `Payout Status`,
`Payout Date`, `Payout ID`, `Available On`, `Amount` (gross, refunds negative), `Fee`, `Net`,
`Checkout`, `Payment Method Name`, `Presentment Amount`, `Presentment Currency`, `Currency`.

The export has no id per line, so a line's id is a hash of what it says (with its
occurrence among identical lines): the same file, or an overlapping one, imports each line
once. Charges are matched to the order by its name (`Order`); refunds to the order by name,
then to one of its refunds by amount (the export carries no refund id).
"""

import hashlib

from sales.reconciliation_formats import StatementLine, currency, decimal, moment

REQUIRED = ["Transaction Date", "Type", "Order", "Amount", "Fee", "Net", "Currency"]
KINDS = {"charge": "charge", "refund": "refund", "payout": "bank_payout",
         "adjustment": "adjustment", "dispute": "adjustment", "reserve": "adjustment"}  # fmt: skip
TIME_FORMATS = ["%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z",
                "%Y-%m-%d"]  # fmt: skip
IDENTITY = ["Transaction Date", "Type", "Order", "Amount", "Fee", "Net", "Currency",
            "Payout ID", "Checkout"]  # fmt: skip


def parse(rows: list[dict]) -> list[StatementLine]:
    lines, seen = [], {}
    for number, row in enumerate(rows, start=2):
        identity = "|".join(row.get(c, "") for c in IDENTITY)
        seen[identity] = seen.get(identity, 0) + 1
        digest = hashlib.sha256(f"{identity}|{seen[identity]}".encode()).hexdigest()[:40]
        kind = KINDS.get(row["Type"].lower(), "other")
        lines.append(StatementLine(
            external_id=f"shopify:{digest}",
            kind=kind,
            currency=currency(row["Currency"], line=number, column="Currency"),
            amount=decimal(row["Amount"], line=number, column="Amount"),
            fee=decimal(row["Fee"], line=number, column="Fee"),
            net=decimal(row["Net"], line=number, column="Net"),
            occurred_at=moment(row["Transaction Date"], TIME_FORMATS, line=number,
                               column="Transaction Date"),
            order_ref=row["Order"] if kind in ("charge", "refund") else "",
            description=f"{row['Type']} {row['Order']}".strip()[:500],
            raw=row,
        ))  # fmt: skip
    return lines
