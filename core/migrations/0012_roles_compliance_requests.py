"""Give the Owner role Shopify's compliance requests (view, process again, download exports)."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0011_roles_creator_portal"),
        ("integrations", "0002_shopify_compliance_requests"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
