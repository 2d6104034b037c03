"""Owner and Catalog manager read the audit trail of the allowed destination domains."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_roles_ugc"),
        ("links", "0004_allowed_domain_ports_and_audit"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
