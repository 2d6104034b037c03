"""Benchmark of attribution and commissions: 100,000 orders against 10 million clicks.

Production settings on PostgreSQL (a database of its own). Generation, timed apart: 1,000
creators in one program (10 % of the base, one group), 2,000 links, 10,000,000 clicks over 30
days (5 % bots) and 100,000 paid orders of one or two lines, all written with COPY. Orders
carry: a creator's code (15 %), the click id of a random click (60 %), a cookie click (40 %),
nothing (10 %), so every precedence step runs.

Then every order goes through `attribution_decide` (the order locked, its touches looked up,
the policy applied, fraud signals checked, commissions posted to the ledger, the decision and
its revision written), one order at a time in each of `BENCH_ATTRIBUTION_WORKERS` processes
(default: the number of CPUs, a Celery worker's default concurrency), as the
`attribution.decide` job runs in production; the time of each decision is kept for the p99.
The floor, measured in the same run by the same workers on the first 5,000 orders: the
order's row and its click fetched by their indexes, nothing written. Finally `ledger_verify`
must pass.

`BENCH_ATTRIBUTION_ORDERS` and `BENCH_ATTRIBUTION_CLICKS` scale it down for a quick run. The
last line printed is one JSON object.
"""

import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDERS = int(os.environ.get("BENCH_ATTRIBUTION_ORDERS", "100000"))
CLICKS = int(os.environ.get("BENCH_ATTRIBUTION_CLICKS", "10000000"))
CREATORS, LINKS, FLOOR_SAMPLE = 1000, 2000, min(5000, ORDERS)
# Decisions run as the `attribution.decide` job does, in as many worker processes as a Celery
# worker has by default on this machine (its concurrency is the number of CPUs).
WORKERS = int(os.environ.get("BENCH_ATTRIBUTION_WORKERS", str(os.cpu_count() or 1)))
ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-that-is-long-enough-to-pass-the-checks-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PUBLIC_BASE_URL": "https://shop.example.com",
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shoploop_bench_attribution"
    ),
    "REDIS_URL": "",
    "CELERY_BROKER_URL": "",
    "CELERY_TASK_ALWAYS_EAGER": "true",
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


def generate(rng: random.Random) -> dict:
    """Creators, a program, links, clicks and orders; returns what the run needs."""
    from django.db import connection
    from django.utils import timezone

    from catalog.models import Product
    from creators import services as cs
    from creators.models import Creator, DiscountCode
    from links.models import ShortLink
    from sales.models import SalesChannel

    now = timezone.now()
    product = Product.objects.create(title="Bench hoodie", slug="bench-hoodie", brand="Bench")
    channel = SalesChannel.objects.create(
        provider="standard",
        name="Bench",
        currency="USD",
        secret="whsec_x",  # noqa: S106 - a bench channel
    )
    program = cs.program_create(name="Bench", slug="bench", currency="USD", is_default=True)
    group = cs.group_create(program_id=program.pk, name="All", slug="all", hold_days=30)
    draft = cs.ruleset_draft(group_id=group.pk)
    cs.rule_save(ruleset_id=draft.pk, kind="percent", percent=10, position=1)
    cs.ruleset_publish(ruleset_id=draft.pk, now=now - timedelta(days=400))
    creators = Creator.objects.bulk_create(
        Creator(
            name=f"Creator {i}", handle=f"c{i}", affiliate_code=f"C{i}", email=f"c{i}@example.com"
        )
        for i in range(CREATORS)
    )
    from creators.models import GroupMembership

    GroupMembership.objects.bulk_create(
        GroupMembership(creator=c, group=group, program=program) for c in creators
    )
    DiscountCode.objects.bulk_create(
        DiscountCode(code=f"CODE{c.pk}", creator=c, program=program) for c in creators
    )
    links = ShortLink.objects.bulk_create(
        ShortLink(product=product, creator=creators[i % CREATORS], code=f"b{i:06d}")
        for i in range(LINKS)
    )
    link_creator = {link.pk: link.creator_id for link in links}
    link_ids = list(link_creator)

    clicks_sample = []  # (click_id, clicked_at) of some clicks, for orders to carry
    start = now - timedelta(days=30)
    span = 30 * 86400
    with connection.cursor() as cursor:
        with cursor.connection.cursor().copy(
            "COPY links_clickevent (click_id, link_id, creator_id, product_id, clicked_at, "
            "route, country, device_type, os, browser, in_app, referrer_host, utm_source, "
            "utm_medium, utm_campaign, utm_content, utm_term, is_qr, is_bot, is_unique, "
            "network, visitor_hash) FROM STDIN"
        ) as copy:
            keep_every = max(1, CLICKS // (ORDERS * 2))
            for i in range(CLICKS):
                link_id = link_ids[rng.randrange(LINKS)]
                at = start + timedelta(seconds=span * i / CLICKS)
                click_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                copy.write_row(
                    (
                        click_id,
                        link_id,
                        link_creator[link_id],
                        product.pk,
                        at,
                        "default",
                        "US",
                        "mobile",
                        "iOS",
                        "Safari",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        False,
                        rng.random() < 0.05,
                        True,
                        f"10.{i % 200}.{i % 7}.0/24",
                        "",
                    )
                )
                if i % keep_every == 0:
                    clicks_sample.append((click_id, at))
        orders_start = now - timedelta(days=20)
        with cursor.connection.cursor().copy(
            "COPY sales_order (id, channel_id, external_id, name, status, currency, subtotal, "
            "discounts, shipping, tax, total, discount_codes, landing_url, referring_site, "
            "click_id, visitor_click_id, customer_email_hash, country, "
            "payment_fingerprint_hash, placed_at, paid_at, oversold, created_at, updated_at) "
            "FROM STDIN"
        ) as copy:
            for i in range(ORDERS):
                placed = orders_start + timedelta(seconds=20 * 86400 * i / ORDERS)
                earlier = [
                    c
                    for c in (clicks_sample[rng.randrange(len(clicks_sample))] for _ in range(2))
                    if c[1] < placed
                ]
                roll = rng.random()
                codes = [f"CODE{creators[rng.randrange(CREATORS)].pk}"] if roll < 0.15 else []
                click_id = str(earlier[0][0]) if earlier and roll < 0.7 else ""
                cookie = str(earlier[-1][0]) if earlier and 0.5 < roll < 0.9 else ""
                total = f"{rng.randrange(1000, 20000) / 100:.2f}"
                copy.write_row(
                    (
                        i + 1,
                        channel.pk,
                        f"b{i}",
                        f"#B{i}",
                        "paid",
                        "USD",
                        total,
                        "0",
                        "0",
                        "0",
                        total,
                        json.dumps(codes),
                        "",
                        "",
                        click_id,
                        cookie,
                        f"{rng.randrange(ORDERS // 2):064x}",
                        "US",
                        "",
                        placed,
                        placed,
                        False,
                        now,
                        now,
                    )
                )
        cursor.execute("SELECT id, total FROM sales_order ORDER BY id")
        totals = cursor.fetchall()
        with cursor.connection.cursor().copy(
            "COPY sales_orderline (order_id, external_id, sku, product_id, title, quantity, "
            "unit_price, discount, tax, total, stock_committed, stock_shipped, shortfall) "
            "FROM STDIN"
        ) as copy:
            for order_id, total in totals:
                copy.write_row(
                    (
                        order_id,
                        "",
                        "BENCH-1",
                        product.pk,
                        "Bench hoodie",
                        1,
                        total,
                        "0",
                        "0",
                        total,
                        0,
                        0,
                        0,
                    )
                )
        cursor.execute("SELECT setval('sales_order_id_seq', (SELECT MAX(id) FROM sales_order))")
        cursor.execute("ANALYZE")
    return {"product": product.pk}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def floor_work(order_id: int) -> None:
    """The floor: the order's row and its click fetched by their indexes, nothing written."""
    from links.models import ClickEvent
    from sales.models import Order

    order = Order.objects.get(pk=order_id)
    if order.click_id:
        ClickEvent.objects.filter(click_id=order.click_id).first()


def decide_work(order_id: int) -> None:
    from attribution.services import attribution_decide

    attribution_decide(order_id=order_id)


def _worker(args) -> list[float]:
    """One worker process (a Celery worker's process): its share of the orders, one at a
    time, each timed; its own database connection."""
    work, order_ids, index = args
    from django.db import connections

    times = []
    started = time.perf_counter()
    for n, order_id in enumerate(order_ids, start=1):
        t0 = time.perf_counter()
        work(order_id)
        times.append(time.perf_counter() - t0)
        if index == 0 and n % (10000 // WORKERS) == 0:
            done = n * WORKERS
            print(f"  ~{done:,} done, {done / (time.perf_counter() - started):.0f}/s", flush=True)
    connections.close_all()
    return times


def in_workers(work, order_ids: list[int]) -> tuple[list[float], float]:
    """Run `work` over the orders in WORKERS processes (forked, each with its own connection;
    orders dealt round-robin); every call's time and the wall time."""
    import multiprocessing

    shares = [(work, order_ids[i::WORKERS], i) for i in range(WORKERS)]
    started = time.perf_counter()
    if WORKERS == 1:
        results = [_worker(shares[0])]
    else:
        with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
            results = pool.map(_worker, shares)
    return [t for r in results for t in r], time.perf_counter() - started


def main() -> int:
    setup()
    from django.db import connections, transaction
    from django.db.models import Count

    from attribution.models import Attribution
    from links.models import ClickEvent
    from sales import ledger
    from sales.models import Order

    rng = random.Random(13)  # noqa: S311 - synthetic data
    started = time.perf_counter()
    with transaction.atomic():
        generate(rng)
    generation_s = time.perf_counter() - started
    clicks = ClickEvent.objects.count()
    print(
        f"generated {clicks:,} clicks and {ORDERS:,} orders with COPY in {generation_s:.1f} s",
        flush=True,
    )

    ids = list(Order.objects.order_by("pk").values_list("pk", flat=True))
    connections.close_all()  # the workers are forked: none may share this connection
    floor_times, floor_s = in_workers(floor_work, ids[:FLOOR_SAMPLE])
    floor_rate = FLOOR_SAMPLE / floor_s

    times, total_s = in_workers(decide_work, ids)
    rate = len(ids) / total_s
    verify = ledger.verify()
    credited = Attribution.objects.exclude(creator=None).count()
    by_rule = dict(Attribution.objects.values_list("rule").annotate(n=Count("pk")))
    print(
        f"decided {len(ids):,} orders in {total_s:.1f} s: {rate:.0f} orders/s "
        f"(median {statistics.median(times) * 1000:.2f} ms, p99 {p99(times) * 1000:.2f} ms); "
        f"{WORKERS} workers; floor (order + click lookup, nothing written, same workers) "
        f"{floor_rate:.0f}/s; "
        f"{credited:,} credited {by_rule}; ledger_verify ok={verify['ok']}"
    )
    print(
        json.dumps(
            {
                "bench": "attribution",
                "orders": len(ids),
                "clicks": clicks,
                "orders_per_s": round(rate, 1),
                "workers": WORKERS,
                "decision_p99_ms": round(p99(times) * 1000, 2),
                "decision_median_ms": round(statistics.median(times) * 1000, 2),
                "floor_orders_per_s": round(floor_rate, 1),
                "ratio": round(rate / floor_rate, 3),
                "generation_s": round(generation_s, 1),
                "credited": credited,
                "verify_ok": verify["ok"],
            }
        )
    )
    return 0 if verify["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
