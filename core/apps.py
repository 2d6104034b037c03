from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting pieces every app uses: errors, jobs, roles, health and the API shape."""

    name = "core"
