"""Moderators and Owners schedule UGC publishing (the calendar); Catalog managers and
Finance see it."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0017_roles_fulfilment"),
        ("ugc", "0008_shop_the_look_placements_and_schedule"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
