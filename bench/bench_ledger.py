"""Benchmark of the commission ledger: 8 concurrent writers, 1,000 creators, three currencies.

Production settings on PostgreSQL. Each writer is a thread with its own database connection
that posts, for at least `BENCH_LEDGER_SECONDS` (10), a mix of the transactions the ledger
lives on, each through `sales.ledger.post` (one balanced transaction, its idempotency key
inserted first, the accounts locked in id order, the database's triggers checking the
balance at commit):

- a commission earned (60%): the merchant's commission expense -> a creator's `pending`;
- a refund taking part of it back (20%): `pending` -> commission expense;
- a payout starting (20%): `available` -> `in_payout`.

Creators and currencies (USD, JPY, KWD) are drawn at random; every creator starts with
money in `pending` and `available` so that no posting is refused for want of it. The merchant's
expense account in each currency is touched by 80% of the postings: the hot row.

The floor, measured in the same run by the same threads: each commits the smallest write
transaction there is (one row into a scratch table), which says what this machine's
PostgreSQL can commit at all with 8 writers. Then `ledger_verify` checks the result.

Prints postings per second, p50 and p99 per posting, and the floor; the last line is one JSON
object. Target: at least 2,000 balanced transactions a second with `verify_ok` true; the exit
code is 1 when the ledger does not verify or a posting failed (a missed target is reported,
with the floor beside it, not an error). `BENCH_DATABASE_URL` names the database, which is
dropped and made again.
"""

import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRITERS = int(os.environ.get("BENCH_LEDGER_WRITERS", "8"))
CREATORS = int(os.environ.get("BENCH_LEDGER_CREATORS", "1000"))
SECONDS = float(os.environ.get("BENCH_LEDGER_SECONDS", "10"))
FLOOR_SECONDS = float(os.environ.get("BENCH_LEDGER_FLOOR_SECONDS", "4"))
CURRENCIES = ("USD", "JPY", "KWD")
TARGET = 2000
ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-that-is-long-enough-to-pass-the-checks-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PUBLIC_BASE_URL": "https://shop.example.com",
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shoploop_bench_ledger"
    ),
    "REDIS_URL": "",
    "CELERY_BROKER_URL": "",
    "CELERY_TASK_ALWAYS_EAGER": "true",
    "CONN_MAX_AGE": "600",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
}


def create_database():
    import psycopg

    name = ENV["DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup() -> list[int]:
    """A fresh database: migrated, the creators, their opening balances."""
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    create_database()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from creators.models import Creator
    from sales import ledger
    from sales.ledger_models import LedgerAccount

    Creator.objects.bulk_create(
        Creator(name=f"Creator {n}", handle=f"bench-{n}", affiliate_code=f"BENCH{n}")
        for n in range(CREATORS)
    )
    ids = list(Creator.objects.order_by("pk").values_list("pk", flat=True))
    Kind = LedgerAccount.Kind
    shards = max(1, settings.LEDGER_MERCHANT_SHARDS)
    opening = 0
    for currency in CURRENCIES:
        expense = ledger.merchant_account(Kind.COMMISSION_EXPENSE, currency)
        # Each creator's opening commission meets the merchant on the creator's own shard
        # (see ledger.shard_for), as real commissions do: one transaction per shard.
        for shard in range(shards):
            batch = [creator_id for creator_id in ids if creator_id % shards == shard]
            if not batch:
                continue
            legs = [ledger.debit(expense, 2 * 10_000_000 * len(batch))]
            for creator_id in batch:
                legs.append(
                    ledger.credit(
                        ledger.creator_account(creator_id, Kind.PENDING, currency), 10_000_000
                    )
                )
                legs.append(
                    ledger.credit(
                        ledger.creator_account(creator_id, Kind.AVAILABLE, currency), 10_000_000
                    )
                )
            ledger.post(idempotency_key=f"opening:{currency}:{shard}", kind="adjustment",
                        legs=legs, memo="Opening balances for the benchmark")  # fmt: skip
            opening += 1
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, n bigint)")
        cursor.execute("VACUUM ANALYZE")
    return ids, opening


def run_writers(work, seconds: float) -> tuple[list[list[float]], list[int], float]:
    """Run `work(rng, i)` in a loop in every writer for `seconds`; released together."""
    from django.db import connections

    barrier = threading.Barrier(WRITERS + 1)
    timings: list[list[float]] = [[] for _ in range(WRITERS)]
    failures = [0] * WRITERS
    errors: list[str] = []
    stop = threading.Event()

    def writer(index):
        rng = random.Random(index)  # noqa: S311 - a workload, not a secret
        n = 0
        try:
            work(rng, index, -1)  # open the connection before the clock starts
            barrier.wait()
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    work(rng, index, n)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    failures[index] += 1
                    if len(errors) < 3:
                        errors.append(repr(exc))
                    continue
                finally:
                    n += 1
                timings[index].append(time.perf_counter() - started)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for error in errors:
        print("error:", error, flush=True)
    return timings, failures, elapsed


def floor_work(rng, index, n):
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_floor (n) VALUES (%s)", [n])


def ledger_work(creators: list[int]):
    from sales import ledger
    from sales.ledger_models import LedgerAccount

    Kind = LedgerAccount.Kind

    def work(rng, index, n):
        if n < 0:
            from django.db import connection

            connection.ensure_connection()
            return
        currency = CURRENCIES[rng.randrange(3)]
        creator = creators[rng.randrange(len(creators))]
        expense = ledger.merchant_account(Kind.COMMISSION_EXPENSE, currency)
        pick = rng.random()
        if pick < 0.6:
            amount = rng.randint(100, 5000)
            kind = "commission"
            legs = [ledger.debit(expense, amount),
                    ledger.credit(ledger.creator_account(creator, Kind.PENDING, currency),
                                  amount)]  # fmt: skip
        elif pick < 0.8:
            amount = rng.randint(50, 2000)
            kind = "reversal"
            legs = [ledger.debit(ledger.creator_account(creator, Kind.PENDING, currency), amount),
                    ledger.credit(expense, amount)]  # fmt: skip
        else:
            amount = rng.randint(100, 5000)
            kind = "payout"
            legs = ledger.move(
                amount,
                source=ledger.creator_account(creator, Kind.AVAILABLE, currency),
                target=ledger.creator_account(creator, Kind.IN_PAYOUT, currency),
            )
        ledger.post(idempotency_key=f"bench:{index}:{n}", kind=kind, legs=legs)

    return work


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    creators, opening = setup()
    print(f"{len(creators)} creators, {len(CURRENCIES)} currencies, {WRITERS} writers",
          flush=True)  # fmt: skip

    timings, failures, elapsed = run_writers(floor_work, FLOOR_SECONDS)
    floor = sum(len(t) for t in timings) / elapsed
    print(f"floor: {floor:.0f} one-row commits/s ({WRITERS} writers, {elapsed:.1f} s)", flush=True)

    timings, failures, elapsed = run_writers(ledger_work(creators), SECONDS)
    all_times = [t for per_writer in timings for t in per_writer]
    posted = len(all_times)
    rate = posted / elapsed
    p50, p99 = percentile(all_times, 0.5) * 1000, percentile(all_times, 0.99) * 1000
    print(f"ledger: {posted} transactions in {elapsed:.1f} s = {rate:.0f}/s "
          f"(ratio to the floor {rate / floor:.2f}); p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
          f"{sum(failures)} failed", flush=True)  # fmt: skip

    from sales import ledger

    started = time.perf_counter()
    result = ledger.verify()
    verify_seconds = time.perf_counter() - started
    expected = posted + opening
    print(f"ledger_verify: ok={result['ok']} transactions={result['transactions']} "
          f"(expected {expected}) entries={result['entries']} accounts={result['accounts']} "
          f"currencies={result['currencies']} in {verify_seconds:.1f} s", flush=True)  # fmt: skip
    for problem in result["problems"][:10]:
        print("PROBLEM:", problem)
    ok = result["ok"] and result["transactions"] == expected and not sum(failures)
    print(json.dumps({
        "bench": "ledger", "transactions": posted, "transactions_per_s": round(rate, 1),
        "p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "writers": WRITERS,
        "creators": len(creators), "currencies": len(CURRENCIES), "seconds": round(elapsed, 1),
        "failed": sum(failures), "verify_ok": bool(ok), "floor_per_s": round(floor, 1),
        "ratio": round(rate / floor, 2), "target_per_s": TARGET,
        "per_writer": [len(t) for t in timings],
        "mean_ms": round(statistics.fmean(all_times) * 1000, 2) if all_times else None,
    }))  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
