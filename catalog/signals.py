"""What the catalog tells apps above it, which it must not import (see ARCHITECTURE.md)."""

from django.dispatch import Signal

# Sent after commit when products' pages, slugs, prices or availability may have changed.
# Arguments: product_ids (a list of ids).
products_changed = Signal()
