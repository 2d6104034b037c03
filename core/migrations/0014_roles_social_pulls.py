"""Owner and Moderator set up social sources and see rights requests and pulled posts
(issue 18)."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0013_roles_ledger"),
        ("ugc", "0006_social_posts_and_rights_requests"),
        ("integrations", "0003_social_sources_and_pulled_posts"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
