"""TikTok Shop: one TikTok product per catalog product, one SKU per variant.

TikTok Shop's Partner API creates and edits one product per request
(`POST /product/202309/products`, `PUT /product/202309/products/{id}`) and takes lists only to
activate or deactivate (up to 20). So upserts go one request each, removals 20 at a time.
Images must be uploaded to TikTok first (`/product/202309/images/upload`): each stored image
is uploaded once and its URI kept (`ImageUpload`); images known only by a Shopify URL cannot
be uploaded without fetching them, so such products need an image in Shoploop.

Fields: title, description, category_id, main_images, skus (seller_sku, price, inventory per
warehouse, sales_attributes, identifier_code), package_weight. TikTok's rules checked before
sending: a title of 1 to 255 characters; a description of at most 10,000; a leaf category; 1
to 9 images; a package weight; a price above zero; stock of at most 99,999 a SKU; SKUs of at
most 50 characters told apart by sales attributes when there are several.
"""

from django.db import IntegrityError

from integrations import services
from integrations.clients import tiktok_shop as client
from integrations.destinations.base import (
    Destination,
    Item,
    ProductView,
    Result,
    check_length,
    message,
)
from integrations.http import PlatformError
from integrations.models import ImageUpload, Listing


class TikTokShopDestination(Destination):
    platform = "tiktok_shop"
    batch_size = client.DEACTIVATE_BATCH

    @property
    def cipher(self) -> str:
        return self.settings.get("shop_cipher", "")

    def prepare(self) -> None:
        if self.settings.get("warehouse_id"):
            return
        found = self.access.call(client.warehouses, shop_cipher=self.cipher)
        sales = [w for w in found if w.get("type", "SALES_WAREHOUSE") == "SALES_WAREHOUSE"]
        chosen = next((w for w in sales if w.get("is_default")), sales[0] if sales else None)
        if chosen is None:
            return  # validation says so per product
        self.settings["warehouse_id"] = str(chosen["id"])
        services.connection_store_platform_settings(
            connection_id=self.connection.pk, values={"warehouse_id": str(chosen["id"])}
        )

    def units(self, payload: dict) -> int:
        return 1

    def build(self, view: ProductView | None, listing) -> dict | None:
        if view is None:
            return None
        skus = []
        for variant in view.variants:
            current = variant.sale_price if variant.sale_price is not None else variant.price
            skus.append(
                {
                    "seller_sku": variant.sku,
                    "price": {"amount": str(current), "currency": variant.currency},
                    "quantity": variant.quantity,
                    "sales_attributes": [
                        {"name": name.title(), "value_name": value}
                        for name, value in sorted(variant.attributes.items())
                    ],
                    "gtin": variant.gtin,
                }
            )
        return {
            "title": view.title,
            "description": view.description_html or view.description_text,
            "category_id": listing.category or self.settings.get("default_category_id", ""),
            # Stored images only (id, file): what is uploaded; URLs elsewhere are not.
            "images": [[pk, name] for pk, _, name in view.images if pk is not None][:9],
            "package_weight": self.settings.get("package_weight_kg", ""),
            "warehouse_id": self.settings.get("warehouse_id", ""),
            "skus": skus,
        }

    def validate(self, payload: dict, listing) -> list[dict]:
        errors = []
        check_length(errors, payload["title"], field="title", label="Title", maximum=255)
        check_length(
            errors, payload["description"], field="description", label="Description", maximum=10000
        )
        if not payload["category_id"]:
            errors.append(
                message(
                    "A TikTok Shop category is required: set the connection's default category "
                    "or this listing's category.",
                    field="category_id",
                )
            )
        if not payload["images"]:
            errors.append(
                message(
                    "TikTok Shop needs at least one product image stored in Shoploop "
                    "(add one to the product).",
                    field="main_images",
                )
            )
        if not payload["package_weight"]:
            errors.append(
                message(
                    "TikTok Shop requires a package weight: set it in the connection's settings.",
                    field="package_weight",
                )
            )
        if not payload["warehouse_id"]:
            errors.append(
                message("The shop has no sales warehouse to hold stock.", field="warehouse_id")
            )
        for sku in payload["skus"]:
            if len(sku["seller_sku"]) > 50:
                errors.append(
                    message(f"SKU {sku['seller_sku']} is over 50 characters.", field="seller_sku")
                )
            if float(sku["price"]["amount"]) <= 0:
                errors.append(
                    message(f"{sku['seller_sku']}: the price must be above zero.", field="price")
                )
            if sku["quantity"] > 99999:
                errors.append(
                    message(
                        f"{sku['seller_sku']}: TikTok Shop takes at most 99,999 units a SKU.",
                        field="inventory",
                    )
                )
            if len(payload["skus"]) > 1 and not sku["sales_attributes"]:
                errors.append(
                    message(
                        f"{sku['seller_sku']}: variants need attributes (such as size) to tell "
                        "them apart on TikTok Shop.",
                        field="sales_attributes",
                    )
                )
        return errors

    # -- sending --------------------------------------------------------------------------

    def _uri(self, image_id: int, name: str) -> str:
        from catalog.models import ProductImage

        found = ImageUpload.objects.filter(
            connection_id=self.connection.pk, image_id=image_id, source_name=name
        ).first()
        if found:
            return found.uri
        image = ProductImage.objects.get(pk=image_id)
        with image.image.open("rb") as fh:
            content = fh.read()
        uri = self.access.call(
            client.upload_image, shop_cipher=self.cipher, content=content, name=name.rsplit("/")[-1]
        )
        try:
            ImageUpload.objects.create(
                connection_id=self.connection.pk, image_id=image_id, source_name=name, uri=uri
            )
        except IntegrityError:
            pass  # another push uploaded it at the same time: either URI works
        return uri

    def _images(self, payload: dict) -> list[dict]:
        return [{"uri": self._uri(pk, name)} for pk, name in payload["images"]]

    def _body(self, item: Item) -> dict:
        payload = item.payload
        known = item.listing.external_data.get("sku_ids", {})
        skus = []
        for sku in payload["skus"]:
            entry = {
                "seller_sku": sku["seller_sku"],
                "price": sku["price"],
                "inventory": [
                    {"warehouse_id": payload["warehouse_id"], "quantity": sku["quantity"]}
                ],
                "sales_attributes": sku["sales_attributes"],
            }
            if sku["gtin"]:
                entry["identifier_code"] = {"code": sku["gtin"], "type": "GTIN"}
            if sku["seller_sku"] in known:
                entry["id"] = known[sku["seller_sku"]]
            skus.append(entry)
        return {
            "title": payload["title"],
            "description": payload["description"],
            "category_id": payload["category_id"],
            "main_images": self._images(payload),
            "skus": skus,
            "package_weight": {"value": payload["package_weight"], "unit": "KILOGRAM"},
        }

    def send(self, items: list[Item]) -> dict[int, Result]:
        results = {}
        removals = []
        for item in items:
            if item.action == "remove":
                removals.append(item)
                continue
            results[item.listing.pk] = self._upsert(item)
        to_deactivate = [i for i in removals if i.listing.external_id]
        for item in removals:
            if not item.listing.external_id:
                results[item.listing.pk] = Result(ok=True, external_data={})
        if to_deactivate:
            try:
                failed = self.access.call(
                    client.set_active,
                    shop_cipher=self.cipher,
                    product_ids=[i.listing.external_id for i in to_deactivate],
                    active=False,
                )
            except PlatformError as exc:
                for item in to_deactivate:
                    results[item.listing.pk] = Result.failure(exc.message, retryable=exc.transient)
            else:
                for item in to_deactivate:
                    error = failed.get(item.listing.external_id)
                    results[item.listing.pk] = (
                        Result.failure(error, retryable=False)
                        if error
                        else Result(
                            ok=True,
                            external_id=item.listing.external_id,
                            external_data={**item.listing.external_data, "active": False},
                        )
                    )
        return results

    def _create(self, item: Item, body: dict) -> dict:
        """Create the product, unless an earlier attempt did and its answer was lost.

        The listing is marked before the request; a marked listing (a timeout, a worker that
        died) looks its SKUs up first, so TikTok never gets the same product twice.
        """
        listing = item.listing
        if listing.external_data.get("creating"):
            found = self.access.call(
                client.find_by_skus,
                shop_cipher=self.cipher,
                skus=[s["seller_sku"] for s in body["skus"]],
            )
            if found:
                for sku in body["skus"]:
                    if sku["seller_sku"] in found["sku_ids"]:
                        sku["id"] = found["sku_ids"][sku["seller_sku"]]
                return self.access.call(
                    client.edit_product,
                    shop_cipher=self.cipher,
                    product_id=found["product_id"],
                    body=body,
                )
        Listing.objects.filter(pk=listing.pk).update(
            external_data={**listing.external_data, "creating": True}
        )
        return self.access.call(client.create_product, shop_cipher=self.cipher, body=body)

    def _upsert(self, item: Item) -> Result:
        listing = item.listing
        try:
            body = self._body(item)
            if listing.external_id:
                data = self.access.call(
                    client.edit_product,
                    shop_cipher=self.cipher,
                    product_id=listing.external_id,
                    body=body,
                )
                if listing.external_data.get("active") is False:
                    failed = self.access.call(
                        client.set_active,
                        shop_cipher=self.cipher,
                        product_ids=[listing.external_id],
                        active=True,
                    )
                    if failed:
                        return Result.failure(next(iter(failed.values())), retryable=False)
            else:
                data = self._create(item, body)
        except PlatformError as exc:
            return Result.failure(exc.message, retryable=exc.transient or exc.throttled)
        except OSError as exc:
            return Result.failure(f"An image could not be read: {exc}", retryable=True)
        product_id = str(data.get("product_id") or listing.external_id)
        return Result(
            ok=True,
            external_id=product_id,
            external_data={
                "product_id": product_id,
                "sku_ids": {s["seller_sku"]: str(s["id"]) for s in data.get("skus") or []},
                "active": True,
            },
            messages=[
                message(w.get("message", ""), level="warning", source="platform")
                for w in data.get("warnings") or []
            ],
        )
