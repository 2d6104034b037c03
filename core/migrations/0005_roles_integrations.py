"""Give the roles their permissions on connections and catalog sync (integrations app)."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_roles_ugc"),
        ("integrations", "0001_connections_and_sync"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
