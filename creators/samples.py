"""Product requests: a creator asks for a sample; the shop approves or declines, saying why.

`product_request_create` checks the creator is active, the product (and variant) on sale, one
open request per product and at most `CREATOR_SAMPLE_MAX_OPEN` open at once. Deciding locks
the row and moves only a waiting request.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Product, Variant
from core.errors import ApplicationError, full_clean
from creators.models import Creator
from creators.sample_models import ProductRequest

Status = ProductRequest.Status


def product_request_create(
    *, creator_id: int, product_id: int, variant_id: int | None = None, note: str
) -> ProductRequest:
    creator = Creator.objects.filter(pk=creator_id, status=Creator.Status.ACTIVE).first()
    if creator is None:
        raise ApplicationError("Only active creators can ask for samples.", code="not_active")
    product = Product.objects.filter(pk=product_id, active=True).first()
    if product is None:
        raise ApplicationError(
            "This product is not on sale.",
            code="invalid",
            fields={"product": ["Choose a product on sale."]},
        )
    variant = None
    if variant_id:
        variant = Variant.objects.filter(pk=variant_id, product=product).first()
        if variant is None:
            raise ApplicationError(
                "That option is not one of this product's.", code="invalid",
                fields={"variant": ["Choose one of the product's options."]},
            )  # fmt: skip
    open_count = ProductRequest.objects.filter(creator=creator, status=Status.REQUESTED).count()
    if open_count >= settings.CREATOR_SAMPLE_MAX_OPEN:
        raise ApplicationError(
            f"You have {open_count} requests waiting; ask again once the shop has answered.",
            code="too_many_open",
        )
    request = ProductRequest(creator=creator, product=product, variant=variant,
                             note=(note or "").strip())  # fmt: skip
    full_clean(request, validate_constraints=False)
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:
        raise ApplicationError(
            "You have asked for this product already.", code="already_requested",
            fields={"product": ["You have asked for this product already."]},
        ) from None  # fmt: skip
    return request


def product_request_decide(
    *, request_id: int, approve: bool, actor, note: str = ""
) -> ProductRequest:
    note = (note or "").strip()
    if not approve and not note:
        raise ApplicationError(
            "Say why the request is declined (the creator sees it).", code="invalid",
            fields={"decision_note": ["Say why."]},
        )  # fmt: skip
    with transaction.atomic():
        request = ProductRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None:
            raise ApplicationError(
                f"Product request #{request_id} does not exist.", code="not_found"
            )
        if request.status != Status.REQUESTED:
            raise ApplicationError(
                f"Request #{request.pk} was already {request.get_status_display().lower()}.",
                code="invalid_transition",
            )
        request.status = Status.APPROVED if approve else Status.DECLINED
        request.decided_by = actor
        request.decided_at = timezone.now()
        request.decision_note = note
        request.save()
    return request
