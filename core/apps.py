from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting pieces every app uses: errors, jobs, roles, health and the API shape."""

    name = "core"

    def ready(self):
        from core import checks  # noqa: F401 - registers the deploy checks
