from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for `make run` and the browser tests: catalog, creators, links and UGC."""

    name = "demo"
