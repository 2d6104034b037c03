from django.apps import AppConfig


class UgcConfig(AppConfig):
    name = "ugc"
    verbose_name = "UGC"

    def ready(self):
        # --- creator portal (issue 15) ---
        from creators.signals import creator_erased
        from ugc import receivers

        creator_erased.connect(receivers.creator_erased, dispatch_uid="ugc.creator_erased")
        # --- end creator portal ---
