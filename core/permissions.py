"""API permissions (kept apart from core.api: DRF imports them while it loads)."""

from rest_framework import permissions


class StaffModelPermissions(permissions.DjangoModelPermissions):
    """Staff users with the model permission their role grants (view for reads)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated and request.user.is_staff):
            return False
        return super().has_permission(request, view)
