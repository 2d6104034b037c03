"""The creator portal's console: Owner reviews applications, invites, decides custom code
requests and publishes content licences; Catalog managers read them; Moderators read the
content licences uploads accepted."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0010_roles_attribution"),
        ("creators", "0003_portal_accounts_applications_invitations_licences"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
