"""One module per destination: its mapping of a product, its rules, its batches."""


def destination_class(platform: str):
    from integrations.destinations.google import GoogleDestination
    from integrations.destinations.meta import MetaDestination
    from integrations.destinations.tiktok_shop import TikTokShopDestination

    return {
        "tiktok_shop": TikTokShopDestination,
        "meta": MetaDestination,
        "google": GoogleDestination,
    }[platform]
