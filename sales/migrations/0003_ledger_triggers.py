"""What PostgreSQL itself guarantees about the ledger (see sales/ledger_models.py).

- A transaction's debits equal its credits in each currency, and it has entries: deferred
  constraint triggers, checked when the database transaction commits.
- An entry's currency is its account's.
- Entries and transactions are append-only: UPDATE and DELETE are refused.
On other databases (the embedded SQLite default) `sales/ledger.py` checks the same before it
writes; the tests run on PostgreSQL.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION sales_ledger_check_balanced() RETURNS trigger AS $$
DECLARE bad record;
BEGIN
  SELECT currency, SUM(CASE WHEN side = 'debit' THEN amount ELSE -amount END) AS diff
    INTO bad
    FROM sales_ledgerentry WHERE transaction_id = NEW.transaction_id
    GROUP BY currency
    HAVING SUM(CASE WHEN side = 'debit' THEN amount ELSE -amount END) <> 0
    LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in %: debits - credits = %',
      NEW.transaction_id, bad.currency, bad.diff USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER sales_ledgerentry_balanced
  AFTER INSERT ON sales_ledgerentry DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION sales_ledger_check_balanced();

CREATE FUNCTION sales_ledger_check_has_entries() RETURNS trigger AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM sales_ledgerentry WHERE transaction_id = NEW.id) THEN
    RAISE EXCEPTION 'ledger transaction % has no entries', NEW.id USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER sales_ledgertransaction_has_entries
  AFTER INSERT ON sales_ledgertransaction DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION sales_ledger_check_has_entries();

CREATE FUNCTION sales_ledger_check_currency() RETURNS trigger AS $$
BEGIN
  IF NEW.currency IS DISTINCT FROM
     (SELECT currency FROM sales_ledgeraccount WHERE id = NEW.account_id) THEN
    RAISE EXCEPTION 'ledger entry in % on an account in another currency', NEW.currency
      USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER sales_ledgerentry_currency
  BEFORE INSERT ON sales_ledgerentry
  FOR EACH ROW EXECUTE FUNCTION sales_ledger_check_currency();

CREATE FUNCTION sales_ledger_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: post a reversing transaction instead', TG_TABLE_NAME
    USING ERRCODE = '23514';
END $$ LANGUAGE plpgsql;

CREATE TRIGGER sales_ledgerentry_append_only
  BEFORE UPDATE OR DELETE ON sales_ledgerentry
  FOR EACH ROW EXECUTE FUNCTION sales_ledger_append_only();

CREATE TRIGGER sales_ledgertransaction_append_only
  BEFORE UPDATE OR DELETE ON sales_ledgertransaction
  FOR EACH ROW EXECUTE FUNCTION sales_ledger_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS sales_ledgertransaction_append_only ON sales_ledgertransaction;
DROP TRIGGER IF EXISTS sales_ledgerentry_append_only ON sales_ledgerentry;
DROP TRIGGER IF EXISTS sales_ledgerentry_currency ON sales_ledgerentry;
DROP TRIGGER IF EXISTS sales_ledgertransaction_has_entries ON sales_ledgertransaction;
DROP TRIGGER IF EXISTS sales_ledgerentry_balanced ON sales_ledgerentry;
DROP FUNCTION IF EXISTS sales_ledger_append_only();
DROP FUNCTION IF EXISTS sales_ledger_check_currency();
DROP FUNCTION IF EXISTS sales_ledger_check_has_entries();
DROP FUNCTION IF EXISTS sales_ledger_check_balanced();
"""


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)  # no parameters: the SQL's % signs are its own

    return run


class Migration(migrations.Migration):
    dependencies = [("sales", "0002_ledger")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
