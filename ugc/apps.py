from django.apps import AppConfig


class UgcConfig(AppConfig):
    name = "ugc"
