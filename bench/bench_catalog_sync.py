"""Benchmark of catalog sync: 10,000 products pushed to a local TikTok Shop-like server.

The server (testservers/tiktok_shop.py, with a batch route added here) checks
TikTok Shop's signatures, tokens and shop cipher, allows 10 requests a second per account
(429 with Retry-After beyond), takes batches of 100 products, and fails 1% of the items it
is sent (a transient error, so each must be retried alone).

TikTok Shop's real Partner API creates and edits one product per request; the batch route
exists so that the engine (fingerprints, diffs, batches, the shared token bucket, 429s,
partial failures, the fingerprint written only after acceptance) is measured at the scale
the issue asks. The destination here differs from `integrations.destinations.tiktok_shop`
only in sending 100 products a request and image URLs instead of uploads. A smaller run
through the real one-product-a-request destination is measured too.

Figures (production settings on PostgreSQL and Redis):
- first run: seconds until every product was accepted, requests, 429s, items a second, items
  lost (products whose latest price and stock the server does not hold; must be 0);
- the floor, measured in the same run: the same 100 batches sent straight to the same
  server under the same 10-a-second limit, without the database or the engine;
- second run: 1% of the products change; items sent (must be those only) and its seconds.

The last line is one JSON object; the exit code is 0 when nothing was lost and the second run
sent exactly the changed products.
"""

import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = int(os.environ.get("BENCH_SYNC_PRODUCTS", "10000"))
CHANGED_SHARE = 0.01
RATE = 10.0  # requests a second per account at the server
BATCH = 100
ITEM_FAIL_RATE = 0.01
REAL_SAMPLE = int(os.environ.get("BENCH_SYNC_REAL_SAMPLE", "60"))
ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-that-is-long-enough-to-pass-the-checks-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PUBLIC_BASE_URL": "https://shop.example.com",
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shoploop_bench_catalog_sync"
    ),
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
    "CELERY_TASK_ALWAYS_EAGER": "true",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
    # The engine's bucket holds to the server's documented limit.
    "TIKTOK_SHOP_REQUESTS_PER_SECOND": str(RATE),
    "TIKTOK_SHOP_BURST": str(int(RATE)),
    "INTEGRATIONS_RETRY_BASE": "1",
}


def django_setup():
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_database():
    import psycopg

    name = ENV["DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# --------------------------------------------------------------------------------------
# The TikTok Shop-like server and destination
# --------------------------------------------------------------------------------------


def batch_server():
    from testservers.base import route
    from testservers.tiktok_shop import Server

    class BatchServer(Server):
        """TikTok Shop's checks, plus a batch route of at most 100 products (not TikTok's)."""

        name = "tiktok_shop_like"
        items_received = 0

        @route("POST", r"/bench/202309/products/batch")
        def batch(self, request):
            self.check_request(request)
            products = (request.json() or {}).get("products") or []
            if not 1 <= len(products) <= BATCH:
                return self.fail(12052001, f"products must hold 1-{BATCH} items")
            results = []
            with self._lock:
                self.items_received += len(products)
                for body in products:
                    if self._item_fails():
                        results.append({"code": 36009003, "message": "Internal error (injected)"})
                        continue
                    product_id = body.pop("id", "") or None
                    # Images come as URLs here (TikTok's API wants uploaded URIs).
                    self.images.setdefault("bench-image", b"")
                    body["main_images"] = [{"uri": "bench-image"}]
                    problem = self._validate_product(body, product_id)
                    if problem:
                        results.append({"code": 12052009, "message": problem})
                        continue
                    product_id = product_id or str(next(self.ids))
                    stored = self._store(body, product_id, self.products.get(product_id))
                    results.append({"code": 0, "product_id": product_id, "skus": [
                        {"id": s["id"], "seller_sku": s["seller_sku"]} for s in stored["skus"]
                    ]})  # fmt: skip
            return self.ok({"results": results})

    return BatchServer(rate=RATE, burst=int(RATE))


def batch_destination():
    from integrations.clients import tiktok_shop as client
    from integrations.destinations.base import Result, message
    from integrations.destinations.tiktok_shop import TikTokShopDestination
    from integrations.http import PlatformError

    class BatchDestination(TikTokShopDestination):
        batch_size = BATCH

        def build(self, view, listing):
            payload = super().build(view, listing)
            if payload is not None:
                payload["images"] = [[0, "https://cdn.example.com/bench.jpg"]]
            return payload

        def _images(self, payload):
            return [{"url": name} for _, name in payload["images"]]

        def send(self, items):
            removals = [i for i in items if i.action == "remove"]
            results = super().send(removals) if removals else {}
            upserts = [i for i in items if i.action == "upsert"]
            if not upserts:
                return results
            bodies = [{**self._body(i), "id": i.listing.external_id} for i in upserts]
            try:
                data = self.access.call(
                    client.call,
                    "POST",
                    "/bench/202309/products/batch",
                    shop_cipher=self.cipher,
                    body={"products": bodies},
                )
            except PlatformError as exc:
                for item in upserts:
                    results[item.listing.pk] = Result.failure(exc.message, retryable=exc.transient)
                return results
            for item, answer in zip(upserts, data["results"], strict=True):
                if answer["code"] != 0:
                    results[item.listing.pk] = Result(
                        ok=False,
                        retryable=answer["code"] == 36009003,
                        messages=[message(answer["message"], source="platform")],
                    )
                else:
                    results[item.listing.pk] = Result(
                        ok=True,
                        external_id=answer["product_id"],
                        external_data={
                            "product_id": answer["product_id"],
                            "sku_ids": {s["seller_sku"]: s["id"] for s in answer["skus"]},
                            "active": True,
                        },
                    )
            return results

    return BatchDestination


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


def seed(count: int, prefix: str) -> list[int]:
    from catalog.models import Product, Variant

    products = Product.objects.bulk_create(
        [
            Product(
                title=f"Bench product {prefix}{n}",
                slug=f"bench-{prefix.lower()}{n}",
                description="A product of the catalog-sync benchmark.",
                brand="Bench",
            )
            for n in range(count)
        ],
        batch_size=2000,
    )
    Variant.objects.bulk_create(
        [
            Variant(
                product=p,
                sku=f"{prefix}{n:06d}",
                price=Decimal("10.00") + n % 50,
                currency="USD",
                stock_on_hand=n % 20,
            )
            for n, p in enumerate(products)
        ],
        batch_size=2000,
    )
    return [p.pk for p in products]


def connect(server):
    from integrations import services
    from integrations.clients import app_for
    from integrations.http import PlatformSession

    code = "bench-code"
    server.codes[code] = server.shop["seller"]
    app = app_for("tiktok_shop")
    session = PlatformSession(platform="tiktok_shop", account="oauth")
    grant = app.exchange(session, code=code, redirect_uri="")
    connection = services.connection_connect(
        platform="tiktok_shop", grant=grant, choices=app.accounts(session, grant), actor=None
    )
    services.connection_update_settings(
        connection_id=connection.pk,
        values={"default_category_id": "600001", "package_weight_kg": "0.3"},
    )
    return connection


def push_until_done(connection_id: int, destination_cls) -> dict:
    from integrations import push
    from integrations.models import Listing

    started = time.monotonic()
    totals = {"requests": 0, "throttled": 0, "accepted": 0, "failed": 0, "pushes": 0}
    while True:
        report = push.connection_push(connection_id=connection_id, destination_cls=destination_cls)
        totals["pushes"] += 1
        for key in ("requests", "throttled", "accepted", "failed"):
            totals[key] += getattr(report, key)
        dirty = Listing.objects.filter(connection_id=connection_id, dirty=True)
        if not dirty.exists():
            break
        if not push.due_listings(connection_id).exists():
            time.sleep(0.2)  # failed items wait out their backoff
    totals["seconds"] = time.monotonic() - started
    return totals


def lost(server, product_ids) -> int:
    """Products whose current price and stock the server does not hold."""
    from catalog.models import Variant

    missing = 0
    for variant in Variant.objects.filter(product_id__in=product_ids).iterator(chunk_size=2000):
        held = (server.product_by_sku(variant.sku) or {}).get("skus", [])
        sku = next((s for s in held if s["seller_sku"] == variant.sku), None)
        if (
            sku is None
            or Decimal(sku["price"]["amount"]) != variant.price
            or sku["inventory"][0]["quantity"] != variant.stock_on_hand
        ):
            missing += 1
    return missing


def floor(server, connection) -> float:
    """The same 100 batches sent straight to the server under the same limit."""
    from integrations import ratelimit
    from integrations.clients import tiktok_shop as client
    from integrations.http import PlatformSession

    session = PlatformSession(platform="tiktok_shop", account="floor-" + connection.account_id)
    body = {
        "title": "Floor",
        "description": "d",
        "category_id": "600001",
        "main_images": [{"url": "https://cdn.example.com/f.jpg"}],
        "package_weight": {"value": "0.3", "unit": "KILOGRAM"},
    }
    server.item_fail_rate = 0.0
    ratelimit.client().delete(ratelimit.bucket_key("tiktok_shop", session.account))
    time.sleep(1.0)  # let the server's bucket refill after the run before
    started = time.monotonic()
    for batch in range(PRODUCTS // BATCH):
        products = [
            {**body, "skus": [{"seller_sku": f"FLOOR-{batch}-{n}",
             "price": {"amount": "10.00", "currency": "USD"},
             "inventory": [{"warehouse_id": "7300000000000001", "quantity": 1}]}]}
            for n in range(BATCH)
        ]  # fmt: skip
        client.call(
            session,
            "POST",
            "/bench/202309/products/batch",
            token=connection.access_token,
            shop_cipher=connection.settings["shop_cipher"],
            body={"products": products},
        )
    return time.monotonic() - started


def main() -> int:
    create_database()
    django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from integrations import ratelimit, services
    from integrations.models import Connection, Listing

    client = ratelimit.client()
    for key in client.scan_iter("integrations:*"):
        client.delete(key)

    server = batch_server().start()
    from django.conf import settings

    settings.TIKTOK_SHOP_APP_KEY = server.app_key
    settings.TIKTOK_SHOP_APP_SECRET = server.app_secret
    settings.TIKTOK_SHOP_AUTH_URL = server.url
    settings.TIKTOK_SHOP_API_BASE = server.url
    try:
        print(f"seeding {PRODUCTS} products", flush=True)
        ids = seed(PRODUCTS, "S")
        connection = connect(server)
        Listing.objects.all().delete()
        server.item_fail_rate = ITEM_FAIL_RATE
        server.limiter.throttled = 0
        services._mark_dirty(connection_ids=[connection.pk], product_ids=ids)  # noqa: SLF001
        destination = batch_destination()

        first = push_until_done(connection.pk, destination)
        first_lost = lost(server, ids)
        throttled = server.limiter.throttled
        requests_made = first["requests"]
        items_per_second = PRODUCTS / first["seconds"]
        print(
            f"first run: {PRODUCTS} products in {first['seconds']:.1f} s, "
            f"{requests_made} requests ({throttled} answered 429), "
            f"{items_per_second:.0f} items/s, {first['failed']} item failures retried, "
            f"lost {first_lost}",
            flush=True,
        )

        # 1% of the products change: only those are sent.
        from catalog.models import Variant

        changed = ids[:: int(1 / CHANGED_SHARE)]
        for variant in Variant.objects.filter(product_id__in=changed):
            variant.price += 1
            variant.save(update_fields=["price", "updated_at"])
        services.listings_mark_dirty(product_ids=changed)
        received_before = server.items_received
        second = push_until_done(connection.pk, destination)
        second_items = server.items_received - received_before
        second_lost = lost(server, ids)
        print(
            f"second run: {len(changed)} changed, {second_items} items sent in "
            f"{second['requests']} requests, {second['seconds']:.1f} s, lost {second_lost}",
            flush=True,
        )

        floor_seconds = floor(server, Connection.objects.get(pk=connection.pk))
        print(f"floor: {PRODUCTS // BATCH} batches of {BATCH} straight to the server "
              f"in {floor_seconds:.1f} s", flush=True)  # fmt: skip

        # The real TikTok Shop destination: one product a request.
        real_ids = seed(REAL_SAMPLE, "R")
        server.item_fail_rate = ITEM_FAIL_RATE
        services._mark_dirty(connection_ids=[connection.pk], product_ids=real_ids)  # noqa: SLF001
        from integrations.destinations.tiktok_shop import TikTokShopDestination

        class RealWithUrls(TikTokShopDestination):
            def build(self, view, listing):
                payload = super().build(view, listing)
                if payload is not None:
                    payload["images"] = [[0, "https://cdn.example.com/bench.jpg"]]
                return payload

            def _images(self, payload):
                return [{"uri": "tos-bench/image"}]  # as if uploaded once before

        server.images["tos-bench/image"] = b""
        real = push_until_done(connection.pk, RealWithUrls)
        real_rate = REAL_SAMPLE / real["seconds"]
        print(f"one product a request (TikTok's API): {REAL_SAMPLE} products in "
              f"{real['seconds']:.1f} s, {real_rate:.1f} items/s", flush=True)  # fmt: skip
    finally:
        server.stop()

    ok = first_lost == 0 and second_lost == 0 and second_items >= len(changed)
    sent_only_changed = second_items - second["failed"] == len(changed)
    result = {
        "bench": "catalog_sync",
        "products": PRODUCTS,
        "seconds": round(first["seconds"], 2),
        "floor_seconds": round(floor_seconds, 2),
        "ratio": round(first["seconds"] / floor_seconds, 2),
        "requests": requests_made,
        "throttled": throttled,
        "items_per_second": round(items_per_second, 1),
        "item_failures_retried": first["failed"],
        "lost": first_lost + second_lost,
        "changed": len(changed),
        "second_run_items": second_items,
        "second_run_requests": second["requests"],
        "second_run_seconds": round(second["seconds"], 2),
        "one_per_request_items_per_second": round(real_rate, 1),
    }
    print(json.dumps(result), flush=True)
    return 0 if ok and sent_only_changed else 1


if __name__ == "__main__":
    sys.exit(main())
