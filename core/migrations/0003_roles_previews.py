"""Give the roles their permissions on link previews."""

from django.db import migrations


def sync(apps, schema_editor):
    from core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_roles_links"),
        ("previews", "0001_initial"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
