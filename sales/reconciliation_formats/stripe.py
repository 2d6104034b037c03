"""Stripe: the itemized balance change from activity report
(`balance_change_from_activity.itemized.3`), as Stripe documents its columns.

One line per balance transaction. `gross`, `fee` and `net` are decimal amounts in the
currency (Stripe's reports, unlike its API, give major units); `currency` is lowercase.
`reporting_category` says what it is:
- `charge` (an order paid): matched to the order by `payment_intent_id` (Shoploop's Stripe
  orders are known by their payment intent), else `charge_id`;
- `refund`: matched to the refund by `source_id` (`re_…`, Shoploop's Stripe refund ids), its
  order by `payment_intent_id`;
- `transfer`: a Connect transfer to a creator: matched to the payout by `source_id` (`tr_…`);
- `payout`: money paid out to the merchant's bank (nothing in Shoploop to match);
- `fee`, `platform_earning`, ... and the rest: fees and adjustments.
"""

from datetime import UTC, datetime

from core.errors import ApplicationError
from core.money import from_minor
from sales.reconciliation_formats import StatementLine, currency, decimal, moment

REQUIRED = ["balance_transaction_id", "created_utc", "currency", "gross", "fee", "net",
            "reporting_category", "source_id"]  # fmt: skip
OPTIONAL = ["description", "charge_id", "payment_intent_id", "customer_facing_amount"]
KINDS = {"charge": "charge", "refund": "refund", "transfer": "transfer",
         "payout": "bank_payout", "fee": "fee"}  # fmt: skip
TIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]


def parse(rows: list[dict]) -> list[StatementLine]:
    lines = []
    for number, row in enumerate(rows, start=2):
        category = row["reporting_category"].lower()
        kind = KINDS.get(category, "adjustment" if "adjust" in category else "other")
        source_id = row["source_id"]
        lines.append(StatementLine(
            external_id=row["balance_transaction_id"] or f"line-{number}",
            kind=kind,
            currency=currency(row["currency"], line=number, column="currency"),
            amount=decimal(row["gross"], line=number, column="gross"),
            fee=decimal(row["fee"], line=number, column="fee"),
            net=decimal(row["net"], line=number, column="net"),
            occurred_at=moment(row["created_utc"], TIME_FORMATS, line=number,
                               column="created_utc"),
            order_ref=row.get("payment_intent_id") or row.get("charge_id")
            or (source_id if kind == "charge" else ""),
            refund_ref=source_id if kind == "refund" else "",
            transfer_ref=source_id if kind == "transfer" else "",
            description=(row.get("description") or category)[:500],
            raw=row,
        ))  # fmt: skip
    return lines


def from_api(transactions: list[dict]) -> list[StatementLine]:
    """Balance transactions from the API (`GET /v1/balance_transactions`, `source` expanded):
    the same lines as the report's, amounts converted from minor units."""
    lines = []
    for number, txn in enumerate(transactions, start=1):
        code = currency(str(txn.get("currency", "")), line=number, column="currency")
        category = str(txn.get("reporting_category") or txn.get("type") or "").lower()
        kind = KINDS.get(category, "adjustment" if "adjust" in category else "other")
        source = txn.get("source")
        source_id = source.get("id", "") if isinstance(source, dict) else str(source or "")
        intent = source.get("payment_intent") if isinstance(source, dict) else None
        intent = intent.get("id") if isinstance(intent, dict) else (intent or "")
        charge = source.get("charge") if isinstance(source, dict) else None
        charge = charge.get("id") if isinstance(charge, dict) else (charge or "")
        amount, fee, net = (_minor(txn, name, code) for name in ("amount", "fee", "net"))
        lines.append(StatementLine(
            external_id=str(txn.get("id") or f"api-{number}"), kind=kind, currency=code,
            amount=amount, fee=fee, net=net,
            occurred_at=datetime.fromtimestamp(int(txn.get("created") or 0), tz=UTC),
            order_ref=intent or charge or (source_id if kind == "charge" else ""),
            refund_ref=source_id if kind == "refund" else "",
            transfer_ref=source_id if kind == "transfer" else "",
            description=str(txn.get("description") or category)[:500],
            raw={k: v for k, v in txn.items() if k != "source"} | {"source_id": source_id},
        ))  # fmt: skip
    return lines


def _minor(txn: dict, name: str, code: str):
    value = txn.get(name, 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApplicationError(f"Balance transaction {txn.get('id')}: {name} is not an integer "
                               "of minor units.")  # fmt: skip
    return from_minor(value, code)
