"""What creators tell apps above them, which they must not import (see ARCHITECTURE.md)."""

from django.dispatch import Signal

# Sent after commit when a creator's details (affiliate code, status) may have changed.
# Arguments: creator_id.
creator_changed = Signal()
