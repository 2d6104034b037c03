"""Parcels -> the channel the order came from (issue 19): Shopify's fulfillment orders API and
TikTok Shop's Mark Package As Shipped, through the shop's connection (its token, its rate
limit bucket, its 429 pauses and retries: `integrations/http.py`).

Contract of `fulfilment_push(fulfilment_id=...)`:
- One push per parcel at a time (a Redis lock); a parcel already pushed (or not to push) is
  left alone, so the job, the signal and the sweep may all ask for it.
- Idempotent at the platform: before sending, the order is read from the platform; a
  fulfilment (Shopify) or package (TikTok Shop) that already carries this tracking number is
  taken as ours (a push whose answer was lost is never sent twice).
- Checked before sending: the units still to fulfil there (Shopify's `fulfillable_quantity`,
  TikTok's items not in a package) cover the parcel; TikTok Shop offers the parcel's carrier
  for the order's delivery option (our carrier mapped to its shipping provider list). A
  failed check refuses the parcel with a message that names what is missing.
- The result goes back to `sales.fulfilment.fulfilment_push_result`: accepted (with the
  platform's id), refused (a 4xx or a business error: the platform's own message, shown on
  the order) or failed (timeouts, 5xx, the rate limit's budget: retried with backoff).
"""

import logging

from core.errors import ApplicationError
from integrations import ratelimit
from integrations.access import Access
from integrations.clients import shopify as shopify_client
from integrations.clients import tiktok_shop as tiktok_client
from integrations.http import PlatformError
from integrations.models import Connection, Platform
from sales import carriers
from sales import fulfilment as sales_fulfilment
from sales.fulfilment_models import Fulfilment
from sales.models import Provider

logger = logging.getLogger(__name__)

Push = Fulfilment.Push


class Refused(Exception):
    """Our own check before sending: the platform would refuse it, and nothing is sent."""


def connection_for(channel) -> Connection | None:
    if channel.provider == Provider.SHOPIFY:
        platform, account = Platform.SHOPIFY, channel.shop_domain
    elif channel.provider == Provider.TIKTOK_SHOP:
        platform, account = Platform.TIKTOK_SHOP, channel.shop_id
    else:
        return None
    if not account:
        return None
    return (
        Connection.objects.filter(
            platform=platform, account_id=account, status=Connection.Status.ACTIVE
        )
        .order_by("-pk")
        .first()
    )


def fulfilment_push(*, fulfilment_id: int) -> str:
    """Push one parcel (see the module's contract); returns its push state afterwards."""
    lock_name = f"fulfilment-push:{fulfilment_id}"
    token = ratelimit.lock(lock_name, ttl=300)
    if token is None:
        return "busy"
    try:
        parcel = (
            Fulfilment.objects.select_related("order__channel")
            .prefetch_related("lines__line")
            .filter(pk=fulfilment_id)
            .first()
        )
        if parcel is None or parcel.push_state not in (Push.PENDING, Push.FAILED):
            return parcel.push_state if parcel else "missing"
        return _push(parcel)
    finally:
        ratelimit.release(lock_name, token)


def _push(parcel: Fulfilment) -> str:
    channel = parcel.order.channel
    connection = connection_for(channel)
    if connection is None:
        result = sales_fulfilment.fulfilment_push_result(
            fulfilment_id=parcel.pk, ok=False, retryable=False,
            message=f"No connected {channel.get_provider_display()} account for {channel.name}: "
            "connect it in Integrations › Connections, then send the parcel again.",
        )  # fmt: skip
        return result.push_state
    access = Access(connection)
    try:
        if channel.provider == Provider.SHOPIFY:
            external_id, note = _push_shopify(access, connection, parcel)
        else:
            external_id, note = _push_tiktok(access, connection, parcel)
    except Refused as exc:
        outcome = {"ok": False, "retryable": False, "message": str(exc)}
    except ApplicationError as exc:  # the connection needs reconnecting
        outcome = {"ok": False, "retryable": True, "message": exc.message}
    except PlatformError as exc:
        retry = exc.transient or exc.throttled
        outcome = {"ok": False, "retryable": retry, "message": exc.message}
    else:
        outcome = {"ok": True, "external_id": external_id, "message": note}
    finally:
        access.close()
    result = sales_fulfilment.fulfilment_push_result(fulfilment_id=parcel.pk, **outcome)
    logger.info("integrations.fulfilment_push",
                extra={"fulfilment_id": parcel.pk, "state": result.push_state})  # fmt: skip
    return result.push_state


# -- Shopify ------------------------------------------------------------------------------------


def _push_shopify(access: Access, connection: Connection, parcel: Fulfilment) -> tuple[str, str]:
    shop, order_id = connection.account_id, parcel.order.external_id
    for existing in access.call(shopify_client.order_fulfillments, shop=shop, order_id=order_id):
        numbers = existing.get("tracking_numbers") or [existing.get("tracking_number")]
        if parcel.tracking_number in numbers:
            return str(existing["id"]), "Shopify already had this parcel (an earlier push)."
    orders = access.call(shopify_client.fulfillment_orders, shop=shop, order_id=order_id)
    open_items = [
        (fo["id"], item)
        for fo in orders
        if fo.get("status") in ("open", "in_progress")
        for item in fo.get("line_items", [])
        if item.get("fulfillable_quantity", 0) > 0
    ]
    groups: dict = {}
    for part in parcel.lines.all():
        line, need = part.line, part.quantity
        for fo_id, item in open_items:
            if need == 0:
                break
            if str(item.get("line_item_id")) != line.external_id:
                continue
            take = min(need, item["fulfillable_quantity"] - item.get("_taken", 0))
            if take <= 0:
                continue
            item["_taken"] = item.get("_taken", 0) + take
            groups.setdefault(fo_id, []).append({"id": item["id"], "quantity": take})
            need -= take
        if need:
            raise Refused(
                f"Shopify has {part.quantity - need} of {line.sku or line.title} left to "
                f"fulfil on order {parcel.order.name or order_id}; this parcel holds "
                f"{part.quantity}. Was it fulfilled on Shopify already?"
            )
    carrier = carriers.CARRIERS[parcel.carrier]
    made = access.call(
        shopify_client.fulfillment_create, shop=shop,
        line_items_by_fulfillment_order=[
            {"fulfillment_order_id": fo_id, "fulfillment_order_line_items": items}
            for fo_id, items in groups.items()
        ],
        tracking_info={"number": parcel.tracking_number, "company": carrier.shopify_company,
                       "url": parcel.tracking_url},
    )  # fmt: skip
    return str(made["id"]), f"Shopify fulfillment {made['id']}."


# -- TikTok Shop --------------------------------------------------------------------------------


def _provider_id(providers: list[dict], carrier_code: str) -> str:
    carrier = carriers.CARRIERS[carrier_code]
    names = {n.lower() for n in carrier.tiktok_names}
    found = next((p for p in providers if str(p.get("name", "")).lower() in names), None)
    if found is None:
        offered = ", ".join(sorted(str(p.get("name")) for p in providers)) or "none"
        raise Refused(
            f"TikTok Shop does not offer {carrier.name} for this order's delivery option "
            f"(it offers: {offered}). Ship with one of those, or change the carrier."
        )
    return str(found["id"])


def _push_tiktok(access: Access, connection: Connection, parcel: Fulfilment) -> tuple[str, str]:
    cipher = connection.settings.get("shop_cipher") or parcel.order.channel.shop_cipher
    order_id = parcel.order.external_id
    order = access.call(tiktok_client.order_detail, shop_cipher=cipher, order_id=order_id)
    if order is None:
        raise Refused(f"TikTok Shop has no order {order_id}.")
    items = order.get("line_items") or []
    for item in items:
        if item.get("tracking_number") == parcel.tracking_number and item.get("package_id"):
            return str(item["package_id"]), "TikTok Shop already had this package."
    providers = access.call(
        tiktok_client.shipping_providers, shop_cipher=cipher,
        delivery_option_id=str(order.get("delivery_option_id") or ""),
    )  # fmt: skip
    provider_id = _provider_id(providers, parcel.carrier)
    free = [item for item in items if not item.get("package_id")]
    chosen = []
    for part in parcel.lines.all():
        sku = part.line.sku
        matching = [item for item in free if item.get("seller_sku") == sku]
        if len(matching) < part.quantity:
            raise Refused(
                f"TikTok Shop has {len(matching)} unshipped unit(s) of {sku} on order "
                f"{order_id}; this parcel holds {part.quantity}."
            )
        taken = matching[: part.quantity]
        chosen += [str(item["id"]) for item in taken]
        free = [item for item in free if item not in taken]
    data = access.call(
        tiktok_client.mark_package_shipped, shop_cipher=cipher, order_id=order_id,
        item_ids=chosen, tracking_number=parcel.tracking_number, provider_id=provider_id,
    )  # fmt: skip
    return str(data.get("package_id", "")), f"TikTok Shop package {data.get('package_id')}."


def fulfilments_push_due(*, limit: int = 200) -> int:
    """The sweep: parcels waiting (a lost signal) and retries whose backoff is over."""
    ids = sales_fulfilment.fulfilments_push_due(limit=limit)
    for fulfilment_id in ids:
        fulfilment_push(fulfilment_id=fulfilment_id)
    return len(ids)
