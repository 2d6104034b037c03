"""Stock: the only code that changes a variant's reserved and committed units.

Contract:
- Per variant, `stock_on_hand` (in the warehouse), `stock_reserved` (held by checkouts in
  progress) and `stock_committed` (sold, not yet shipped). The database holds the invariant in
  CHECK constraints: none negative, `reserved + committed <= on_hand`.
- Every change is one conditional `UPDATE ... WHERE` that re-checks its condition in the same
  statement (never read-modify-write), or, where the amount depends on what is left
  (`commit_available`), an UPDATE of a row locked first. So two buyers racing for the last
  unit cannot both get it, and the database refuses anything that would break the invariant
  even if a caller is wrong.
- Functions that touch several variants take `{variant_id: quantity}` and go through the rows
  in primary-key order, so two transactions never wait on each other's rows in opposite
  orders (no deadlock).
- They must run inside the caller's transaction (the sales services open it) and say what
  happened; after the transaction commits, `catalog.signals.products_changed` is sent for the
  products whose availability changed.
"""

from django.db import transaction
from django.db.models import F

from catalog.models import Variant
from catalog.signals import products_changed


def _in_pk_order(quantities: dict[int, int]) -> list[tuple[int, int]]:
    items = sorted((int(v), int(q)) for v, q in quantities.items())
    for _, quantity in items:
        if quantity <= 0:
            raise ValueError("stock quantities are positive")
    return items


def _announce(variant_ids) -> None:
    ids = list(variant_ids)
    if not ids:
        return

    def send():
        product_ids = sorted(
            set(Variant.objects.filter(pk__in=ids).values_list("product_id", flat=True))
        )
        if product_ids:
            products_changed.send(sender=Variant, product_ids=product_ids)

    transaction.on_commit(send, robust=True)


def _held():
    return F("stock_reserved") + F("stock_committed")


def reserve(quantities: dict[int, int]) -> bool:
    """Reserve every quantity, or nothing: False when one variant has too few units left.

    The caller's transaction is rolled back to before the call on False (a savepoint), so a
    partly reserved basket never stays.
    """
    items = _in_pk_order(quantities)
    with transaction.atomic():
        for variant_id, quantity in items:
            updated = (
                Variant.objects.filter(pk=variant_id, active=True)
                .filter(stock_on_hand__gte=_held() + quantity)
                .update(stock_reserved=F("stock_reserved") + quantity)
            )
            if updated != 1:
                transaction.set_rollback(True)
                return False
    _announce(v for v, _ in items)
    return True


def release(quantities: dict[int, int]) -> None:
    """Give reserved units back (a checkout expired or was abandoned)."""
    items = _in_pk_order(quantities)
    for variant_id, quantity in items:
        updated = Variant.objects.filter(pk=variant_id, stock_reserved__gte=quantity).update(
            stock_reserved=F("stock_reserved") - quantity
        )
        if updated != 1:
            raise StockError(f"variant {variant_id} holds fewer than {quantity} reserved units")
    _announce(v for v, _ in items)


def commit_reserved(quantities: dict[int, int]) -> None:
    """Move reserved units to committed (the checkout was paid)."""
    items = _in_pk_order(quantities)
    for variant_id, quantity in items:
        updated = Variant.objects.filter(pk=variant_id, stock_reserved__gte=quantity).update(
            stock_reserved=F("stock_reserved") - quantity,
            stock_committed=F("stock_committed") + quantity,
        )
        if updated != 1:
            raise StockError(f"variant {variant_id} holds fewer than {quantity} reserved units")
    _announce(v for v, _ in items)


def commit_available(quantities: dict[int, int]) -> dict[int, int]:
    """Commit what is available for an order sold elsewhere; returns the units committed.

    A channel that sells on its own (Shopify, TikTok Shop) has already sold the units: the
    order stands even when stock is short. Each variant's row is locked (in primary-key
    order), then `min(wanted, available)` is committed, so stock never goes negative and the
    caller can flag the shortfall as oversold.
    """
    items = _in_pk_order(quantities)
    locked = {
        row["pk"]: row
        for row in Variant.objects.filter(pk__in=[v for v, _ in items])
        .order_by("pk")
        .select_for_update()
        .values("pk", "stock_on_hand", "stock_reserved", "stock_committed")
    }
    committed = {}
    for variant_id, quantity in items:
        row = locked.get(variant_id)
        if row is None:
            committed[variant_id] = 0
            continue
        available = row["stock_on_hand"] - row["stock_reserved"] - row["stock_committed"]
        take = max(0, min(quantity, available))
        if take:
            Variant.objects.filter(pk=variant_id, stock_on_hand__gte=_held() + take).update(
                stock_committed=F("stock_committed") + take
            )
        committed[variant_id] = take
    _announce(v for v, q in committed.items() if q)
    return committed


def uncommit(quantities: dict[int, int]) -> None:
    """Give committed units back (a paid order was cancelled before it shipped)."""
    items = _in_pk_order(quantities)
    for variant_id, quantity in items:
        updated = Variant.objects.filter(pk=variant_id, stock_committed__gte=quantity).update(
            stock_committed=F("stock_committed") - quantity
        )
        if updated != 1:
            raise StockError(f"variant {variant_id} holds fewer than {quantity} committed units")
    _announce(v for v, _ in items)


def ship(quantities: dict[int, int]) -> None:
    """Committed units left the warehouse: on hand and committed both go down."""
    items = _in_pk_order(quantities)
    for variant_id, quantity in items:
        updated = Variant.objects.filter(
            pk=variant_id, stock_committed__gte=quantity, stock_on_hand__gte=quantity
        ).update(
            stock_on_hand=F("stock_on_hand") - quantity,
            stock_committed=F("stock_committed") - quantity,
        )
        if updated != 1:
            raise StockError(f"variant {variant_id} holds fewer than {quantity} committed units")
    _announce(v for v, _ in items)


class StockError(Exception):
    """A stock move found fewer units held than it was asked to move: a bug upstream."""
