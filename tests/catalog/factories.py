import io
from decimal import Decimal

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.models import Product, Variant
from catalog.validators import gtin_check_digit


def image_bytes(fmt="PNG", size=(64, 48), colour=(200, 30, 60), **save_args) -> bytes:
    out = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" and save_args.pop("alpha", False) else "RGB"
    Image.new(mode, size, colour).save(out, format=fmt, **save_args)
    return out.getvalue()


def upload(name="photo.png", content=None, content_type="image/png"):
    return SimpleUploadedFile(name, content if content is not None else image_bytes(),
                              content_type=content_type)  # fmt: skip


def valid_gtin(n: int) -> str:
    body = f"{400000000000 + n:012d}"
    return body + str(gtin_check_digit(body))


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    title = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    description = "A fine product."
    brand = "Acme"


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    gtin = factory.Sequence(valid_gtin)
    price = Decimal("19.99")
    currency = "USD"
    stock_on_hand = 10
    attributes = factory.LazyFunction(lambda: {"size": "M"})
