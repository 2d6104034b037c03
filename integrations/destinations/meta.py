"""Meta catalogs (Facebook and Instagram shops): one catalog item per variant, grouped by
`item_group_id`, sent through the Catalog Batch API.

Fields (Meta's product catalog spec): id (the SKU, as `retailer_id`), item_group_id, title,
description, availability, inventory, condition, price and sale_price ("12.00 USD"), link,
image_link, additional_image_link, brand, gtin, mpn, color, size. Meta's rules checked before
sending: id up to 100 characters; title up to 200; description up to 9,999; an image, a link
and a price; a brand, GTIN or MPN.

A batch is accepted by Meta asynchronously: the items of a batch are known accepted only
when `check_batch_request_status` says `finished` without an error for them. Until then
nothing is recorded as accepted, and the next push sends them again (UPDATE is an upsert).
"""

import time

from django.conf import settings

from integrations.clients import meta as client
from integrations.destinations.base import (
    Destination,
    Item,
    ProductView,
    Result,
    check_length,
    colour,
    message,
)

POLL_SECONDS = 30.0


def _money(amount, currency) -> str:
    return f"{amount} {currency}"


class MetaDestination(Destination):
    platform = "meta"

    @property
    def batch_size(self) -> int:
        return settings.INTEGRATIONS_BATCH_SIZES["meta"]

    def build(self, view: ProductView | None, listing) -> dict | None:
        if view is None:
            return None
        urls = [url for _, url, _ in view.images]
        condition = self.settings.get("condition") or "new"
        items = []
        for variant in view.variants:
            data = {
                "id": variant.sku,
                "item_group_id": view.ref,
                "title": view.title,
                "description": view.description_text,
                "availability": "in stock" if variant.quantity > 0 else "out of stock",
                "inventory": variant.quantity,
                "condition": condition,
                "price": _money(variant.price, variant.currency),
                "sale_price": _money(variant.sale_price, variant.currency)
                if variant.sale_price is not None
                else "",
                "link": view.link,
                "image_link": urls[0] if urls else "",
                "additional_image_link": urls[1:10],
                "brand": view.brand,
                "gtin": variant.gtin,
                "mpn": variant.mpn,
                "color": colour(variant.attributes),
                "size": variant.attributes.get("size", ""),
            }
            items.append({k: v for k, v in data.items() if v not in ("", [], None)})
        return {"items": items}

    def validate(self, payload: dict, listing) -> list[dict]:
        errors = []
        for item in payload["items"]:
            sku = item.get("id", "")
            prefix = f"{sku}: "
            if len(sku) > 100:
                errors.append(message(f"{prefix}the id (SKU) is over 100 characters.", field="id"))
            check_length(errors, item.get("title", ""), field="title", label="Title", maximum=200)
            check_length(
                errors,
                item.get("description", ""),
                field="description",
                label="Description",
                maximum=9999,
            )
            if not item.get("image_link"):
                errors.append(message("An image is required.", field="image_link"))
            if not (item.get("brand") or item.get("gtin") or item.get("mpn")):
                errors.append(message(f"{prefix}a brand, GTIN or MPN is required.", field="brand"))
        return _unique(errors)

    def send(self, items: list[Item]) -> dict[int, Result]:
        requests, owner, current = [], {}, {}
        for item in items:
            previous = set(item.listing.external_data.get("ids", []))
            ids = [data["id"] for data in item.payload.get("items", [])]
            current[item.listing.pk] = ids
            if item.action == "upsert":
                for data in item.payload["items"]:
                    requests.append({"method": "UPDATE", "data": data})
                    owner[data["id"]] = item.listing.pk
            for retailer_id in sorted(previous - set(ids)):
                requests.append({"method": "DELETE", "data": {"id": retailer_id}})
                owner[retailer_id] = item.listing.pk
        failed: dict[int, list] = {}
        warnings: dict[int, list] = {}
        if requests:
            answer = self.access.call(
                client.items_batch, catalog_id=self.access.account_id, requests=requests
            )
            for status in answer.get("validation_status") or []:
                listing_id = owner.get(str(status.get("retailer_id")))
                for error in status.get("errors") or []:
                    failed.setdefault(listing_id, []).append(error.get("message", "refused"))
                for warning in status.get("warnings") or []:
                    warnings.setdefault(listing_id, []).append(warning.get("message", ""))
            unfinished = self._wait(answer.get("handles") or [], owner, failed)
            if unfinished:
                return {
                    item.listing.pk: Result.failure(
                        "Meta has not finished processing the batch; it will be sent again.",
                        retryable=True,
                    )
                    for item in items
                }
        results = {}
        for item in items:
            listing_id = item.listing.pk
            notes = [
                message(w, level="warning", source="platform") for w in warnings.get(listing_id, [])
            ]
            if failed.get(listing_id):
                results[listing_id] = Result(
                    ok=False,
                    retryable=False,
                    messages=[message(m, source="platform") for m in failed[listing_id]] + notes,
                )
            else:
                results[listing_id] = Result(
                    ok=True,
                    messages=notes,
                    external_id=item.listing.product_ref,
                    external_data={"ids": current[listing_id] if item.action == "upsert" else []},
                )
        return results

    def _wait(self, handles, owner, failed) -> bool:
        """Poll each handle until finished; record item errors. True if one is unfinished."""
        deadline = time.monotonic() + POLL_SECONDS
        for handle in handles:
            wait = 0.2
            while True:
                status = self.access.call(
                    client.batch_status, catalog_id=self.access.account_id, handle=handle
                )
                if status.get("status") == "finished":
                    for error in status.get("errors") or []:
                        listing_id = owner.get(str(error.get("id", "")))
                        failed.setdefault(listing_id, []).append(error.get("message", "refused"))
                    break
                if time.monotonic() + wait > deadline:
                    return True
                time.sleep(wait)
                wait = min(wait * 2, 5.0)
        return False


def _unique(errors: list[dict]) -> list[dict]:
    seen, out = set(), []
    for error in errors:
        key = (error["field"], error["message"])
        if key not in seen:
            seen.add(key)
            out.append(error)
    return out
