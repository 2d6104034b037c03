"""Benchmark of stock reservations: 200 concurrent buyers for the last 50 units of a variant.

Production settings on PostgreSQL. Each buyer is a thread with its own database connection
that calls `reservation_create` (insert the reservation, then the conditional UPDATE of the
variant's reserved units) and, if it got the units, `reservation_commit` (reserved ->
committed), the way a paid checkout does. All buyers are released together by a barrier;
PostgreSQL's `max_connections` (100 here, shared) caps how many connections are open at once
(`BENCH_INVENTORY_CONNECTIONS`, default 40), so buyers queue for a connection slot.

The floor, measured in the same run with the same threads and slots: each buyer runs only
the bare conditional `UPDATE ... SET stock_reserved = stock_reserved + 1 WHERE on_hand >=
reserved + committed + 1` (no reservation row, no audit row, no commit).

Three rounds each, medians. Exactly 50 buyers must succeed and no unit may be oversold
(committed above on hand, or any count negative); the exit code is 1 otherwise. The last line
printed is one JSON object.
"""

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUYERS = int(os.environ.get("BENCH_INVENTORY_BUYERS", "200"))
UNITS = int(os.environ.get("BENCH_INVENTORY_UNITS", "50"))
ROUNDS = int(os.environ.get("BENCH_INVENTORY_ROUNDS", "3"))
SLOTS = int(os.environ.get("BENCH_INVENTORY_CONNECTIONS", "40"))
ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-that-is-long-enough-to-pass-the-checks-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PUBLIC_BASE_URL": "https://shop.example.com",
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shoploop_bench_inventory"
    ),
    "REDIS_URL": "",
    "CELERY_BROKER_URL": "",
    "CELERY_TASK_ALWAYS_EAGER": "true",
    "CONN_MAX_AGE": "0",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
}


def create_database():
    import psycopg

    name = ENV["DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup():
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    create_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from catalog import services

    product = services.product_create(title="Bench hoodie")
    return services.variant_create(product=product, sku="BENCH-1", price="10.00",
                                   currency="USD", stock_on_hand=UNITS)  # fmt: skip


def reset(variant_id: int) -> None:
    from catalog.models import Variant
    from sales.models import Reservation

    Reservation.objects.all().delete()
    Variant.objects.filter(pk=variant_id).update(
        stock_on_hand=UNITS, stock_reserved=0, stock_committed=0
    )


def race(work) -> tuple[list, float]:
    """Run `work(i)` for every buyer, released together, at most SLOTS connections open."""
    from django.db import connections

    barrier = threading.Barrier(BUYERS + 1)
    slots = threading.Semaphore(SLOTS)
    results = [None] * BUYERS

    def buyer(i):
        barrier.wait()
        with slots:
            try:
                results[i] = work(i)
            except Exception as exc:  # noqa: BLE001 - counted below
                results[i] = exc
            finally:
                connections.close_all()

    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(BUYERS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def round_services(variant_id: int, n: int) -> dict:
    from core.errors import ApplicationError
    from sales import services

    def work(i):
        try:
            reservation = services.reservation_create(variant_id=variant_id, quantity=1,
                                                      key=f"bench-{n}-{i}")  # fmt: skip
        except ApplicationError as exc:
            return exc.code
        services.reservation_commit(reservation_id=reservation.pk)
        return "committed"

    reset(variant_id)
    results, elapsed = race(work)
    errors = [r for r in results if isinstance(r, Exception)]
    return {"seconds": elapsed, "succeeded": results.count("committed"),
            "refused": results.count("out_of_stock"), "errors": len(errors),
            "first_error": repr(errors[0]) if errors else ""}  # fmt: skip


def round_floor(variant_id: int) -> dict:
    from django.db.models import F

    from catalog.models import Variant

    def work(i):
        return Variant.objects.filter(
            pk=variant_id, stock_on_hand__gte=F("stock_reserved") + F("stock_committed") + 1
        ).update(stock_reserved=F("stock_reserved") + 1)

    reset(variant_id)
    results, elapsed = race(work)
    return {"seconds": elapsed, "succeeded": sum(r == 1 for r in results)}


def oversold(variant_id: int) -> int:
    from catalog.models import Variant

    v = Variant.objects.get(pk=variant_id)
    held = v.stock_reserved + v.stock_committed
    negative = any(x < 0 for x in (v.stock_on_hand, v.stock_reserved, v.stock_committed))
    return max(0, held - v.stock_on_hand) + (1 if negative else 0)


def main() -> int:
    variant = setup()
    rounds, floors, problems = [], [], []
    for n in range(ROUNDS):
        floor = round_floor(variant.pk)
        floors.append(BUYERS / floor["seconds"])
        result = round_services(variant.pk, n)
        result["oversold"] = oversold(variant.pk)
        rounds.append(result)
        rate = BUYERS / result["seconds"]
        print(f"round {n + 1}: {BUYERS} buyers, {result['succeeded']} committed, "
              f"{result['refused']} refused, {result['errors']} errors, oversold "
              f"{result['oversold']}; {rate:.0f} reservations/s (floor {floors[-1]:.0f}/s)",
              flush=True)  # fmt: skip
        if result["succeeded"] != UNITS:
            problems.append(f"round {n + 1}: {result['succeeded']} succeeded, not {UNITS}")
        if result["oversold"] or result["errors"]:
            problems.append(f"round {n + 1}: oversold {result['oversold']}, errors "
                            f"{result['errors']} {result['first_error']}")  # fmt: skip
        if floor["succeeded"] != UNITS:
            problems.append(f"floor round {n + 1}: {floor['succeeded']} succeeded")
    rate = statistics.median(BUYERS / r["seconds"] for r in rounds)
    floor_rate = statistics.median(floors)
    for problem in problems:
        print("PROBLEM:", problem)
    print(json.dumps({
        "bench": "inventory", "buyers": BUYERS, "units": UNITS, "connections": SLOTS,
        "succeeded": min(r["succeeded"] for r in rounds),
        "oversold": max(r["oversold"] for r in rounds),
        "reservations_per_s": round(rate, 1), "floor_per_s": round(floor_rate, 1),
        "ratio": round(rate / floor_rate, 2), "rounds": ROUNDS,
    }))  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
