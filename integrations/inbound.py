"""Shopify -> catalog: the full import (a GraphQL bulk operation) and the incremental webhooks
(`products/create`, `products/update`, `products/delete`, `inventory_levels/update`).

Rules that hold whatever order things arrive in:
- Products and variants are matched by their Shopify id (the mapping tables), then by SKU;
  anything else is created through the catalog's services (which validate it).
- Field ownership per connection (`FieldRule`): a field Shoploop owns is never overwritten,
  and the value Shopify wanted is recorded on the mapping; a field Shopify owns is applied,
  and if the merchant had changed it in Shoploop since the last import the overwritten value
  is recorded. Nothing is overwritten silently; the console shows both.
- A product update older than the one already applied (`updated_at`) is ignored; so is an
  inventory level older than the one stored for that location.
- Stock is the sum of the `available` quantity over the variant's locations; a location's
  update changes only that location (the other locations are fetched once when unknown).
  Shopify's `available` already leaves out the units of its unfulfilled orders, which
  Shoploop holds as committed until they ship (the sales app commits them): on hand is set
  to Shopify's available plus the units committed here to that shop's unshipped orders
  placed by the time of Shopify's figure (the levels' `updated_at`; a later order is not in
  it yet), so what destinations may sell (on hand - reserved - committed) is not reduced
  twice, whichever of the order and the inventory webhook comes first: `stock_reconcile`
  runs after every stock change and redoes the sum for a variant whose on hand is still the
  value set from Shopify (a merchant's own edit waits for Shopify's next update and its
  field rule). On hand never goes below what is held here (reserved + committed).
- One product is applied in one transaction, with its mapping row locked.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog import services as catalog_services
from catalog.models import Product, Variant
from catalog.validators import SKU_RE, validate_gtin
from core.errors import ApplicationError, error_message
from integrations.clients import shopify as client
from integrations.clients.shopify import gid_number
from integrations.models import Connection, ExternalProduct, ExternalVariant, FieldRule
from sales import selectors as sales_selectors

logger = logging.getLogger(__name__)

PRODUCT_FIELDS = ("title", "description", "brand", "active")
VARIANT_FIELDS = ("price", "compare_at_price", "gtin", "stock")


@dataclass
class ShopifyVariant:
    external_id: str
    sku: str
    barcode: str
    price: str
    compare_at_price: str | None
    position: int
    options: dict
    inventory_item_id: str
    levels: dict | None = None  # {location: {"available", "updated_at"}}
    inventory_quantity: int | None = None


@dataclass
class ShopifyProduct:
    external_id: str
    title: str
    description: str
    vendor: str
    active: bool
    updated_at: datetime | None
    image_urls: list = field(default_factory=list)
    variants: list = field(default_factory=list)


@dataclass
class ApplyReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    failed: int = 0
    conflicts: int = 0
    errors: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "failed": self.failed,
            "conflicts": self.conflicts,
        }


# ---------------------------------------------------------------------------------------
# Reading Shopify's shapes
# ---------------------------------------------------------------------------------------


def products_from_bulk(lines) -> list[ShopifyProduct]:
    """Rebuild products from a bulk operation's JSONL.

    Each line is one object; a nested one names its parent in `__parentId` (a variant its
    product, an inventory level its variant or the variant's inventory item, a media image its
    product). Lines are read whole before they are put together, whatever their order.
    """
    products: dict[str, ShopifyProduct] = {}
    variants: dict[str, ShopifyVariant] = {}
    parent_of: dict[str, str] = {}
    owner_of_item: dict[str, str] = {}
    levels, images = [], []
    for line in lines:
        gid = str(line.get("id", ""))
        parent = line.get("__parentId", "")
        if gid.startswith("gid://shopify/Product/"):
            products[gid] = ShopifyProduct(
                external_id=gid_number(gid),
                title=line.get("title") or "",
                description=line.get("descriptionHtml") or "",
                vendor=line.get("vendor") or "",
                active=str(line.get("status", "")).upper() == "ACTIVE",
                updated_at=_when(line.get("updatedAt")),
            )
        elif gid.startswith("gid://shopify/ProductVariant/"):
            item = line.get("inventoryItem") or {}
            variants[gid] = ShopifyVariant(
                external_id=gid_number(gid),
                sku=(line.get("sku") or "").strip(),
                barcode=(line.get("barcode") or "").strip(),
                price=str(line.get("price") or "0"),
                compare_at_price=line.get("compareAtPrice"),
                position=int(line.get("position") or 0),
                options={o["name"]: o["value"] for o in line.get("selectedOptions") or []},
                inventory_item_id=gid_number(item.get("id", "")),
                levels={},
            )
            parent_of[gid] = parent
            if item.get("id"):
                owner_of_item[item["id"]] = gid
        elif gid.startswith("gid://shopify/InventoryLevel/"):
            levels.append((parent, line))
        elif gid.startswith("gid://shopify/MediaImage/"):
            images.append((parent, line))
    for gid, variant in variants.items():
        product = products.get(parent_of[gid])
        if product is not None:
            product.variants.append(variant)
    for parent, line in levels:
        variant = variants.get(parent) or variants.get(owner_of_item.get(parent, ""))
        if variant is None:
            continue
        available = next(
            (q["quantity"] for q in line.get("quantities", []) if q["name"] == "available"), 0
        )
        variant.levels[gid_number(line["location"]["id"])] = {
            "available": int(available),
            "updated_at": line.get("updatedAt") or "",
        }
    for parent, line in images:
        url = (line.get("image") or {}).get("url")
        if url and parent in products:
            products[parent].image_urls.append(url)
    return list(products.values())


def product_from_webhook(payload: dict) -> ShopifyProduct:
    """A `products/update` (REST-shaped) payload."""
    option_names = [o.get("name") for o in payload.get("options") or []]
    variants = []
    for v in payload.get("variants") or []:
        options = {}
        for index, name in enumerate(option_names[:3], start=1):
            value = v.get(f"option{index}")
            if name and value is not None:
                options[name] = value
        variants.append(
            ShopifyVariant(
                external_id=str(v["id"]),
                sku=(v.get("sku") or "").strip(),
                barcode=(v.get("barcode") or "").strip(),
                price=str(v.get("price") or "0"),
                compare_at_price=v.get("compare_at_price"),
                position=int(v.get("position") or 0),
                options=options,
                inventory_item_id=str(v.get("inventory_item_id") or ""),
                levels=None,
                inventory_quantity=v.get("inventory_quantity"),
            )
        )
    return ShopifyProduct(
        external_id=str(payload["id"]),
        title=payload.get("title") or "",
        description=payload.get("body_html") or "",
        vendor=payload.get("vendor") or "",
        active=str(payload.get("status", "active")).lower() == "active",
        updated_at=_when(payload.get("updated_at")),
        image_urls=[i["src"] for i in payload.get("images") or [] if i.get("src")],
        variants=variants,
    )


def _when(value) -> datetime | None:
    return parse_datetime(value) if value else None


# ---------------------------------------------------------------------------------------
# Applying a product
# ---------------------------------------------------------------------------------------


def owners(connection_id: int) -> dict[str, str]:
    rules = dict(
        FieldRule.objects.filter(connection_id=connection_id).values_list("field", "owner")
    )
    return {f: rules.get(f, FieldRule.Owner.SHOPIFY) for f in FieldRule.Field.values}


def _money(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _stock(variant: ShopifyVariant) -> int | None:
    if variant.levels:
        return max(0, sum(int(level["available"]) for level in variant.levels.values()))
    if variant.inventory_quantity is not None:
        return max(0, int(variant.inventory_quantity))
    return None


class _Rules:
    """Applies one field under its rule and remembers what it kept or overwrote."""

    def __init__(self, owner_of: dict, conflicts: dict):
        self.owner_of = owner_of
        self.conflicts = conflicts
        self.now = timezone.now().isoformat()

    def apply(self, key: str, rule: str, *, current, incoming, last, created: bool):
        """The value to store for `key` (`rule` names the FieldRule)."""
        if created or _same(current, incoming):
            self.conflicts.pop(key, None)
            return incoming if created else current
        if self.owner_of[rule] == FieldRule.Owner.SHOPLOOP:
            self.conflicts[key] = {
                "rule": "shoploop",
                "kept": _plain(current),
                "shopify": _plain(incoming),
                "at": self.now,
            }
            return current
        if last is not None and not _same(current, last):
            self.conflicts[key] = {
                "rule": "shopify",
                "overwritten": _plain(current),
                "shopify": _plain(incoming),
                "at": self.now,
            }
        else:
            self.conflicts.pop(key, None)
        return incoming


def _same(a, b) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return _money(a) == _money(b)
    return a == b


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


def apply_product(*, connection_id: int, data: ShopifyProduct, owner_of: dict | None = None) -> str:
    """Create or update the catalog product of a Shopify product; returns what happened
    (`created`, `updated`, `unchanged`, `stale`). Raises ApplicationError when the catalog
    refuses the product (nothing is then changed)."""
    owner_of = owner_of or owners(connection_id)
    try:
        with transaction.atomic():
            return _apply_product(connection_id, data, owner_of)
    except ValidationError as exc:
        raise ApplicationError(
            f"Shopify product {data.external_id} ({data.title}): {error_message(exc)}"
        ) from None


def _apply_product(connection_id: int, data: ShopifyProduct, owner_of: dict) -> str:
    connection = Connection.objects.get(pk=connection_id)
    currency = connection.settings.get("currency", "USD")
    mapping = (
        ExternalProduct.objects.select_for_update()
        .select_related("product")
        .filter(connection_id=connection_id, external_id=data.external_id)
        .first()
    )
    if mapping and mapping.remote_updated_at and data.updated_at:
        if data.updated_at < mapping.remote_updated_at:
            return "stale"
    product = mapping.product if mapping else _match_product(connection_id, data)
    created = product is None
    conflicts = dict(mapping.conflicts) if mapping else {}
    rules = _Rules(owner_of, conflicts)
    incoming = {
        "title": data.title[:200] or f"Shopify product {data.external_id}",
        "description": data.description,
        "brand": data.vendor[:120],
        "active": data.active,
    }
    imported = dict(mapping.imported) if mapping else {}
    changed = False
    if created:
        product = catalog_services.product_create(**incoming)
    else:
        product = Product.objects.select_for_update().get(pk=product.pk)
        for name in PRODUCT_FIELDS:
            value = rules.apply(
                name,
                name,
                current=getattr(product, name),
                incoming=incoming[name],
                last=imported.get(name),
                created=False,
            )
            if value != getattr(product, name):
                setattr(product, name, value)
                changed = True
        if changed:
            catalog_services.product_save(product=product)
    imported.update(incoming)
    if mapping is None:
        mapping = ExternalProduct(
            connection_id=connection_id, external_id=data.external_id, product=product
        )
    variants_changed = _apply_variants(
        connection_id, product, data, rules, currency=currency, created=created
    )
    mapping.imported = imported
    mapping.conflicts = conflicts
    mapping.remote_updated_at = data.updated_at or mapping.remote_updated_at
    mapping.image_urls = data.image_urls
    mapping.deleted_at = None
    mapping.save()
    if created:
        return "created"
    return "updated" if (changed or variants_changed) else "unchanged"


def _match_product(connection_id: int, data: ShopifyProduct) -> Product | None:
    skus = [v.sku for v in data.variants if v.sku]
    if not skus:
        return None
    taken = ExternalProduct.objects.filter(connection_id=connection_id).values("product_id")
    variant = (
        Variant.objects.filter(sku__in=skus).exclude(product_id__in=taken).order_by("pk").first()
    )
    return variant.product if variant else None


def _valid_sku(variant: ShopifyVariant) -> tuple[str, str]:
    """The SKU to use, and a note when Shopify's could not be used."""
    if variant.sku and SKU_RE.match(variant.sku):
        return variant.sku, ""
    made = f"shopify-{variant.external_id}"
    if variant.sku:
        return made, f"Shopify SKU {variant.sku!r} is not a valid Shoploop SKU; using {made}."
    return made, f"The Shopify variant has no SKU; using {made}."


def _valid_gtin(barcode: str) -> str | None:
    if not barcode:
        return ""
    try:
        validate_gtin(barcode)
    except ValidationError:
        return None
    return barcode


def _as_of(levels: dict | None, fallback: datetime | None = None) -> datetime | None:
    """The time of Shopify's stock figure: the latest update of the variant's levels."""
    times = []
    for level in (levels or {}).values():
        try:
            moment = _when(level.get("updated_at"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            times.append(moment)
    return max(times) if times else fallback


def _held_for_shop(connection_id: int, variant_id: int, as_of: datetime | None) -> int:
    """Units committed here to unshipped orders of the connection's Shopify shop placed by
    `as_of` (all of them when the time is unknown): Shopify's figure already left them out."""
    shop = Connection.objects.filter(pk=connection_id).values_list("account_id", flat=True)
    return sales_selectors.units_committed_for_shop(
        shop_domain=shop.first() or "", variant_id=variant_id, placed_until=as_of
    )


def _keep_held(variant: Variant, conflicts: dict, key: str, now: str) -> bool:
    """On hand never below what checkouts and orders hold here; True if it was raised."""
    floor = variant.stock_reserved + variant.stock_committed
    if variant.stock_on_hand >= floor:
        return False
    conflicts[key] = {
        "note": f"Shopify has fewer units than Shoploop holds for checkouts and orders "
        f"({floor}); on hand kept at {floor}.",
        "at": now,
    }
    variant.stock_on_hand = floor
    return True


def _apply_variants(connection_id, product, data, rules: _Rules, *, currency, created) -> bool:
    changed = False
    seen = set()
    # The product's variants, locked in primary-key order (as catalog/stock.py locks them):
    # their stock counters are read and on hand written with no change in between.
    locked = {
        v.pk: v for v in Variant.objects.filter(product=product).order_by("pk").select_for_update()
    }
    mappings = {
        m.external_id: m
        for m in ExternalVariant.objects.select_related("variant").filter(
            connection_id=connection_id, variant__product=product
        )
    }
    for incoming in sorted(data.variants, key=lambda v: v.position):
        mapping = mappings.get(incoming.external_id) or (
            ExternalVariant.objects.select_related("variant")
            .filter(connection_id=connection_id, external_id=incoming.external_id)
            .first()
        )
        sku, sku_note = _valid_sku(incoming)
        key = f"variant:{incoming.external_id}"
        if sku_note:
            rules.conflicts[f"{key}.sku"] = {"note": sku_note, "at": rules.now}
        variant = mapping.variant if mapping else None
        if variant is not None:
            variant = locked.get(variant.pk, variant)
        if variant is None:
            variant = Variant.objects.filter(sku=sku).first()
            variant = locked.get(variant.pk, variant) if variant is not None else None
            if variant is not None and variant.product_id != product.pk:
                if ExternalVariant.objects.filter(variant=variant).exists():
                    rules.conflicts[f"{key}.sku"] = {
                        "note": f"SKU {sku} belongs to another product's Shopify variant.",
                        "at": rules.now,
                    }
                    continue
                variant = None  # same SKU on a product Shopify does not know: leave it
                rules.conflicts[f"{key}.sku"] = {
                    "note": f"SKU {sku} is used by another product in Shoploop; not imported.",
                    "at": rules.now,
                }
                continue
        price = _money(incoming.price) or Decimal("0")
        compare_at = _money(incoming.compare_at_price)
        if compare_at is not None and compare_at <= price:
            compare_at = None  # Shopify allows it; Shoploop's compare-at must be above the price
        gtin = _valid_gtin(incoming.barcode)
        if gtin is None:
            rules.conflicts[f"{key}.gtin"] = {
                "note": f"Shopify barcode {incoming.barcode!r} is not a valid GTIN; not imported.",
                "at": rules.now,
            }
        stock = _stock(incoming)
        values = {
            "price": price,
            "compare_at_price": compare_at,
            "gtin": gtin,
            "stock": stock,
        }
        fresh = variant is None
        if fresh:
            variant = catalog_services.variant_create(
                product=product,
                sku=sku,
                price=price,
                currency=currency,
                compare_at_price=compare_at,
                gtin=gtin or "",
                stock_on_hand=stock or 0,
                attributes=incoming.options,
                position=incoming.position,
            )
            changed = True
            imported = {k: _plain(v) for k, v in values.items()}
        else:
            imported = dict(mapping.imported) if mapping else {}
            dirty = False
            if values["stock"] is not None:
                as_of = _as_of(incoming.levels, data.updated_at)
                values["stock"] += _held_for_shop(connection_id, variant.pk, as_of)
            if variant.currency != currency:
                rules.conflicts[f"{key}.price"] = {
                    "note": f"The variant is priced in {variant.currency}, Shopify in {currency}; "
                    "prices not imported.",
                    "at": rules.now,
                }
                values.pop("price")
                values.pop("compare_at_price")
            for name, value in values.items():
                if value is None and name in ("gtin", "stock"):
                    continue
                attr = "stock_on_hand" if name == "stock" else name
                current = getattr(variant, attr)
                new = rules.apply(
                    f"{key}.{name}",
                    name,
                    current=current,
                    incoming=value,
                    last=_money(imported.get(name))
                    if name in ("price", "compare_at_price")
                    else imported.get(name),
                    created=False,
                )
                if not _same(new, current):
                    setattr(variant, attr, new)
                    dirty = True
                imported[name] = _plain(value)
            if _keep_held(variant, rules.conflicts, f"{key}.stock", rules.now):
                dirty = True
                if rules.owner_of["stock"] == FieldRule.Owner.SHOPIFY:
                    imported["stock"] = variant.stock_on_hand  # what was set from Shopify
            if not variant.active:
                variant.active = True
                dirty = True
            if incoming.options and variant.attributes != incoming.options:
                variant.attributes = incoming.options
                dirty = True
            if dirty:
                catalog_services.variant_save(variant=variant)
                changed = True
        if mapping is None:
            mapping = ExternalVariant(
                connection_id=connection_id, external_id=incoming.external_id, variant=variant
            )
        mapping.variant = variant
        mapping.inventory_item_id = incoming.inventory_item_id
        if incoming.levels is not None:
            mapping.levels = incoming.levels
        mapping.imported = imported
        mapping.save()
        seen.add(incoming.external_id)
    for external_id, mapping in mappings.items():
        if external_id not in seen:  # deleted in Shopify: the variant is taken off sale
            variant = mapping.variant
            mapping.delete()
            if variant.active:
                variant.active = False
                catalog_services.variant_save(variant=variant)
                changed = True
    if created:
        catalog_services.product_save(product=product)  # announce the new product's variants
    return changed


# ---------------------------------------------------------------------------------------
# Deletions and inventory levels
# ---------------------------------------------------------------------------------------


def remove_product(*, connection_id: int, external_id: str) -> str:
    """`products/delete`: the product is taken off sale (never deleted: links and orders keep
    it), unless Shoploop owns `active`, in which case the deletion is recorded."""
    owner_of = owners(connection_id)
    with transaction.atomic():
        mapping = (
            ExternalProduct.objects.select_for_update()
            .filter(connection_id=connection_id, external_id=external_id)
            .first()
        )
        if mapping is None:
            return "unknown"
        mapping.deleted_at = timezone.now()
        if owner_of["active"] == FieldRule.Owner.SHOPLOOP:
            mapping.conflicts["active"] = {
                "rule": "shoploop",
                "note": "Deleted in Shopify; kept active because Shoploop owns this field.",
                "at": mapping.deleted_at.isoformat(),
            }
            mapping.save()
            return "kept"
        mapping.save()
        catalog_services.products_set_active(
            products=Product.objects.filter(pk=mapping.product_id), active=False
        )
    return "deactivated"


def apply_inventory_level(*, connection_id: int, payload: dict, fetch_levels=None) -> str:
    """`inventory_levels/update`: one location's `available` changed.

    `fetch_levels(inventory_item_id)` returns all the item's levels; it is called when the
    other locations are not known yet (a variant first seen through a product webhook).
    """
    item_id = str(payload.get("inventory_item_id", ""))
    location = str(payload.get("location_id", ""))
    available = payload.get("available")
    updated_at = payload.get("updated_at") or ""
    mapping = (
        ExternalVariant.objects.filter(connection_id=connection_id, inventory_item_id=item_id)
        .only("pk", "levels")
        .first()
    )
    if mapping is None or available is None:
        return "unknown"
    fetched = fetch_levels(item_id) if mapping.levels is None and fetch_levels else None
    owner_of = owners(connection_id)
    with transaction.atomic():
        mapping = (
            ExternalVariant.objects.select_for_update().select_related("variant").get(pk=mapping.pk)
        )
        levels = dict(mapping.levels if mapping.levels is not None else (fetched or {}))
        known = levels.get(location)
        if known and known.get("updated_at") and updated_at:
            if _when(updated_at) < _when(known["updated_at"]):
                return "stale"
        levels[location] = {"available": int(available), "updated_at": updated_at}
        mapping.levels = levels
        variant = Variant.objects.select_for_update().get(pk=mapping.variant_id)
        stock = max(0, sum(int(level["available"]) for level in levels.values()))
        stock += _held_for_shop(connection_id, variant.pk, _as_of(levels))
        ext_product = ExternalProduct.objects.filter(
            connection_id=connection_id, product_id=variant.product_id
        ).first()
        conflicts = ext_product.conflicts if ext_product else {}
        rules = _Rules(owner_of, conflicts)
        new = rules.apply(
            f"variant:{mapping.external_id}.stock",
            "stock",
            current=variant.stock_on_hand,
            incoming=stock,
            last=mapping.imported.get("stock"),
            created=False,
        )
        mapping.imported = {**mapping.imported, "stock": stock}
        mapping.save()
        before = variant.stock_on_hand
        variant.stock_on_hand = new
        if _keep_held(variant, conflicts, f"variant:{mapping.external_id}.stock", rules.now):
            if owner_of["stock"] == FieldRule.Owner.SHOPIFY:
                mapping.imported = {**mapping.imported, "stock": variant.stock_on_hand}
                mapping.save(update_fields=["imported", "updated_at"])
        if ext_product is not None:
            ext_product.save(update_fields=["conflicts", "updated_at"])
        if variant.stock_on_hand != before:
            catalog_services.variant_save(variant=variant)
            return "updated"
    return "unchanged"


def stock_reconcile(*, product_ids) -> int:
    """After stock moved (an order committed, shipped or gave units back): the on hand of
    variants whose stock Shopify owns, still the value set from Shopify, is again Shopify's
    available (the levels last received) plus the units committed here to that shop's
    unshipped orders placed by then. Returns the variants changed; their change is announced
    like any other, and a second pass changes nothing."""
    rows = ExternalVariant.objects.filter(
        variant__product_id__in=list(product_ids),
        levels__isnull=False,
        connection__status=Connection.Status.ACTIVE,
    ).values_list(
        "pk", "connection_id", "levels", "variant__stock_on_hand", "variant__stock_committed"
    )
    mappings = []
    for mapping_id, connection_id, levels, on_hand, committed in rows.order_by("variant_id"):
        available = max(0, sum(int(level["available"]) for level in levels.values()))
        if committed == 0 and on_hand == available:
            continue  # nothing held here and nothing to correct: no lock, no query
        mappings.append((mapping_id, connection_id))
    changed = 0
    owner_of_stock = {}
    for mapping_id, connection_id in mappings:
        if connection_id not in owner_of_stock:
            owner_of_stock[connection_id] = owners(connection_id)["stock"]
        if owner_of_stock[connection_id] != FieldRule.Owner.SHOPIFY:
            continue
        with transaction.atomic():
            mapping = ExternalVariant.objects.select_for_update().get(pk=mapping_id)
            variant = Variant.objects.select_for_update().get(pk=mapping.variant_id)
            if variant.stock_on_hand != mapping.imported.get("stock"):
                continue  # edited here since: Shopify's next update decides, by its rule
            stock = max(0, sum(int(level["available"]) for level in mapping.levels.values()))
            stock += _held_for_shop(connection_id, variant.pk, _as_of(mapping.levels))
            before = variant.stock_on_hand
            variant.stock_on_hand = stock
            _keep_held(variant, {}, "", "")
            if variant.stock_on_hand == before:
                continue
            mapping.imported = {**mapping.imported, "stock": variant.stock_on_hand}
            mapping.save(update_fields=["imported", "updated_at"])
            catalog_services.variant_save(variant=variant)
            changed += 1
    return changed


def import_products(*, connection_id: int, products: list[ShopifyProduct]) -> ApplyReport:
    """Apply many products (the full import), each in its own transaction."""
    report = ApplyReport()
    owner_of = owners(connection_id)
    for data in products:
        try:
            outcome = apply_product(connection_id=connection_id, data=data, owner_of=owner_of)
        except ApplicationError as exc:
            report.failed += 1
            if len(report.errors) < 50:
                report.errors.append(exc.message)
            logger.warning(
                "integrations.import.product_failed",
                extra={"connection_id": connection_id, "external_id": data.external_id},
            )
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    report.conflicts = sum(
        len(c)
        for c in ExternalProduct.objects.filter(connection_id=connection_id).values_list(
            "conflicts", flat=True
        )
    )
    return report


def deactivate_missing(*, connection_id: int, seen_ids: set[str]) -> int:
    """After a full import: products Shopify no longer has are taken off sale."""
    missing = ExternalProduct.objects.filter(
        connection_id=connection_id, deleted_at__isnull=True
    ).exclude(external_id__in=seen_ids)
    count = 0
    for external_id in missing.values_list("external_id", flat=True):
        if remove_product(connection_id=connection_id, external_id=external_id) == "deactivated":
            count += 1
    return count


def fetch_bulk(access, *, poll_interval=1.0, timeout=1800.0) -> list[ShopifyProduct]:
    """Run the bulk operation and read its file."""
    import time

    operation = access.call(client.bulk_start, shop=access.account_id)
    deadline = time.monotonic() + timeout
    wait = poll_interval
    while True:
        status = access.call(
            client.bulk_status, shop=access.account_id, operation_id=operation["id"]
        )
        state = status.get("status")
        if state == "COMPLETED":
            break
        if state in ("FAILED", "CANCELED", "EXPIRED"):
            raise ApplicationError(
                f"Shopify's bulk operation ended {state.lower()} ({status.get('errorCode')})."
            )
        if time.monotonic() > deadline:
            raise ApplicationError("Shopify's bulk operation did not finish in time.")
        time.sleep(wait)
        wait = min(wait * 1.5, 10.0)
    if not status.get("url"):
        return []  # no products
    return products_from_bulk(client.bulk_lines(status["url"]))
