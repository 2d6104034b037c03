"""Nothing is lost: a worker killed mid-batch (a real process, SIGKILL) leaves its items dirty
with their old fingerprints, and the next push sends them; a change made while a push is
sending is pushed next."""

import os
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db
from django.db import connections

from integrations import push, ratelimit
from integrations.models import Listing
from tests.integrations.helpers import connect, product

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import django
django.setup()
from integrations.push import connection_push
connection_push(connection_id={connection_id})
"""


def worker_env(google_server) -> dict:
    db_settings = db.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": "postgres://{}@{}:{}/{}".format(
            db_settings["USER"] or "postgres",
            db_settings["HOST"] or "127.0.0.1",
            db_settings["PORT"] or 5432,
            db_settings["NAME"],
        ),
        "REDIS_URL": settings.INTEGRATIONS_REDIS_URL,
        "GOOGLE_CLIENT_ID": google_server.client_id,
        "GOOGLE_CLIENT_SECRET": google_server.client_secret,
        "GOOGLE_OAUTH_URL": google_server.url,
        "GOOGLE_MERCHANT_API_URL": google_server.url,
        "LOG_LEVEL": "WARNING",
    }


def test_a_worker_killed_mid_batch_loses_nothing(owner_client, google_server):
    connection = connect(owner_client, "google")
    items = [product(sku=f"K-{n}") for n in range(5)]
    google_server.hold = threading.Event()
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER.format(connection_id=connection.pk)],
        cwd=ROOT,
        env=worker_env(google_server),
    )
    try:
        # Google applied the batch; its answer is held; the worker dies before it reads it.
        assert google_server.batch_applied.wait(timeout=60), "the worker sent no batch"
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        google_server.hold.set()
        if worker.poll() is None:
            worker.kill()
    assert set(google_server.offers()) == {f"K-{n}" for n in range(5)}
    for found in Listing.objects.filter(connection=connection):
        # Accepted by Google, but never recorded: still dirty, still the old fingerprint.
        assert (found.dirty, found.fingerprint, found.state) == (True, "", "pending")

    # The dead worker's lock expires (its TTL); the next push sends the items again.
    ratelimit.client().delete(ratelimit.LOCK_PREFIX + f"push:{connection.pk}")
    google_server.hold = None
    report = push.connection_push(connection_id=connection.pk)
    assert report.accepted == len(items)
    listings = Listing.objects.filter(connection=connection)
    assert all(lst.state == "synced" and not lst.dirty and lst.fingerprint for lst in listings)
    assert set(google_server.offers()) == {f"K-{n}" for n in range(5)}  # upserts: no duplicates


def test_a_change_made_while_a_batch_is_in_flight_is_pushed_next(owner_client, google_server):
    connection = connect(owner_client, "google")
    item = product(sku="C-1")
    google_server.hold = threading.Event()
    done = {}

    def pusher():
        try:
            done["report"] = push.connection_push(connection_id=connection.pk)
        finally:
            connections.close_all()

    thread = threading.Thread(target=pusher)
    thread.start()
    assert google_server.batch_applied.wait(timeout=60)
    # While Google holds its answer, the merchant changes the price (a new version).
    from catalog.models import Variant
    from integrations import services

    Variant.objects.filter(sku="C-1").update(price=Decimal("12.00"))
    services.listings_mark_dirty(product_ids=[item.pk])
    google_server.hold.set()
    thread.join(timeout=60)
    # The first answer (the old price) did not clear the listing: its version had moved, so
    # the same push took it again and sent the new price.
    report = done["report"]
    assert (report.batches, report.accepted) == (2, 2)
    found = Listing.objects.get(connection=connection, product=item)
    assert found.state == "synced" and not found.dirty
    price = google_server.offers()["C-1"]["productAttributes"]["price"]["amountMicros"]
    assert price == "12000000"
