"""Owner and Finance read the dashboards (the console's home, per link, creator, content and
product analytics): they show revenue and commission."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0014_roles_tax_forms"),
        ("analytics", "0001_rollups"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
