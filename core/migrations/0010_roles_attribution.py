"""Programs, rules, discount codes, attributions, the fraud review queue and the conversions
outbox: Owner runs them; Finance reads them and reviews held commissions; Catalog managers
read programs."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0009_roles_integrations"),
        ("creators", "0002_programs_groups_rules_codes"),
        ("attribution", "0002_attribution_links"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
