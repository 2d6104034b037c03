"""Owner ships parcels (one, or a CSV), marks them delivered, sends them to the channel again,
reads stock alerts and lifts throttles; Finance reads parcels, alerts and throttles."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0016_roles_social_reviews_samples"),
        ("sales", "0011_fulfilments_and_stock_defence"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
