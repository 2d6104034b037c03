"""Catalog -> TikTok Shop, Meta and Google: diff-based batches, the destinations' rules, rate
limits honoured, partial failures retried alone, removals, and nothing lost."""

from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Product, Variant
from integrations import push, services, sync, tasks
from integrations.models import Connection, ImageUpload, Listing
from tests.catalog.factories import VariantFactory
from tests.integrations.helpers import connect, product

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiktok(owner_client, tiktok_server):
    connection = connect(owner_client, "tiktok_shop")
    services.connection_update_settings(
        connection_id=connection.pk,
        values={"default_category_id": "600001", "package_weight_kg": "0.4"},
    )
    return connection


@pytest.fixture
def meta_connection(owner_client, meta_server):
    return connect(owner_client, "meta")


@pytest.fixture
def google(owner_client, google_server):
    return connect(owner_client, "google")


def push_now(connection):
    return push.connection_push(connection_id=connection.pk)


def listing(connection, item) -> Listing:
    return Listing.objects.get(connection=connection, product=item)


def make_due(connection):
    """Backoffs are short in tests, but do not wait for them."""
    Listing.objects.filter(connection=connection, dirty=True).update(next_attempt_at=timezone.now())


# -- TikTok Shop ---------------------------------------------------------------------------


def test_tiktok_products_are_created_then_only_changes_are_sent(tiktok, tiktok_server):
    first, second = product(sku="A-1"), product(sku="B-1", title="Beanie")
    report = push_now(tiktok)
    assert (report.accepted, report.failed, report.invalid) == (2, 0, 0)
    created = tiktok_server.product_by_sku("A-1")
    assert created["category_id"] == "600001"
    assert created["package_weight"] == {"value": "0.4", "unit": "KILOGRAM"}
    assert created["skus"][0]["price"] == {"amount": "49.90", "currency": "USD"}
    assert created["skus"][0]["inventory"] == [{"warehouse_id": "7300000000000001", "quantity": 7}]
    assert created["skus"][0]["identifier_code"]["type"] == "GTIN"
    assert listing(tiktok, first).external_id == created["id"]
    assert ImageUpload.objects.filter(connection=tiktok).count() == 2
    assert tiktok.__class__.objects.get(pk=tiktok.pk).settings["warehouse_id"] == "7300000000000001"

    # Nothing changed: a sync checks both and sends nothing.
    before = len(tiktok_server.requests)
    services.connection_sync_now(connection_id=tiktok.pk)
    report = push_now(tiktok)
    assert (report.checked, report.unchanged, report.sent) == (2, 2, 0)
    assert len(tiktok_server.requests) == before

    # One price changes: only that product is sent, with its TikTok SKU id, no new image.
    variant = Variant.objects.get(sku="B-1")
    variant.price = Decimal("59.00")
    variant.save()
    services.listings_mark_dirty(product_ids=[second.pk])
    report = push_now(tiktok)
    assert (report.sent, report.accepted) == (1, 1)
    edits = tiktok_server.requests_to(r"^/product/202309/products/\d+$", "PUT")
    assert len(edits) == 1
    sent = edits[0].json()
    assert sent["skus"][0]["price"]["amount"] == "59.00"
    assert sent["skus"][0]["id"] == tiktok_server.product_by_sku("B-1")["skus"][0]["id"]
    assert len(tiktok_server.requests_to("images/upload")) == 2


def test_tiktok_rules_are_checked_before_sending(owner_client, tiktok_server):
    connection = connect(owner_client, "tiktok_shop")  # no category, no weight
    no_image = product(sku="N-1", image=False)
    report = push_now(connection)
    assert (report.invalid, report.sent) == (1, 0)
    found = listing(connection, no_image)
    assert found.state == "invalid"
    fields = {m["field"] for m in found.messages}
    assert {"category_id", "main_images", "package_weight"} <= fields
    assert not tiktok_server.requests_to("/product/202309/products", "POST")
    # The merchant sets the category on this listing and the weight on the connection.
    services.listing_set_category(listing_id=found.pk, category="600002")
    services.connection_update_settings(
        connection_id=connection.pk, values={"package_weight_kg": "1"}
    )
    push_now(connection)
    found.refresh_from_db()
    assert [m["field"] for m in found.messages] == ["main_images"]


def test_a_deactivated_product_is_deactivated_on_tiktok_and_comes_back(tiktok, tiktok_server):
    item = product(sku="D-1")
    push_now(tiktok)
    catalog_services.products_set_active(products=Product.objects.filter(pk=item.pk), active=False)
    services.listings_mark_dirty(product_ids=[item.pk])
    report = push_now(tiktok)
    assert report.removed == 1
    assert tiktok_server.product_by_sku("D-1")["status"] == "SELLER_DEACTIVATED"
    assert listing(tiktok, item).state == "removed"
    catalog_services.products_set_active(products=Product.objects.filter(pk=item.pk), active=True)
    services.listings_mark_dirty(product_ids=[item.pk])
    push_now(tiktok)
    assert tiktok_server.product_by_sku("D-1")["status"] == "ACTIVATE"
    assert listing(tiktok, item).state == "synced"


def test_a_lost_create_answer_is_found_by_sku_not_created_twice(tiktok, tiktok_server):
    item = product(sku="L-1")
    # TikTok creates the product but its answer never arrives (every retry times out too).
    tiktok_server.fail_next(
        50,
        status=504,
        body={"code": 1, "message": "gateway timeout"},
        path="/product/202309/products$",
    )
    created_before = len(tiktok_server.products)
    report = push_now(tiktok)
    assert report.failed == 1
    assert listing(tiktok, item).external_data.get("creating") is True
    assert len(tiktok_server.requests_to("/product/202309/products$", "POST")) == 5  # retried
    tiktok_server.reset()  # the platform answers again
    # Make TikTok hold the product as if the lost request had created it.
    make_due(tiktok)
    uri = next(iter(tiktok_server.images))
    tiktok_server._store(  # noqa: SLF001 - what the lost create did on TikTok's side
        {
            "title": "Trail Jacket",
            "skus": [{"seller_sku": "L-1", "price": {}, "inventory": []}],
            "main_images": [{"uri": uri}],
        },
        "1729500000000099999",
        None,
    )
    push_now(tiktok)
    assert len(tiktok_server.products) == created_before + 1
    assert listing(tiktok, item).external_id == "1729500000000099999"
    assert listing(tiktok, item).state == "synced"


def test_429_and_retry_after_are_honoured(tiktok, tiktok_server, settings):
    tiktok_server.limiter = type(tiktok_server.limiter)(rate=2.0, burst=1)
    tiktok_server.retry_after = "1"
    items = [product(sku=f"R-{n}") for n in range(2)]
    report = push_now(tiktok)
    assert report.accepted == len(items)
    assert report.throttled >= 1 and tiktok_server.limiter.throttled >= 1
    # After each 429 the next request waited Retry-After (1 s) at least.
    arrivals = sorted(r.at for r in tiktok_server.requests)
    for refused in tiktok_server.throttled_at:
        following = [at for at in arrivals if at > refused]
        assert not following or following[0] - refused >= 0.95


def test_our_bucket_keeps_under_the_platforms_limit(tiktok, tiktok_server, settings):
    tiktok_server.limiter = type(tiktok_server.limiter)(rate=10.0, burst=3)
    settings.INTEGRATIONS_RATE_LIMITS = {
        **settings.INTEGRATIONS_RATE_LIMITS,
        "tiktok_shop": (8.0, 2),
    }
    for n in range(8):
        product(sku=f"K-{n}")
    report = push_now(tiktok)
    assert report.accepted == 8
    assert tiktok_server.limiter.throttled == 0 and report.throttled == 0


# -- Meta ----------------------------------------------------------------------------------


def test_meta_items_are_sent_per_variant_in_one_batch_and_checked_until_finished(
    meta_connection, meta_server
):
    item = product(sku="M-1", compare_at_price=Decimal("59.90"))
    VariantFactory(
        product=item,
        sku="M-2",
        price=Decimal("49.90"),
        stock_on_hand=0,
        attributes={"size": "L", "colour": "Blue"},
    )
    services.listings_mark_dirty(product_ids=[item.pk])
    meta_server.polls_until_finished = 3
    report = push_now(meta_connection)
    assert report.accepted == 1 and report.requests == 1 + 3  # one batch, three polls
    items = meta_server.items()
    assert set(items) == {"M-1", "M-2"}
    assert items["M-1"]["price"] == "59.90 USD" and items["M-1"]["sale_price"] == "49.90 USD"
    assert items["M-2"]["availability"] == "out of stock" and items["M-2"]["color"] == "Blue"
    assert items["M-1"]["item_group_id"] == f"shoploop-{item.pk}"
    assert listing(meta_connection, item).external_data == {"ids": ["M-1", "M-2"]}
    # A variant taken off sale is deleted at Meta.
    Variant.objects.filter(sku="M-2").update(active=False)
    services.listings_mark_dirty(product_ids=[item.pk])
    push_now(meta_connection)
    assert set(meta_server.items()) == {"M-1"}


def test_meta_refusals_are_shown_per_product_with_metas_words(meta_connection, meta_server):
    good, bad = product(sku="G-1"), product(sku="B-1")
    Variant.objects.filter(sku="B-1").update(price=Decimal("0"))
    meta_server.item_fail_rate = 0.0
    # Meta refuses B-1 in the batch status (a per-item error), accepts G-1.
    original = meta_server._item_errors  # noqa: SLF001

    def refuse(item):
        if (item.get("data") or {}).get("id") == "B-1":
            return [{"message": "The price is not valid for this market"}]
        return original(item)

    meta_server._item_errors = refuse  # noqa: SLF001
    report = push_now(meta_connection)
    assert (report.accepted, report.rejected) == (1, 1)
    refused = listing(meta_connection, bad)
    assert refused.state == "rejected" and refused.dirty is False
    assert refused.messages[0] == {
        "level": "error",
        "field": "",
        "message": "The price is not valid for this market",
        "source": "platform",
    }
    assert listing(meta_connection, good).state == "synced"


def test_meta_validation_names_each_missing_field(meta_connection, meta_server):
    item = product(sku="V-1", brand="", image=False, gtin="")
    push_now(meta_connection)
    found = listing(meta_connection, item)
    assert found.state == "invalid"
    texts = " ".join(m["message"] for m in found.messages)
    assert "An image is required." in texts and "a brand, GTIN or MPN is required" in texts
    assert not meta_server.batches


# -- Google ---------------------------------------------------------------------------------


def test_google_offers_go_in_one_http_batch_into_the_api_data_source(google, google_server):
    items = [product(sku=f"O-{n}") for n in range(5)]
    report = push_now(google)
    assert report.accepted == 5 and report.batches == 1
    assert len(google_server.requests_to("^/batch/products/v1$")) == 1
    offer = google_server.offers()["O-0"]
    assert offer["dataSource"] == Connection.objects.get(pk=google.pk).settings["data_source"]
    attrs = offer["productAttributes"]
    assert attrs["price"] == {"amountMicros": "49900000", "currencyCode": "USD"}
    assert attrs["availability"] == "IN_STOCK" and attrs["condition"] == "NEW"
    assert attrs["itemGroupId"] == f"shoploop-{items[0].pk}"


def test_a_batch_that_partly_fails_retries_only_the_failed_items(google, google_server, settings):
    settings.INTEGRATIONS_BATCH_SIZES = {**settings.INTEGRATIONS_BATCH_SIZES, "google": 10}
    items = [product(sku=f"P-{n}") for n in range(6)]
    google_server.fail_offer_ids = {"P-2", "P-4"}
    report = push_now(google)
    assert (report.accepted, report.failed) == (4, 2)
    failed = {lst.product_id for lst in Listing.objects.filter(connection=google, state="failed")}
    assert failed == {items[2].pk, items[4].pk}
    for found in Listing.objects.filter(connection=google, state="failed"):
        assert found.dirty and found.attempts == 1 and found.fingerprint == ""
        assert found.next_attempt_at > timezone.now() - __import__("datetime").timedelta(seconds=1)
        assert "Internal error encountered" in found.messages[0]["message"]
    google_server.fail_offer_ids = set()
    google_server.requests.clear()
    make_due(google)
    report = push_now(google)
    assert (report.sent, report.accepted) == (2, 2)
    [batch] = google_server.requests_to("^/batch/products/v1$")
    assert batch.body.count(b"productInputs:insert") == 2
    assert b'"offerId":"P-2"' in batch.body and b'"offerId":"P-4"' in batch.body
    assert Listing.objects.filter(connection=google, state="synced").count() == 6


def test_a_deleted_product_is_removed_from_google(google, google_server):
    item = product(sku="X-1")
    push_now(google)
    assert "X-1" in google_server.offers()
    item.delete()  # the listing keeps its product_ref
    assert sync.listings_sweep() >= 1
    report = push_now(google)
    assert report.removed == 1
    assert "X-1" not in google_server.offers()
    assert Listing.objects.get(connection=google).state == "removed"


def test_an_inactive_product_never_listed_is_not_sent(google, google_server):
    item = product(sku="I-1")
    Product.objects.filter(pk=item.pk).update(active=False)
    report = push_now(google)
    assert (report.not_listed, report.sent) == (1, 0)
    assert listing(google, item).state == "not_listed"


# -- reaching destinations ------------------------------------------------------------------


def test_a_catalog_change_marks_listings_dirty_and_the_beat_job_pushes_it(
    google, google_server, django_capture_on_commit_callbacks
):
    item = product(sku="S-1")
    push_now(google)
    variant = Variant.objects.get(sku="S-1")
    variant.price = Decimal("39.00")
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.variant_save(variant=variant)  # announces products_changed
    assert listing(google, item).dirty
    assert tasks.sync_push() == 1  # the 5-second beat job queues (here: runs) the push
    attrs = google_server.offers()["S-1"]["productAttributes"]
    assert attrs["price"]["amountMicros"] == "39000000"
    assert listing(google, item).dirty is False


def test_the_beat_schedule_pushes_every_few_seconds():
    from config.celery import app

    entry = app.conf.beat_schedule["integrations-sync-push"]
    assert entry["task"] == "integrations.sync_push"
    assert entry["schedule"] <= 10.0  # with a push's time, changes arrive within a minute


def test_the_sweep_catches_changes_a_lost_signal_missed(google, google_server):
    item = product(sku="W-1")
    push_now(google)
    Variant.objects.filter(sku="W-1").update(stock_on_hand=0, updated_at=timezone.now())
    assert not listing(google, item).dirty
    assert sync.listings_sweep() == 1
    push_now(google)
    assert google_server.offers()["W-1"]["productAttributes"]["availability"] == "OUT_OF_STOCK"


def test_one_push_per_connection_at_a_time(google):
    from integrations import ratelimit

    product(sku="Q-1")
    token = ratelimit.lock(f"push:{google.pk}", ttl=30)
    try:
        assert push_now(google).busy is True
    finally:
        ratelimit.release(f"push:{google.pk}", token)
    assert push_now(google).accepted == 1


def test_pushes_stop_when_the_grant_is_gone(google, google_server):
    product(sku="Z-1")
    google_server.revoke_all()
    Connection.objects.filter(pk=google.pk).update(access_token_expires_at=timezone.now())
    report = push_now(google)
    assert report.stopped == "needs_reconnect"
    assert Connection.objects.get(pk=google.pk).status == "needs_reconnect"
    assert Listing.objects.get(connection=google).dirty  # nothing lost: sent after reconnecting
