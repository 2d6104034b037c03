"""UGC's data migrations, run for real: migrate back, write rows as they were, migrate forward."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(target: list[tuple[str, str]]):
    """Migrate to `target` and return the historical apps there."""
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    executor.loader.build_graph()
    return executor.loader.project_state(target).apps


@pytest.fixture
def back_to_latest():
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def old_item(apps, n: int, manifest: dict, **fields):
    return apps.get_model("ugc", "UGCItem").objects.create(
        source="upload",
        media_type="image",
        original=f"ugc/originals/{n}.png",
        file_sha256=f"{n:064x}",
        media_manifest=manifest,
        **fields,
    )


@pytest.mark.django_db(transaction=True)
def test_the_media_status_moves_from_the_manifest_into_its_field_and_back(back_to_latest):
    before = [("ugc", "0002_feed_links_and_metric_flushes")]
    after = [("ugc", "0003_media_status_from_manifest")]
    apps = migrate(before)
    ready = {"status": "ready", "kind": "image", "width": 64, "height": 64}
    ids = {
        "ready": old_item(apps, 1, ready).pk,
        "failed": old_item(apps, 2, {"status": "failed", "error": "ffprobe found no video"}).pk,
        "withdrawn": old_item(apps, 3, {"status": "withdrawn", "at": "2026-11-30T10:00:00"}).pk,
        "pending": old_item(apps, 4, {"status": "pending"}).pk,
        "empty": old_item(apps, 5, {}).pk,
        "unknown": old_item(apps, 6, {"status": "processing"}).pk,
    }

    apps = migrate(after)
    items = apps.get_model("ugc", "UGCItem").objects.in_bulk(list(ids.values()))
    got = {name: (items[pk].media_status, items[pk].media_manifest) for name, pk in ids.items()}
    assert got == {
        "ready": ("ready", {"kind": "image", "width": 64, "height": 64}),
        "failed": ("failed", {"error": "ffprobe found no video"}),
        "withdrawn": ("withdrawn", {"withdrawn_at": "2026-11-30T10:00:00"}),
        "pending": ("pending", {}),
        "empty": ("pending", {}),
        "unknown": ("pending", {}),  # the media sweep runs the job again
    }

    apps = migrate(before)
    items = apps.get_model("ugc", "UGCItem").objects.in_bulk(list(ids.values()))
    assert items[ids["ready"]].media_manifest == ready
    assert items[ids["withdrawn"]].media_manifest == {
        "status": "withdrawn",
        "at": "2026-11-30T10:00:00",
    }


@pytest.mark.django_db(transaction=True)
def test_items_published_before_card_links_get_them_from_the_migration(back_to_latest):
    from links.models import ShortLink
    from ugc.models import UGCItemLink

    apps = migrate([("ugc", "0003_media_status_from_manifest")])
    product = apps.get_model("catalog", "Product").objects.create(title="Hoodie", slug="hoodie")
    maps = apps.get_model("ugc", "UGCProductMap").objects
    published = old_item(apps, 1, {}, status="published", media_status="ready")
    maps.create(item=published, product=product)
    queued = old_item(apps, 2, {}, status="queued")
    maps.create(item=queued, product=product)

    migrate([("ugc", "0004_backfill_feed_card_links")])
    link = UGCItemLink.objects.select_related("short_link").get()
    assert (link.item_id, link.product_id) == (published.pk, product.pk)
    assert link.short_link.utm_content == f"ugc-{published.pk}"
    assert ShortLink.objects.count() == 1
