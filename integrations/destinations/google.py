"""Google Merchant Center through the Merchant API: one product input (offer) per variant,
grouped by `itemGroupId`, inserted into the account's API data source and deleted when a
variant or the product goes, all through Google's HTTP batch endpoint.

Attributes (Merchant API `ProductAttributes`): title, description, link, imageLink,
additionalImageLinks, availability, condition, price and salePrice (micros and currency),
gtins, mpn, brand, itemGroupId, color, sizes, googleProductCategory. Google's rules checked
before sending: offer id up to 50 characters; title up to 150; description up to 5,000; a
link, an image and a price above zero; a brand; without a GTIN or MPN the offer says
`identifierExists: false`.
"""

from decimal import Decimal

from django.conf import settings

from integrations import services
from integrations.clients import google as client
from integrations.destinations.base import (
    Destination,
    Item,
    ProductView,
    Result,
    check_length,
    colour,
    message,
)

AVAILABILITY = {True: "IN_STOCK", False: "OUT_OF_STOCK"}


def _price(amount: Decimal, currency: str) -> dict:
    return {"amountMicros": str(int(amount * 1_000_000)), "currencyCode": currency}


class GoogleDestination(Destination):
    platform = "google"

    @property
    def batch_size(self) -> int:
        return settings.INTEGRATIONS_BATCH_SIZES["google"]

    @property
    def language(self) -> str:
        return self.settings.get("language") or "en"

    @property
    def feed_label(self) -> str:
        return self.settings.get("feed_label") or "US"

    def prepare(self) -> None:
        if self.settings.get("data_source"):
            return
        name = self.access.call(
            client.ensure_data_source,
            account_id=self.access.account_id,
            language=self.language,
            feed_label=self.feed_label,
            country=self.settings.get("country") or "US",
        )
        self.settings["data_source"] = name
        services.connection_store_platform_settings(
            connection_id=self.connection.pk, values={"data_source": name}
        )

    def build(self, view: ProductView | None, listing) -> dict | None:
        if view is None:
            return None
        urls = [url for _, url, _ in view.images]
        condition = (self.settings.get("condition") or "new").upper()
        category = listing.category or self.settings.get("google_product_category", "")
        items = []
        for variant in view.variants:
            attributes = {
                "title": view.title,
                "description": view.description_text,
                "link": view.link,
                "imageLink": urls[0] if urls else "",
                "additionalImageLinks": urls[1:11],
                "availability": AVAILABILITY[variant.quantity > 0],
                "condition": condition,
                "price": _price(variant.price, variant.currency),
                "brand": view.brand,
                "itemGroupId": view.ref,
                "color": colour(variant.attributes),
                "sizes": [variant.attributes["size"]] if variant.attributes.get("size") else [],
                "googleProductCategory": category,
            }
            if variant.sale_price is not None:
                attributes["salePrice"] = _price(variant.sale_price, variant.currency)
            if variant.gtin:
                attributes["gtins"] = [variant.gtin]
            if variant.mpn:
                attributes["mpn"] = variant.mpn
            if not variant.gtin and not variant.mpn:
                attributes["identifierExists"] = False
            items.append(
                {
                    "offerId": variant.sku,
                    "contentLanguage": self.language,
                    "feedLabel": self.feed_label,
                    "productAttributes": {
                        k: v for k, v in attributes.items() if v not in ("", [], None)
                    },
                }
            )
        return {"items": items}

    def validate(self, payload: dict, listing) -> list[dict]:
        errors = []
        for item in payload["items"]:
            attrs = item["productAttributes"]
            if len(item["offerId"]) > 50:
                errors.append(
                    message(
                        f"{item['offerId']}: the offer id (SKU) is over 50 characters.",
                        field="offerId",
                    )
                )
            check_length(errors, attrs.get("title", ""), field="title", label="Title", maximum=150)
            check_length(
                errors,
                attrs.get("description", ""),
                field="description",
                label="Description",
                maximum=5000,
            )
            if not attrs.get("imageLink"):
                errors.append(message("An image is required.", field="imageLink"))
            if not attrs.get("brand"):
                errors.append(message("A brand is required.", field="brand"))
            if int(attrs["price"]["amountMicros"]) <= 0:
                errors.append(message("The price must be above zero.", field="price"))
        seen, unique = set(), []
        for error in errors:
            if (error["field"], error["message"]) not in seen:
                seen.add((error["field"], error["message"]))
                unique.append(error)
        return unique

    def _input_path(self, offer_id: str) -> str:
        name = client.product_input_name(
            self.access.account_id, self.language, self.feed_label, offer_id
        )
        return (
            f"{client.PRODUCTS}/{client.quote_name(name)}?dataSource={self.settings['data_source']}"
        )

    def send(self, items: list[Item]) -> dict[int, Result]:
        calls, owners = [], []
        insert = (
            f"{client.PRODUCTS}/accounts/{self.access.account_id}/productInputs:insert"
            f"?dataSource={self.settings['data_source']}"
        )
        current = {}
        for item in items:
            previous = set(item.listing.external_data.get("ids", []))
            ids = [offer["offerId"] for offer in item.payload.get("items", [])]
            current[item.listing.pk] = ids
            if item.action == "upsert":
                for offer in item.payload["items"]:
                    calls.append(("POST", insert, offer))
                    owners.append((item.listing.pk, offer["offerId"]))
            for offer_id in sorted(previous - set(ids)):
                calls.append(("DELETE", self._input_path(offer_id), None))
                owners.append((item.listing.pk, offer_id))
        failures: dict[int, list] = {}
        retryable: dict[int, bool] = {}
        if calls:
            answers = self.access.call(client.batch, calls=calls)
            for (listing_id, offer_id), (method, _, _), (status, body) in zip(
                owners, calls, answers, strict=True
            ):
                if status < 300 or (method == "DELETE" and status == 404):
                    continue
                error = client.classify_status(status, body)
                failures.setdefault(listing_id, []).append(f"{offer_id}: {error.message}")
                retryable[listing_id] = retryable.get(listing_id, False) or bool(
                    error.transient or error.throttled
                )
        results = {}
        for item in items:
            listing_id = item.listing.pk
            if failures.get(listing_id):
                results[listing_id] = Result(
                    ok=False,
                    retryable=retryable.get(listing_id, False),
                    messages=[message(m, source="platform") for m in failures[listing_id]],
                )
            else:
                results[listing_id] = Result(
                    ok=True,
                    external_id=item.listing.product_ref,
                    external_data={"ids": current[listing_id] if item.action == "upsert" else []},
                )
        return results
