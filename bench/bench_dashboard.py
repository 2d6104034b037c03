"""Benchmark of the dashboards: 10 million clicks over 180 days, 200,000 orders with refunds.

Production settings on PostgreSQL (a database of its own). Generation, timed apart and done
by PostgreSQL itself (`INSERT ... SELECT FROM generate_series`, no rows through Python): 500
creators, 2,000 links over 20 products, 10,000,000 clicks over 180 days (5 % bots, countries,
devices, sources), 200,000 paid orders in two currencies, each credited (an attribution) to a
click's link and creator, one line each (its product's variant), and a refund of half the
total on every tenth order, five days after it. Click ids are time-ordered, as the drain's
UUIDv7 ids are. Commission lives in the ledger, whose postings go through its services one by
one; this benchmark leaves it out (its cost is `make bench-attribution`'s).

Then:
1. the rollups built from nothing (the first fold: every day, hourly and daily): `rollup_build_s`;
2. the console's home and the per-link page timed for 7, 30 and 180 days, through Django's
   test client as a logged-in Owner: the first request of each (a new database connection:
   "cold") and `WARM` more ("warm"); p50 and p95 per page and range. The baseline, measured in
   the same run: the plain admin index (`/admin/` for a user without dashboards), whose p50
   is the floor every console page pays (sessions, permissions, templates);
3. the baseline of the quarter and week rows and of the ranking in the database, in the same
   run on the same data, its requests alternating with the home's: the home read as before them
   (month rows and every other day row of the range, every value's numbers brought into
   Python and ranked there), after checking that both give the same tables: `home_before_*`;
4. one million new clicks over the last day, then one fold: `incremental_1m_clicks_s`.

`BENCH_DASHBOARD_CLICKS` and `BENCH_DASHBOARD_ORDERS` scale it down for a quick run;
`BENCH_DASHBOARD_WARM` (default 40) is the number of timed requests per page and range;
`BENCH_DASHBOARD_PAGES_ONLY=1` times the pages again on the data an earlier run left in the
database (no generation, build or fold). The last line printed is one JSON object.
Targets: home and per-link p95 under 200 ms at 180 days; one million new clicks folded in
under 60 s.
"""

import json
import os
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLICKS = int(os.environ.get("BENCH_DASHBOARD_CLICKS", "10000000"))
ORDERS = int(os.environ.get("BENCH_DASHBOARD_ORDERS", "200000"))
NEW_CLICKS = int(os.environ.get("BENCH_DASHBOARD_NEW_CLICKS", str(min(1_000_000, CLICKS // 10))))
WARM = int(os.environ.get("BENCH_DASHBOARD_WARM", "40"))  # timed requests per page and range
PAGES_ONLY = os.environ.get("BENCH_DASHBOARD_PAGES_ONLY", "") == "1"
CREATORS, LINKS, PRODUCTS, DAYS = 500, 2000, 20, 180
ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-that-is-long-enough-to-pass-the-checks-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "PUBLIC_BASE_URL": "https://shop.example.com",
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shoploop_bench_dashboard"
    ),
    "REDIS_URL": "",
    "CELERY_BROKER_URL": "",
    "CLICK_BUFFER_URL": "",
    "CELERY_TASK_ALWAYS_EAGER": "true",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "LOG_LEVEL": "WARNING",
}


def create_database():
    import psycopg

    name = ENV["DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup():
    import tempfile

    os.environ.update(ENV)
    os.environ["STATIC_ROOT"] = tempfile.mkdtemp(prefix="bench-dashboard-static-")
    sys.path.insert(0, str(ROOT))
    if not PAGES_ONLY:
        create_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # production's manifest


_CLICKS_SQL = """
INSERT INTO links_clickevent (click_id, link_id, creator_id, product_id, clicked_at, route,
  country, device_type, os, browser, in_app, referrer_host, utm_source, utm_medium,
  utm_campaign, utm_content, utm_term, is_qr, is_bot, is_unique, network, visitor_hash)
SELECT (lpad(to_hex(%(offset)s + i), 16, '0') || left(md5(i::text), 16))::uuid,
  l.id, l.creator_id, l.product_id,
  %(start)s + (%(span)s * i / %(n)s) * interval '1 second', 'default',
  (ARRAY['US','US','DE','FR','GB','NL','ES','IT','JP','BR'])[1 + (i * 7) %% 10],
  (ARRAY['mobile','mobile','mobile','desktop','tablet'])[1 + (i * 3) %% 5], 'iOS', 'Safari', '',
  (ARRAY['','','www.tiktok.com','l.instagram.com','t.co'])[1 + (i * 11) %% 5],
  (ARRAY['tiktok','instagram','','youtube'])[1 + (i * 13) %% 4], '', '', '', '',
  i %% 50 = 0, i %% 20 = 0, i %% 3 <> 0, '10.0.0.0/24', ''
FROM generate_series(1::bigint, %(n)s) AS i
JOIN links_shortlink l ON l.id = %(first_link)s + (i * 7919) %% %(links)s
"""

_ORDERS_SQL = """
INSERT INTO sales_order (channel_id, external_id, name, status, currency, subtotal, discounts,
  shipping, tax, total, discount_codes, landing_url, referring_site, click_id,
  visitor_click_id, customer_email_hash, country, payment_fingerprint_hash, placed_at, paid_at,
  oversold, created_at, updated_at)
SELECT CASE WHEN i %% 4 = 0 THEN %(eur)s ELSE %(usd)s END, 'b' || i, '#B' || i,
  CASE WHEN i %% 10 = 0 THEN 'partially_refunded' ELSE 'paid' END,
  CASE WHEN i %% 4 = 0 THEN 'EUR' ELSE 'USD' END, t, 0, 0, 0, t, '[]', '', '', '', '', '',
  (ARRAY['US','DE','FR','GB','NL'])[1 + i %% 5], '', p, p, false, p, p
FROM (SELECT i, (1000 + (i * 7717) %% 19000) / 100.0 AS t,
             %(start)s + (%(span)s * i / %(n)s) * interval '1 second' AS p
      FROM generate_series(1::bigint, %(n)s) AS i) x
"""

# Each line is mapped to its product's variant (by SKU), as a shop's lines are: lines with no
# variant are the exceptions the home's "Order lines with no product" counts.
_LINES_SQL = """
INSERT INTO sales_orderline (order_id, external_id, sku, product_id, variant_id, title,
  quantity, unit_price, discount, tax, total, stock_committed, stock_shipped, shortfall)
SELECT o.id, '', 'BENCH-' || o.id %% %(products)s, %(first_product)s + o.id %% %(products)s,
  %(first_variant)s + o.id %% %(products)s, 'Bench', 1, o.total, 0, 0, o.total, 0, 0, 0
FROM sales_order o
"""

# Each order is credited to the click a fixed stride into the clicks before it.
_ATTRIBUTIONS_SQL = """
INSERT INTO attribution_attribution (order_id, creator_id, rule, policy, click_id,
  discount_code, late_click_id, candidates, explanation, creator_explanation,
  customer_returning, customer_email_hash, visitor_key, commission_total, commission_currency,
  commission_note, review_reason, version, placed_at, decided_at, content_placement)
SELECT o.id, c.creator_id, 'order_click', '{}', c.click_id, '', '', '[]', 'bench', '', false,
  '', '', 0, '', '', '', 1, o.placed_at, o.placed_at, ''
FROM sales_order o
JOIN links_clickevent c ON c.id = %(first_click)s + (o.id * %(stride)s) %% %(clicks)s
"""

_REFUNDS_SQL = """
INSERT INTO sales_refund (order_id, channel_id, external_id, currency, shipping, total, reason,
  refunded_at, created_at)
SELECT o.id, o.channel_id, 'r' || o.id, o.currency, 0, round(o.total / 2, 2), '',
  o.placed_at + interval '5 days', o.placed_at + interval '5 days'
FROM sales_order o WHERE o.status = 'partially_refunded'
"""


def generate() -> dict:
    from django.db import connection
    from django.utils import timezone

    from catalog.models import Product, Variant
    from creators.models import Creator
    from links.models import ShortLink
    from sales.models import SalesChannel

    now = timezone.now()
    products = Product.objects.bulk_create(
        Product(title=f"Bench product {i}", slug=f"bench-{i}", brand="Bench")
        for i in range(PRODUCTS)
    )
    variants = Variant.objects.bulk_create(
        Variant(product=product, sku=f"BENCH-{i}", price=Decimal("100.00"), currency="USD")
        for i, product in enumerate(products)
    )
    creators = Creator.objects.bulk_create(
        Creator(name=f"Creator {i}", handle=f"c{i}", affiliate_code=f"C{i}", email=f"c{i}@x.test")
        for i in range(CREATORS)
    )
    links = ShortLink.objects.bulk_create(
        ShortLink(product=products[i % PRODUCTS], creator=creators[i % CREATORS], code=f"b{i:06d}")
        for i in range(LINKS)
    )
    usd, eur = (
        SalesChannel.objects.create(provider="standard", name=f"Bench {c}", currency=c)
        for c in ("USD", "EUR")
    )
    start, span = now - timedelta(days=DAYS), DAYS * 86400
    with connection.cursor() as cursor:
        cursor.execute(
            _CLICKS_SQL,
            {"start": start, "span": span, "n": CLICKS, "first_link": links[0].pk,
             "links": LINKS, "offset": 0},
        )  # fmt: skip
        cursor.execute(
            _ORDERS_SQL,
            {"start": start, "span": span - 6 * 86400, "n": ORDERS, "usd": usd.pk, "eur": eur.pk},
        )
        cursor.execute(
            _LINES_SQL,
            {"first_product": products[0].pk, "first_variant": variants[0].pk,
             "products": PRODUCTS},
        )  # fmt: skip
        cursor.execute("SELECT min(id) FROM links_clickevent")
        first_click = cursor.fetchone()[0]
        cursor.execute(
            _ATTRIBUTIONS_SQL,
            {"first_click": first_click, "stride": max(1, CLICKS // ORDERS) - 1,
             "clicks": CLICKS},
        )  # fmt: skip
        cursor.execute(_REFUNDS_SQL)
        cursor.execute("ANALYZE")
    return {"link": links[0].pk, "start": start}


def add_clicks(count: int, first_link: int) -> None:
    """`count` new clicks over the last day (a day's traffic arriving), new ids."""
    from django.db import connection
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(
            _CLICKS_SQL,
            {"start": timezone.now() - timedelta(days=1), "span": 86400, "n": count,
             "first_link": first_link, "links": LINKS, "offset": CLICKS},
        )  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def time_page(client, url: str, params: dict) -> dict:
    from django.db import connection

    connection.close()  # a new connection: nothing cached in it
    t0 = time.perf_counter()
    response = client.get(url, params)
    cold = time.perf_counter() - t0
    assert response.status_code == 200, (url, response.status_code)
    warm = []
    for _ in range(WARM):
        t0 = time.perf_counter()
        client.get(url, params)
        warm.append(time.perf_counter() - t0)
    return {
        "cold_ms": round(cold * 1000, 1),
        "p50_ms": round(statistics.median(warm) * 1000, 1),
        "p95_ms": round(percentile(warm, 0.95) * 1000, 1),
    }


def top_before(period, dims, *, keys=None, limit=10) -> dict:
    """The top tables as the home read them before quarter and week rows and the ranking in
    the database: month rows for whole months and day rows for every other day of the range,
    every value's numbers per currency brought into Python and ranked there (the baseline)."""
    from django.db import transaction
    from django.db.models import Q, Sum

    from analytics import rollups, selectors
    from analytics.models import Rollup
    from analytics.selectors import METRICS, Row

    first_month = period.first if period.first.day == 1 else rollups.next_month(period.first)
    end_month = rollups.month_start(period.last + timedelta(days=1))
    if first_month >= end_month:
        where = Q(grain="d", bucket__gte=period.lo, bucket__lt=period.hi)
    else:
        months_lo, months_hi = rollups.day_start(first_month), rollups.day_start(end_month)
        where = (
            Q(grain="d", bucket__gte=period.lo, bucket__lt=months_lo)
            | Q(grain="m", bucket__gte=months_lo, bucket__lt=months_hi)
            | Q(grain="d", bucket__gte=months_hi, bucket__lt=period.hi)
        )
    rows = Rollup.objects.filter(where, dim__in=dims)
    if keys is not None:
        rows = rows.filter(key__in=keys)
    found = (
        rows.values_list("dim", "key", "currency")
        .annotate(*(Sum(metric) for metric in METRICS))
        .order_by()
    )
    with transaction.atomic():
        selectors._hash_aggregate()
        found = list(found)
    tables = {dim: {} for dim in dims}
    for dim, key, currency, clicks, uniq, bots, orders, revenue, refunds, commission in found:
        row = tables[dim].setdefault(key, Row(dim=dim, key=key))
        row.clicks += int(clicks)
        row.unique_clicks += int(uniq)
        row.bot_clicks += int(bots)
        row.orders += int(orders)
        if currency:
            row.money[currency] = {
                "revenue": int(revenue), "refunds": int(refunds),
                "net": int(revenue) + int(refunds), "commission": int(commission),
            }  # fmt: skip

    def rank(row):
        return (-row.orders, -row.clicks, -row.bot_clicks, row.key)

    return {dim: sorted(rows.values(), key=rank)[:limit] for dim, rows in tables.items()}


def time_home_and_before(client, params: dict) -> tuple[dict, dict]:
    """The home now and as it read before quarter and week rows and the ranking in the
    database (`top_before`), on the same data, after checking that both show the same tables:
    the first request of each on a new connection, then `WARM` of each, alternating, so that
    both see the same load on a shared machine."""
    from django.db import connection

    from analytics import selectors, views

    period = selectors.parse_range(params)
    dims = [dim for dim, _ in views.HOME_TABLES]
    assert selectors.top(period, dims) == top_before(period, dims), params
    top = selectors.top
    reads = {"now": top, "before": top_before}
    cold, warm = {}, {"now": [], "before": []}
    try:
        for name, read in reads.items():
            selectors.top = read
            connection.close()  # a new connection: nothing cached in it
            t0 = time.perf_counter()
            assert client.get("/admin/", params).status_code == 200
            cold[name] = time.perf_counter() - t0
        for _ in range(WARM):
            for name, read in reads.items():
                selectors.top = read
                t0 = time.perf_counter()
                client.get("/admin/", params)
                warm[name].append(time.perf_counter() - t0)
    finally:
        selectors.top = top
    now, before = (
        {
            "cold_ms": round(cold[name] * 1000, 1),
            "p50_ms": round(statistics.median(warm[name]) * 1000, 1),
            "p95_ms": round(percentile(warm[name], 0.95) * 1000, 1),
        }
        for name in reads
    )
    return now, before


def main() -> int:
    setup()
    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from django.test import Client
    from django.urls import reverse

    from analytics import checks, rollups, selectors
    from analytics.models import Rollup
    from links.models import ClickEvent, ShortLink
    from sales.models import Order

    generation_s = build_s = None
    if PAGES_ONLY:  # the data of an earlier run, timed again
        made = {"link": ShortLink.objects.get(code="b000000").pk}
    else:
        t0 = time.perf_counter()
        with transaction.atomic():
            made = generate()
        generation_s = round(time.perf_counter() - t0, 1)
    clicks, orders = ClickEvent.objects.count(), Order.objects.count()
    print(f"generated {clicks:,} clicks and {orders:,} orders in {generation_s} s", flush=True)

    if not PAGES_ONLY:
        t0 = time.perf_counter()
        rollups.fold()
        build_s = round(time.perf_counter() - t0, 1)
    rows = Rollup.objects.count()
    revenue_ok = checks.revenue_matches_orders() == []
    print(f"rollups built in {build_s} s: {rows:,} rows; net revenue = orders' "
          f"less refunds: {revenue_ok}", flush=True)  # fmt: skip

    owner, _ = User.objects.get_or_create(username="bench-owner", is_staff=True)
    owner.groups.add(Group.objects.get(name="Owner"))
    plain, _ = User.objects.get_or_create(username="bench-plain", is_staff=True)
    plain.groups.add(Group.objects.get(name="Moderator"))
    client, baseline_client = Client(), Client()
    client.force_login(owner)
    baseline_client.force_login(plain)
    today = selectors.today()
    ranges = {
        "7d": {"range": "7d"},
        "30d": {"range": "30d"},
        "180d": {"range": "custom", "from": str(today - timedelta(days=DAYS - 1)),
                 "to": str(today)},
    }  # fmt: skip
    baseline = time_page(baseline_client, "/admin/", {})
    print(f"baseline (the plain admin index): {baseline}", flush=True)
    results, before = {}, {}
    for name, params in ranges.items():
        results[("home", name)], before[name] = time_home_and_before(client, params)
        print(f"home {name}: {results[('home', name)]}", flush=True)
        print(f"home {name}, before (month and day rows, ranked in Python): {before[name]}",
              flush=True)  # fmt: skip
    link_url = reverse("analytics:link", args=[made["link"]])
    for name, params in ranges.items():
        results[("link", name)] = time_page(client, link_url, params)
        print(f"link {name}: {results[('link', name)]}", flush=True)

    incremental_s = per_million = None
    if not PAGES_ONLY:
        add_clicks(NEW_CLICKS, made["link"])
        t0 = time.perf_counter()
        folded = rollups.fold()
        incremental_s = round(time.perf_counter() - t0, 1)
        per_million = round(incremental_s * 1_000_000 / NEW_CLICKS, 1)
        print(f"{NEW_CLICKS:,} new clicks folded in {incremental_s} s ({folded['days']} days "
              f"computed again); {per_million} s per million", flush=True)  # fmt: skip

    home, link = results[("home", "180d")], results[("link", "180d")]
    print(
        json.dumps(
            {
                "bench": "dashboard",
                "clicks": clicks,
                "orders": orders,
                "generation_s": generation_s,
                "rollup_build_s": build_s,
                "rollup_rows": rows,
                "home_p50_ms": home["p50_ms"],
                "home_p95_ms": home["p95_ms"],
                "home_cold_ms": home["cold_ms"],
                "home_before_p50_ms": before["180d"]["p50_ms"],
                "home_before_p95_ms": before["180d"]["p95_ms"],
                "link_p50_ms": link["p50_ms"],
                "link_p95_ms": link["p95_ms"],
                "link_cold_ms": link["cold_ms"],
                "baseline_p50_ms": baseline["p50_ms"],
                "pages": {f"{p}_{r}": v for (p, r), v in results.items()},
                "home_before": before,
                "new_clicks": None if PAGES_ONLY else NEW_CLICKS,
                "incremental_s": incremental_s,
                "incremental_1m_clicks_s": per_million,
                "revenue_matches_orders": revenue_ok,
                "targets_met": home["p95_ms"] < 200
                and link["p95_ms"] < 200
                and (per_million is None or per_million < 60),
            }
        )  # fmt: skip
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
