"""The merchant roles: Django groups with least-privilege permissions.

The definition lives here; data migrations call `sync_roles` so that every database gets
the groups, and apps that add models add a migration that calls it again.
"""

# Role -> {"app_label.model": actions}. Actions are Django's add, change, delete, view.
ALL = ("add", "change", "delete", "view")
VIEW = ("view",)

ROLES = {
    "Owner": {
        "catalog.product": ALL,
        "catalog.variant": ALL,
        "catalog.productimage": ALL,
        "auth.user": ALL,
        "auth.group": VIEW,
        "authtoken.token": ALL,
        "authtoken.tokenproxy": ALL,
    },
    "Catalog manager": {
        "catalog.product": ALL,
        "catalog.variant": ALL,
        "catalog.productimage": ALL,
    },
    "Moderator": {
        "catalog.product": VIEW,
        "catalog.variant": VIEW,
        "catalog.productimage": VIEW,
    },
    "Finance": {
        "catalog.product": VIEW,
        "catalog.variant": VIEW,
    },
}


def sync_roles(apps) -> None:
    """Make each role's group hold exactly its permissions (idempotent)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally made after migrate; make them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for model_label, actions in grants.items():
            app_label, model = model_label.split(".")
            codenames = [f"{action}_{model}" for action in actions]
            found = list(
                Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )
            missing = set(codenames) - {p.codename for p in found}
            if missing:
                raise LookupError(f"role {role!r}: no permission {sorted(missing)} in {app_label}")
            wanted.extend(found)
        group.permissions.set(wanted)
