"""Give the roles their permissions on connections and catalog sync (integrations app)."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0008_roles_catalog_manager_edits_preview_cards"),
        ("integrations", "0001_connections_and_sync"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
