"""Conversions sent server to server: one module per destination (`tiktok.py`, `meta.py`),
each with `build(context) -> payload`, `send(destination, payload) -> str` and `takes_refunds`.
Hashing and normalisation rules live in `hashing.py`; the outbox and its job in
`attribution/services.py` and `attribution/tasks.py`. Add a destination by adding a module
and a `ConversionDestination.Kind`.
"""

from attribution.conversions import meta, tiktok

MODULES = {"tiktok": tiktok, "meta": meta}
