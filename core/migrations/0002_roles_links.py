"""Give the roles their permissions on short links, clicks and creators."""

from django.db import migrations


def sync(apps, schema_editor):
    from core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_roles"),
        ("creators", "0001_initial"),
        ("links", "0001_initial"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
