"""What creators tell apps above them, which they must not import (see ARCHITECTURE.md)."""

from django.dispatch import Signal

# Sent after commit when a creator's details (affiliate code, status) may have changed.
# Arguments: creator_id.
creator_changed = Signal()

# --- creator portal (issue 15) ---
# Sent INSIDE the transaction of `creators.accounts.account_erase`, so that what receivers
# do (ugc: withdraw the creator's content; links: deactivate their links) commits or rolls
# back with the erasure. Receivers: `ugc.receivers.creator_erased` (wired in ugc/apps.py)
# and `links.receivers.creator_erased` (links/apps.py), `sales.receivers.creator_erased`
# (sales/apps.py: payout details wiped). Arguments: creator_id.
creator_erased = Signal()
# --- end creator portal ---
