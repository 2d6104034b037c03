"""Every write to creators."""

from django.db import transaction

from core.errors import full_clean
from creators.models import Creator
from creators.signals import creator_changed


def creator_create(
    *, name: str, handle: str, affiliate_code: str, email: str = "", status=Creator.Status.ACTIVE
) -> Creator:
    with transaction.atomic():
        creator = Creator(
            name=name, handle=handle, affiliate_code=affiliate_code, email=email, status=status
        )
        full_clean(creator)
        creator.save()
    return creator


def creator_save(*, creator: Creator) -> Creator:
    with transaction.atomic():
        full_clean(creator)
        creator.save()
        transaction.on_commit(lambda: creator_changed.send(sender=Creator, creator_id=creator.pk))
    return creator
