from datetime import timedelta

from django.utils import timezone

from catalog import services
from catalog.models import ProductImage
from core.jobs import shoploop_task


@shoploop_task(name="catalog.product_image_make_thumbnail", time_limit=120)
def product_image_make_thumbnail(image_id: int) -> None:
    services.product_image_make_thumbnail(image_id=image_id)


@shoploop_task(name="catalog.product_images_sweep_thumbnails", time_limit=600)
def product_images_sweep_thumbnails() -> int:
    """Queue thumbnails that a lost message or a dead worker left unmade."""
    cutoff = timezone.now() - timedelta(minutes=5)
    ids = list(
        ProductImage.objects.filter(thumbnail="", created_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:1000]
    )
    for image_id in ids:
        product_image_make_thumbnail.delay(image_id)
    return len(ids)
