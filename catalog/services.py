"""Every write to the catalog."""

import logging

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.text import slugify

from catalog.models import Product, ProductImage, Variant
from catalog.signals import products_changed
from core import images
from core.errors import ApplicationError, error_message, full_clean
from core.jobs import enqueue_on_commit

logger = logging.getLogger(__name__)


def _unique_slug(title: str, *, exclude_pk=None) -> str:
    base = slugify(title)[:180] or "product"
    slug, n = base, 2
    taken = Product.objects.exclude(pk=exclude_pk)
    while taken.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def product_create(
    *, title: str, slug: str = "", description: str = "", brand: str = "", active: bool = True
) -> Product:
    with transaction.atomic():
        product = Product(
            title=title,
            slug=slug or _unique_slug(title),
            description=description,
            brand=brand,
            active=active,
        )
        full_clean(product)
        product.save()
    return product


def _announce(product_ids) -> None:
    ids = list(product_ids)
    transaction.on_commit(lambda: products_changed.send(sender=Product, product_ids=ids))


def product_save(*, product: Product) -> Product:
    """Validate and save a product edited in a form (admin or API)."""
    with transaction.atomic():
        if not product.slug:
            product.slug = _unique_slug(product.title, exclude_pk=product.pk)
        full_clean(product)
        product.save()
        _announce([product.pk])
    return product


def variant_create(*, product: Product, sku: str, price, currency: str, **fields) -> Variant:
    with transaction.atomic():
        variant = Variant(product=product, sku=sku, price=price, currency=currency, **fields)
        full_clean(variant)
        variant.save()
    return variant


# Reserved and committed units change only through catalog/stock.py: a form that loaded a
# variant a moment ago must not write back the counts it read.
STOCK_COUNTERS = ("stock_reserved", "stock_committed")


def variant_save(*, variant: Variant) -> Variant:
    """Validate and save a variant edited in a form (admin or API)."""
    with transaction.atomic():
        full_clean(variant)
        if variant.pk and Variant.objects.filter(pk=variant.pk).exists():
            fields = [
                f.name
                for f in Variant._meta.concrete_fields
                if not f.primary_key and f.name not in STOCK_COUNTERS
            ]
            variant.save(update_fields=fields)
        else:
            variant.save()
        _announce([variant.product_id])
    return variant


def product_image_add(
    *, product: Product, upload, alt_text: str = "", position: int | None = None
) -> ProductImage:
    """Check and re-encode an uploaded image, store it, and queue its thumbnail."""
    try:
        processed = images.process_upload(upload)
    except ValidationError as exc:
        raise ApplicationError(
            error_message(exc), code=exc.code or "image_invalid", fields={"image": exc.messages}
        ) from None
    image = ProductImage(product=product, alt_text=alt_text)
    if position is None:
        position = product.images.count()
    image.position = position
    return product_image_save(
        image=image, processed=processed, original_name=getattr(upload, "name", "")
    )


def product_image_save(
    *, image: ProductImage, processed: images.ProcessedImage | None = None, original_name=""
) -> ProductImage:
    """Save an image row; with `processed`, store its new file and queue a thumbnail."""
    with transaction.atomic():
        if processed is not None:
            name = images.stored_name(original_name, processed.extension)
            image.image.save(name, ContentFile(processed.content), save=False)
            image.width, image.height = processed.width, processed.height
            image.content_type = processed.content_type
            if image.thumbnail:
                image.thumbnail.delete(save=False)
        image.save()
        if processed is not None:
            enqueue_on_commit(_thumbnail_task(), image.pk)
    return image


def _thumbnail_task():
    # The task module imports this one; look it up late to avoid a cycle.
    from catalog.tasks import product_image_make_thumbnail

    return product_image_make_thumbnail


def product_image_make_thumbnail(*, image_id: int) -> ProductImage | None:
    """Make the thumbnail of an image. Safe to run twice; a deleted image is skipped."""
    image = ProductImage.objects.filter(pk=image_id).first()
    if image is None:
        logger.info("catalog.thumbnail.skipped", extra={"image_id": image_id, "why": "deleted"})
        return None
    if image.thumbnail:
        return image
    with image.image.open("rb") as fh:
        content, extension = images.make_thumbnail(fh.read())
    with transaction.atomic():
        locked = ProductImage.objects.select_for_update().get(pk=image_id)
        if locked.thumbnail:  # another worker finished first
            return locked
        locked.thumbnail.save(f"{image_id}-thumb.{extension}", ContentFile(content), save=False)
        locked.save(update_fields=["thumbnail"])
    logger.info("catalog.thumbnail.made", extra={"image_id": image_id})
    return locked


def products_set_active(*, products, active: bool) -> int:
    """Publish or unpublish many products at once; returns how many changed."""
    with transaction.atomic():
        changing = list(products.exclude(active=active).values_list("pk", flat=True))
        Product.objects.filter(pk__in=changing).update(active=active)
        _announce(changing)
    return len(changing)
