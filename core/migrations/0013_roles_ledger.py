"""Owner and Finance see the commission ledger, balances and payouts, approve payout runs
(never their own), review held commissions, adjust balances and reconcile statements; no
other role sees them."""

from django.db import migrations

from core.roles import migrate_roles


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0012_roles_compliance_requests"),
        ("sales", "0007_ledger_entry_currency_by_foreign_key"),
    ]

    operations = [migrations.RunPython(migrate_roles, migrations.RunPython.noop)]
