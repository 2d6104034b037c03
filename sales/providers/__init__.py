"""One module per provider: signature verification on the raw bytes, parsing into the
normalised shapes of `base.py`, and the provider's API client (see each module)."""

from types import ModuleType

from sales.providers import shopify, standard, stripe, tiktok_shop

MODULES: dict[str, ModuleType] = {
    "shopify": shopify,
    "stripe": stripe,
    "tiktok_shop": tiktok_shop,
    "standard": standard,
}


def module_for(provider: str) -> ModuleType:
    return MODULES[provider]
