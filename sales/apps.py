from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"

    def ready(self):
        from sales import checks  # noqa: F401 - registers the deploy checks
