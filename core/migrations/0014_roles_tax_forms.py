"""Owner and Finance, who see payout details, may also read (download) creators' tax forms;
no other role may."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0013_roles_ledger"),
        ("sales", "0010_tax_forms"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
