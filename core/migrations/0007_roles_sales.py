"""Give the roles their permissions on sales: Owner runs channels and orders, Finance reads
orders, refunds and deliveries (and replays them)."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_buffer_watermarks"),
        ("sales", "0001_orders_webhooks_reservations"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
