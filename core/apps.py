from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting pieces every app uses: errors, jobs, roles, health and the API shape."""

    name = "core"

    def ready(self):
        from core import checks  # noqa: F401 - registers the deploy checks
        from core.admin_base import use_unfold_for_third_party_admins

        # Every app's admin module is imported by now (django.contrib.admin's ready() runs
        # first); auth's, DRF's and django-axes' pages move onto Unfold's classes.
        use_unfold_for_third_party_admins()
