"""Moderators and Owners curate UGC collections; Catalog managers and Finance see them."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0018_roles_ugc_publishing_calendar"),
        ("ugc", "0010_collections"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
