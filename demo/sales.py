"""Demo sales channels for `seed_demo`: one per provider, with demo secrets that `make run`
prints, so `manage.py demo_orders` (or a tool of your own) can sign deliveries to them.
The Stripe one runs the Buy button (through the test-mode gateway when it is on)."""

import base64

from sales import services
from sales.models import SalesChannel
from testservers.tiktok_shop import DEMO as TIKTOK_DEMO_APP

DEMO_SHOP_DOMAIN = "shoploop-demo.myshopify.com"
# The demo TikTok Shop app: the one `python -m testservers tiktok_shop` serves (its OAuth,
# products, orders and returns), so the demo channel's webhooks and API calls match it.
DEMO_TIKTOK = {
    "app_key": TIKTOK_DEMO_APP["app_key"],
    "shop_id": TIKTOK_DEMO_APP["shop_id"],
    "shop_cipher": TIKTOK_DEMO_APP["shop_cipher"],
    "access_token": TIKTOK_DEMO_APP["access_token"],
}
DEMO_SECRETS = {
    "shopify": "demo-shopify-client-secret",
    "stripe": "whsec_demo_stripe_endpoint_secret",
    "tiktok_shop": TIKTOK_DEMO_APP["app_secret"],
    "standard": "whsec_" + base64.b64encode(b"shoploop-demo-standard-key").decode(),
}
DEMO_CHANNELS = [
    ("shopify", "Demo Shopify store", {"shop_domain": DEMO_SHOP_DOMAIN}),
    ("stripe", "Demo Stripe checkout", {"checkout": True}),
    ("tiktok_shop", "Demo TikTok Shop", DEMO_TIKTOK),
    ("standard", "Demo custom checkout", {}),
]


def seed_sales() -> list[SalesChannel]:
    """The demo channels (made once; a second run changes nothing)."""
    channels = []
    for provider, name, fields in DEMO_CHANNELS:
        channel = SalesChannel.objects.filter(provider=provider, name=name).first()
        if channel is None:
            fields = dict(fields)
            if fields.get("checkout") and SalesChannel.objects.filter(checkout=True).exists():
                fields["checkout"] = False  # the merchant already chose a checkout
            channel = services.channel_create(provider=provider, name=name,
                                              secret=DEMO_SECRETS[provider], **fields)  # fmt: skip
        channels.append(channel)
    return channels
