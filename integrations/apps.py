from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from catalog.signals import products_changed
        from integrations import channel_credentials, checks, receivers  # noqa: F401 (checks)
        from sales import credentials

        products_changed.connect(receivers.products_changed, dispatch_uid="integrations.products")
        # Parcels go back to the channel the order came from (issue 19).
        from sales.signals import fulfilment_created

        fulfilment_created.connect(
            receivers.fulfilment_created, dispatch_uid="integrations.fulfilment_created"
        )
        # TikTok Shop sales channels re-fetch orders with the shop's connection's token.
        credentials.register("tiktok_shop", channel_credentials.tiktok_shop_credentials)
