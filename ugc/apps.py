from django.apps import AppConfig


class UgcConfig(AppConfig):
    name = "ugc"
    verbose_name = "UGC"
