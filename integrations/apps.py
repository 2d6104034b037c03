from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from catalog.signals import products_changed
        from integrations import receivers

        products_changed.connect(receivers.products_changed, dispatch_uid="integrations.products")
