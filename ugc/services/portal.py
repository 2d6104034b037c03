"""Content from the creator portal (issue 15): a creator's upload with the program's content
licence, the withdrawal of their consent, and their content when they erase their account.

An upload is the console's ingestion (`ugc_ingest`: sniffing, limits, duplicates, the
blocklist) with `source=portal` and the creator set, its product tags as mappings, and the
rights the licence grants, recorded with their proof (the licence version, the time, and a
keyed hash of the creator's network), all in one transaction: a refused file, an unknown
product or a licence that is not the current one stores nothing.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from catalog.models import Product
from core.errors import ApplicationError
from creators.models import ContentLicence, Creator, GroupMembership
from ugc.models import UGCItem, UGCRights
from ugc.services.ingest import ugc_ingest
from ugc.services.mapping import ugc_map_product
from ugc.services.moderation import _lock, _withdraw_media
from ugc.services.rights import ugc_rights_revoke

logger = logging.getLogger(__name__)

MAX_PRODUCTS = 5
WITHDRAWN_REASON = "The creator withdrew their consent in the portal."
ERASED_REASON = "The creator erased their account."


def _licence_for(creator_id: int, licence_id: int) -> ContentLicence:
    licence = ContentLicence.objects.select_related("program").filter(pk=licence_id).first()
    if (
        licence is None
        or not GroupMembership.objects.filter(
            creator_id=creator_id, program_id=licence.program_id, status="active"
        ).exists()
    ):
        raise ApplicationError(
            "Choose a program you are in.", code="invalid", fields={"program": "Not yours."}
        )
    newest = (
        ContentLicence.objects.filter(program_id=licence.program_id)
        .order_by("-version")
        .values_list("pk", flat=True)
        .first()
    )
    if newest != licence.pk:
        raise ApplicationError(
            "The content licence changed while you were reading it; read it again and accept.",
            code="licence_changed",
            fields={"accept_licence": "The licence changed."},
        )
    return licence


def ugc_portal_submit(
    *,
    creator_id: int,
    media_file,
    licence_id: int,
    accept_licence: bool,
    product_ids: list[int],
    caption: str = "",
    network_hash: str = "",
) -> UGCItem:
    """Take a creator's photo or video into the moderation queue, with its rights."""
    if not accept_licence:
        raise ApplicationError(
            "Accept the content licence to submit.",
            code="licence_required",
            fields={"accept_licence": "Accept the content licence to submit."},
        )
    product_ids = list(dict.fromkeys(int(pk) for pk in product_ids or []))
    if not product_ids:
        raise ApplicationError(
            "Tag at least one product.", fields={"products": "Choose 1 to 5 products."}
        )
    if len(product_ids) > MAX_PRODUCTS:
        raise ApplicationError(
            f"Tag at most {MAX_PRODUCTS} products.", fields={"products": "Choose 1 to 5."}
        )
    creator = Creator.objects.filter(pk=creator_id, status=Creator.Status.ACTIVE).first()
    if creator is None:
        raise ApplicationError(f"Creator #{creator_id} is not active.", code="not_found")
    licence = _licence_for(creator_id, licence_id)
    products = list(Product.objects.filter(pk__in=product_ids, active=True).order_by("pk"))
    if len(products) != len(product_ids):
        raise ApplicationError(
            "One of the products is not on sale any more.", fields={"products": "Unknown."}
        )
    now = timezone.now()
    proof = (
        f"Content licence v{licence.version} of {licence.program.name} (licence #{licence.pk}) "
        f"accepted in the creator portal by @{creator.handle} (creator #{creator.pk}) at "
        f"{now.isoformat()}; network (keyed hash) {network_hash or 'unknown'}. "
        f"Channels: {', '.join(licence.channels)}."
    )
    with transaction.atomic():
        item = ugc_ingest(
            source=UGCItem.Source.PORTAL,
            media_file=media_file,
            caption=(caption or "").strip()[:2200],
            author_handle=creator.handle,
            creator=creator,
            rights={
                "consent_method": UGCRights.ConsentMethod.CREATOR_AGREEMENT,
                "allowed_channels": list(licence.channels),
                "licence_type": f"{licence.licence_type} (licence v{licence.version})",
                "starts_at": now,
                "expires_at": now + timedelta(days=licence.duration_days)
                if licence.duration_days
                else None,
                "proof_text": proof,
            },
        )
        for product in products:
            ugc_map_product(item_id=item.pk, product=product)
    logger.info("ugc.portal_submitted", extra={"item_id": item.pk, "creator_id": creator_id})
    return item


def _creator_item(creator_id: int, item_id: int) -> UGCItem:
    item = UGCItem.objects.filter(pk=item_id, creator_id=creator_id).first()
    if item is None:
        raise ApplicationError(f"Item #{item_id} does not exist.", code="not_found")
    return item


def ugc_portal_withdraw(*, creator_id: int, item_id: int) -> UGCRights:
    """A creator withdraws consent for their item: its rights are revoked, so it leaves the
    feed at once (a published item is archived and its public copies deleted) and can never
    be published again."""
    item = _creator_item(creator_id, item_id)
    if not UGCRights.objects.filter(item=item).exists():
        raise ApplicationError("This item has no consent to withdraw.", code="no_rights")
    return ugc_rights_revoke(item_id=item.pk, actor=None, reason=WITHDRAWN_REASON)


def ugc_creator_erase(*, creator_id: int) -> int:
    """A creator erased their account: each of their items loses its rights (a published
    one is archived), its public copies, its private original and proof, its caption and
    author. Items queued for review are rejected automatically. Returns how many items."""
    done = 0
    ids = list(
        UGCItem.objects.filter(creator_id=creator_id).order_by("pk").values_list("pk", flat=True)
    )
    with transaction.atomic():
        for item_id in ids:
            rights = UGCRights.objects.filter(item_id=item_id).first()
            if rights is not None and rights.revoked_at is None:
                ugc_rights_revoke(item_id=item_id, actor=None, reason=ERASED_REASON)
            item = _lock(item_id)
            if item.status == UGCItem.Status.QUEUED:
                from ugc.services.moderation import _apply

                _apply(item, "auto_reject", actor=None, reason=ERASED_REASON)
            if item.media_status != UGCItem.MediaStatus.WITHDRAWN:
                _withdraw_media(item)
            original, proof = item.original.name, rights.proof_file.name if rights else ""
            storage = item.original.storage
            item.caption = ""
            item.author_handle = ""
            item.save()
            if rights is not None:
                UGCRights.objects.filter(pk=rights.pk).update(proof_text="", proof_url="")
            for name in (original, proof):
                if name:
                    transaction.on_commit(lambda name=name, s=storage: s.delete(name))
            done += 1
    return done
