"""Give the roles their permissions on UGC: Owner and Moderator moderate, others read."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_roles_previews"),
        ("ugc", "0001_initial"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
