"""A posting in one round trip (see sales/ledger.py), and its balance checked once.

**`sales_ledger_post`**
The function does what `sales.ledger._post_python` does:
1. a key already posted returns that transaction (created = false), writing nothing;
2. accounts missing so far are made (before any account is locked, so that two postings
   making and locking accounts cannot wait for each other);
3. each account is moved by its legs in one `UPDATE`, accounts in id order: the UPDATE is the
   lock (concurrent postings on an account serialise, in a fixed order, so never deadlock)
   and reads the balance it moves, so nothing is read that could change before it is
   written;
4. an account that may not go below zero and would (at any of its legs) is reported
   (problem_account, its balance before that leg, the amount): what was moved is moved back,
   under the same locks, and nothing is written;
5. the transaction row is inserted (`ON CONFLICT (idempotency_key) DO NOTHING`: a posting of
   the same key that committed meanwhile wins; this one moves back what it moved and returns
   it), then its entries with their balances before and after and versions.
The triggers of `0003_ledger_triggers` check the result as before (balanced per currency at
commit, an entry's currency is its account's, append-only), and the CHECK constraints too.

**The balance check, once per transaction.** `sales_ledger_check_balanced` (the deferred
constraint trigger on each entry) used to sum a transaction's entries once per entry. It now
sums them once, at the first of its entries, and remembers, until the database transaction
ends, that this transaction balanced with entries up to that entry's id: its later entries
skip the sum; an entry added after that check (a larger id, e.g. after `SET CONSTRAINTS ALL
IMMEDIATE`) is checked again with all the others, and the next database transaction remembers
nothing.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION sales_ledger_post(
  p_key text, p_kind text, p_memo text, p_occurred timestamptz, p_actor bigint,
  p_order bigint, p_refund bigint, p_commission bigint, p_reverses bigint, p_payout bigint,
  p_owner text[], p_creator bigint[], p_account_kind text[], p_currency text[], p_shard int[],
  p_side text[], p_amount bigint[]
) RETURNS TABLE (transaction_id bigint, created boolean, problem_account bigint,
                 problem_balance bigint, problem_amount bigint) AS $$
DECLARE
  n int := coalesce(array_length(p_side, 1), 0);
  v_txn bigint;
  v_id bigint;
  leg_account bigint[] := '{}';
  leg_delta bigint[] := '{}';
  ids bigint[];
  acc_delta bigint[] := '{}';
  acc_low bigint[] := '{}';
  acc_legs int[] := '{}';
  acc_start bigint[] := '{}';
  acc_version bigint[] := '{}';
  acc_currency text[] := '{}';
  done int := 0;
  e_account bigint[] := '{}';
  e_side text[] := '{}';
  e_amount bigint[] := '{}';
  e_currency text[] := '{}';
  e_before bigint[] := '{}';
  e_after bigint[] := '{}';
  e_version bigint[] := '{}';
  i int;
  j int;
  running bigint;
  version bigint;
  new_balance bigint;
  new_version bigint;
  cur text;
BEGIN
  SELECT t.id INTO v_txn FROM sales_ledgertransaction t WHERE t.idempotency_key = p_key;
  IF FOUND THEN
    RETURN QUERY SELECT v_txn, false, NULL::bigint, NULL::bigint, NULL::bigint;
    RETURN;
  END IF;

  -- 2. every leg's account, made when missing (no lock is taken here), and how the leg moves
  --    it: debit-normal accounts (receivable, commission expense) grow with debits
  FOR i IN 1..n LOOP
    -- literal owners, so that each lookup walks its partial unique index
    IF p_creator[i] IS NULL THEN
      SELECT a.id INTO v_id FROM sales_ledgeraccount a
       WHERE a.owner = 'merchant' AND a.kind = p_account_kind[i]
         AND a.currency = p_currency[i] AND a.shard = p_shard[i];
    ELSE
      SELECT a.id INTO v_id FROM sales_ledgeraccount a
       WHERE a.owner = 'creator' AND a.creator_id = p_creator[i]
         AND a.kind = p_account_kind[i] AND a.currency = p_currency[i];
    END IF;
    IF NOT FOUND THEN
      INSERT INTO sales_ledgeraccount
        (owner, creator_id, kind, currency, shard, balance, version, allow_negative, created_at)
      VALUES (p_owner[i], p_creator[i], p_account_kind[i], p_currency[i], p_shard[i], 0, 0,
              false, clock_timestamp())
      ON CONFLICT DO NOTHING
      RETURNING id INTO v_id;
      IF v_id IS NULL THEN
        SELECT a.id INTO STRICT v_id FROM sales_ledgeraccount a
         WHERE a.owner = p_owner[i] AND a.creator_id IS NOT DISTINCT FROM p_creator[i]
           AND a.kind = p_account_kind[i] AND a.currency = p_currency[i]
           AND a.shard = p_shard[i];
      END IF;
    END IF;
    leg_account := leg_account || v_id;
    leg_delta := leg_delta || CASE
      WHEN (p_side[i] = 'debit') = (p_account_kind[i] IN ('receivable', 'commission_expense'))
      THEN p_amount[i] ELSE -p_amount[i] END;
  END LOOP;

  -- 3. per account, in id order: its legs' total, and the lowest it goes on the way (the few
  --    ids sorted here, without a query)
  ids := '{}';
  FOR i IN 1..n LOOP
    CONTINUE WHEN leg_account[i] = ANY(ids);
    j := coalesce(array_length(ids, 1), 0);
    WHILE j > 0 AND ids[j] > leg_account[i] LOOP
      j := j - 1;
    END LOOP;
    ids := ids[1:j] || leg_account[i] || ids[j + 1:];
  END LOOP;
  FOR j IN 1..coalesce(array_length(ids, 1), 0) LOOP
    running := 0;
    acc_low := acc_low || 0::bigint;
    acc_legs := acc_legs || 0;
    FOR i IN 1..n LOOP
      CONTINUE WHEN leg_account[i] <> ids[j];
      running := running + leg_delta[i];
      acc_low[j] := least(acc_low[j], running);
      acc_legs[j] := acc_legs[j] + 1;
    END LOOP;
    acc_delta := acc_delta || running;
  END LOOP;

  -- 4. move each account, in id order: the UPDATE locks the row, refuses to take an account
  --    below zero where it may not go (then what was moved is moved back, and nothing else
  --    is written), and says where it started
  FOR j IN 1..coalesce(array_length(ids, 1), 0) LOOP
    UPDATE sales_ledgeraccount a
       SET balance = a.balance + acc_delta[j], version = a.version + acc_legs[j]
     WHERE a.id = ids[j] AND (a.allow_negative OR a.balance + acc_low[j] >= 0)
    RETURNING a.balance, a.version, a.currency INTO new_balance, new_version, cur;
    IF NOT FOUND THEN
      FOR i IN 1..done LOOP
        UPDATE sales_ledgeraccount a
           SET balance = a.balance - acc_delta[i], version = a.version - acc_legs[i]
         WHERE a.id = ids[i];
      END LOOP;
      SELECT a.balance INTO new_balance FROM sales_ledgeraccount a WHERE a.id = ids[j];
      running := new_balance;
      FOR i IN 1..n LOOP  -- the leg that would take it below zero
        CONTINUE WHEN leg_account[i] <> ids[j];
        running := running + leg_delta[i];
        IF running < 0 THEN
          RETURN QUERY SELECT NULL::bigint, false, ids[j], running - leg_delta[i], p_amount[i];
          RETURN;
        END IF;
      END LOOP;
    END IF;
    done := j;
    acc_start := acc_start || (new_balance - acc_delta[j]);
    acc_version := acc_version || (new_version - acc_legs[j]);
    acc_currency := acc_currency || cur;
  END LOOP;

  -- 5. the transaction (a key posted meanwhile wins: then what was moved is moved back)
  INSERT INTO sales_ledgertransaction
    (idempotency_key, kind, memo, occurred_at, created_at, actor_id, order_id, refund_id,
     commission_id, reverses_id, payout_id)
  VALUES (p_key, p_kind, p_memo, p_occurred, clock_timestamp(), p_actor, p_order, p_refund,
          p_commission, p_reverses, p_payout)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id INTO v_txn;
  IF v_txn IS NULL THEN
    FOR i IN 1..done LOOP
      UPDATE sales_ledgeraccount a
         SET balance = a.balance - acc_delta[i], version = a.version - acc_legs[i]
       WHERE a.id = ids[i];
    END LOOP;
    SELECT t.id INTO STRICT v_txn FROM sales_ledgertransaction t WHERE t.idempotency_key = p_key;
    RETURN QUERY SELECT v_txn, false, NULL::bigint, NULL::bigint, NULL::bigint;
    RETURN;
  END IF;

  -- 6. its entries, account by account, each with the balance before and after and the
  --    account's version after it
  FOR j IN 1..coalesce(array_length(ids, 1), 0) LOOP
    running := acc_start[j];
    version := acc_version[j];
    FOR i IN 1..n LOOP
      CONTINUE WHEN leg_account[i] <> ids[j];
      version := version + 1;
      e_account := e_account || ids[j];
      e_side := e_side || p_side[i];
      e_amount := e_amount || p_amount[i];
      e_currency := e_currency || acc_currency[j];
      e_before := e_before || running;
      running := running + leg_delta[i];
      e_after := e_after || running;
      e_version := e_version || version;
    END LOOP;
  END LOOP;
  INSERT INTO sales_ledgerentry
    (transaction_id, account_id, side, amount, currency, balance_before, balance_after,
     account_version)
  SELECT v_txn, u.account, u.side, u.amount, u.currency, u.before, u.after, u.version
    FROM unnest(e_account, e_side, e_amount, e_currency, e_before, e_after, e_version)
         AS u(account, side, amount, currency, before, after, version);

  RETURN QUERY SELECT v_txn, true, NULL::bigint, NULL::bigint, NULL::bigint;
END $$ LANGUAGE plpgsql;
"""

CHECK_ONCE = """
CREATE OR REPLACE FUNCTION sales_ledger_check_balanced() RETURNS trigger AS $$
DECLARE
  r record;
  checked text := coalesce(current_setting('sales.ledger_balanced', true), '');
  last_id bigint;
BEGIN
  IF split_part(checked, ':', 1) = NEW.transaction_id::text
     AND NEW.id <= split_part(checked, ':', 2)::bigint THEN
    RETURN NULL;  -- checked with this entry in it, in this database transaction
  END IF;
  FOR r IN SELECT e.currency,
                  SUM(CASE WHEN e.side = 'debit' THEN e.amount ELSE -e.amount END) AS diff,
                  max(max(e.id)) OVER () AS max_id
             FROM sales_ledgerentry e WHERE e.transaction_id = NEW.transaction_id
            GROUP BY e.currency LOOP
    IF r.diff <> 0 THEN
      RAISE EXCEPTION 'ledger transaction % does not balance in %: debits - credits = %',
        NEW.transaction_id, r.currency, r.diff USING ERRCODE = '23514';
    END IF;
    last_id := r.max_id;
  END LOOP;
  PERFORM set_config('sales.ledger_balanced', NEW.transaction_id::text || ':' || last_id, true);
  RETURN NULL;
END $$ LANGUAGE plpgsql;
"""

CHECK_EACH = """
CREATE OR REPLACE FUNCTION sales_ledger_check_balanced() RETURNS trigger AS $$
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
"""

BACKWARD = """
DROP FUNCTION IF EXISTS sales_ledger_post(text, text, text, timestamptz, bigint, bigint, bigint,
  bigint, bigint, bigint, text[], bigint[], text[], text[], int[], text[], bigint[]);
"""


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("sales", "0004_payouts_reconciliation_ledger_shards")]

    operations = [
        migrations.RunPython(_run(FORWARD), _run(BACKWARD)),
        migrations.RunPython(_run(CHECK_ONCE), _run(CHECK_EACH)),
    ]
