import factory

from sales.models import Provider, SalesChannel
from tests.catalog.factories import ProductFactory, VariantFactory  # noqa: F401

SECRETS = {
    Provider.SHOPIFY: "shpss_test_client_secret_123",
    Provider.STRIPE: "whsec_test_stripe_secret_123",
    Provider.TIKTOK_SHOP: "tts_test_app_secret_123",
    Provider.STANDARD: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


class SalesChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesChannel

    provider = Provider.SHOPIFY
    name = factory.Sequence(lambda n: f"Channel {n}")
    currency = "USD"
    secret = factory.LazyAttribute(lambda o: SECRETS[o.provider])
    app_key = factory.LazyAttribute(lambda o: "tts_app_key" if o.provider == "tiktok_shop" else "")
    shop_id = factory.LazyAttribute(lambda o: "7494049642642441621"
                                    if o.provider == "tiktok_shop" else "")  # fmt: skip
    shop_cipher = factory.LazyAttribute(lambda o: "ROW_cipher"
                                        if o.provider == "tiktok_shop" else "")  # fmt: skip
    access_token = factory.LazyAttribute(lambda o: "TTP_test_access_token"
                                         if o.provider == "tiktok_shop" else "")  # fmt: skip
