from django.apps import AppConfig


class LinksConfig(AppConfig):
    name = "links"

    def ready(self):
        from catalog.signals import products_changed
        from creators.signals import creator_changed
        from links import receivers

        products_changed.connect(receivers.products_changed, dispatch_uid="links.products")
        creator_changed.connect(receivers.creator_changed, dispatch_uid="links.creator")
        # --- creator portal (issue 15) ---
        from creators.signals import creator_erased

        creator_erased.connect(receivers.creator_erased, dispatch_uid="links.creator_erased")
        # --- end creator portal ---
