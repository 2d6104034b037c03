"""Catalog managers may edit what a link preview's card shows (its title, description and
image, kept apart from what was scraped)."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_roles_sales"),
        ("previews", "0002_merchant_card_overrides"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
