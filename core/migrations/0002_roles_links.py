"""Give the roles their permissions on short links, clicks and creators."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_roles"),
        ("creators", "0001_initial"),
        ("links", "0001_initial"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
