"""What each provider's statement file says, one module per provider: its columns, how a line
becomes a `StatementLine`, and how it is matched (by what reference). Each module was written
from the provider's documentation of the export and is tested on a sample file in
`tests/sales/samples/`.

- `shopify_payments`: Shopify admin › Finance › Payouts › Export transactions (CSV).
- `stripe`: the Balance change from activity, itemized report
  (`balance_change_from_activity.itemized.3`, CSV from Reports or the Reporting API).
- `tiktok_shop`: Seller Center › Finance › Statements › Export, the order details (CSV).

A bad line is refused with its line number and column; the whole file then imports nothing.
"""

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from core.errors import ApplicationError
from core.money import is_currency


@dataclass
class StatementLine:
    external_id: str  # the provider's id of the line, or a stable hash of it
    kind: str  # ProviderTransaction.Kind
    currency: str
    amount: Decimal  # gross, signed as the provider says (refunds and transfers negative)
    occurred_at: datetime
    fee: Decimal = Decimal(0)
    net: Decimal = Decimal(0)
    order_ref: str = ""
    refund_ref: str = ""
    transfer_ref: str = ""
    description: str = ""
    raw: dict = field(default_factory=dict)


def read_csv(content: bytes, required: list[str], *, max_rows: int) -> list[dict]:
    """The file's rows as dicts (a UTF-8 BOM and surrounding spaces in headers tolerated),
    refusing a file that lacks a required column or has too many lines."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApplicationError("The file is not UTF-8 text (export it again as CSV).",
                               fields={"file": "UTF-8 CSV."}) from None  # fmt: skip
    reader = csv.DictReader(io.StringIO(text))
    headers = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in headers]
    if missing:
        raise ApplicationError(
            f"The file lacks the column(s) {', '.join(missing)}: is it the right export?",
            fields={"file": f"Missing columns: {', '.join(missing)}."},
        )
    rows = []
    for row in reader:
        if len(rows) >= max_rows:
            raise ApplicationError(f"The file has more than {max_rows} lines "
                                   "(RECONCILIATION_MAX_ROWS); split it.",
                                   fields={"file": "Too many lines."})  # fmt: skip
        cleaned = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if any(cleaned.values()):
            rows.append(cleaned)
    return rows


def decimal(value: str, *, line: int, column: str) -> Decimal:
    text = (value or "0").replace(",", "").replace("$", "").strip() or "0"
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ApplicationError(f"Line {line}, {column}: {value!r} is not an amount.",
                               fields={"file": f"Line {line}: {column}."}) from None  # fmt: skip


def currency(value: str, *, line: int, column: str) -> str:
    code = (value or "").strip().upper()
    if not is_currency(code):
        raise ApplicationError(f"Line {line}, {column}: {value!r} is not an ISO 4217 currency.",
                               fields={"file": f"Line {line}: {column}."})  # fmt: skip
    return code


def moment(value: str, formats: list[str], *, line: int, column: str) -> datetime:
    text = (value or "").strip()
    for fmt in formats:
        try:
            parsed = datetime.strptime(text, fmt)  # noqa: DTZ007 - made aware (UTC) below
        except ValueError:
            continue
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ApplicationError(f"Line {line}, {column}: {value!r} is not a date and time.",
                           fields={"file": f"Line {line}: {column}."})  # fmt: skip


def modules():
    from sales.reconciliation_formats import shopify_payments, stripe, tiktok_shop

    return {"shopify_payments": shopify_payments, "stripe": stripe, "tiktok_shop": tiktok_shop}


def parse(source: str, content: bytes, *, max_rows: int) -> list[StatementLine]:
    module = modules().get(source)
    if module is None:
        raise ApplicationError(f"source: one of {', '.join(modules())}.",
                               fields={"source": "Unknown statement format."})  # fmt: skip
    return module.parse(read_csv(content, module.REQUIRED, max_rows=max_rows))
