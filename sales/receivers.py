"""What sales does when an app below it says something happened."""


# --- creator portal (issue 15) ---
def creator_erased(sender, creator_id, **kwargs):
    """Inside the erasure's transaction: the creator's payout details are wiped. Payouts keep
    the copy they were sent to and tax forms are kept (both are the merchant's accounting and
    tax records)."""
    from sales.payouts import payout_details_erase

    payout_details_erase(creator_id=creator_id)


# --- end creator portal ---
