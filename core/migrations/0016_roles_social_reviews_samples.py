"""Owner and Moderator set up social sources, see rights requests and pulled posts, and
moderate on-site reviews; the Owner decides creators' product requests (issue 18)."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0015_roles_dashboards"),
        ("ugc", "0007_product_reviews"),
        ("integrations", "0003_social_sources_and_pulled_posts"),
        ("creators", "0004_product_requests"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
