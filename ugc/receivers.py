"""What UGC does when a lower app tells it something (wired in ugc/apps.py)."""

from ugc.services.portal import ugc_creator_erase


def creator_erased(sender, creator_id, **kwargs):
    """Inside the erasure's transaction: the creator's content goes with them."""
    ugc_creator_erase(creator_id=creator_id)
