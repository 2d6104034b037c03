# The media status moves out of the manifest's JSON ("status": pending/ready/failed/withdrawn)
# into its own indexed field; the feed's query gets a partial index.

import ugc.models
from django.db import migrations, models

STATUSES = ("pending", "ready", "failed", "withdrawn")
BATCH = 1000


def _rewrite(apps, change):
    UGCItem = apps.get_model("ugc", "UGCItem")
    batch = []
    items = UGCItem.objects.only("pk", "media_status", "media_manifest").order_by("pk")
    for item in items.iterator(chunk_size=BATCH):
        change(item)
        batch.append(item)
        if len(batch) == BATCH:
            UGCItem.objects.bulk_update(batch, ["media_status", "media_manifest"])
            batch = []
    if batch:
        UGCItem.objects.bulk_update(batch, ["media_status", "media_manifest"])


def status_from_manifest(apps, schema_editor):
    def change(item):
        manifest = dict(item.media_manifest or {})
        status = manifest.pop("status", "pending")
        item.media_status = status if status in STATUSES else "pending"
        if item.media_status == "withdrawn" and "at" in manifest:
            manifest["withdrawn_at"] = manifest.pop("at")
        item.media_manifest = manifest

    _rewrite(apps, change)


def status_into_manifest(apps, schema_editor):
    def change(item):
        manifest = dict(item.media_manifest or {})
        if "withdrawn_at" in manifest:
            manifest["at"] = manifest.pop("withdrawn_at")
        item.media_manifest = {"status": item.media_status, **manifest}

    _rewrite(apps, change)


class Migration(migrations.Migration):

    dependencies = [
        ('ugc', '0002_feed_links_and_metric_flushes'),
    ]

    operations = [
        migrations.AddField(
            model_name='ugcitem',
            name='media_status',
            field=models.CharField(choices=[('pending', 'Pending'), ('ready', 'Ready'), ('failed', 'Failed'), ('withdrawn', 'Withdrawn')], db_index=True, default='pending', editable=False, help_text='Changed only by the services: the media job, archiving, a retry.', max_length=10),
        ),
        migrations.AlterField(
            model_name='ugcitem',
            name='media_manifest',
            field=models.JSONField(blank=True, default=ugc.models.default_manifest, help_text='What the media job made: sizes, display copy, thumbnail, renditions.'),
        ),
        migrations.RunPython(status_from_manifest, status_into_manifest, elidable=True),
        migrations.AddIndex(
            model_name='ugcitem',
            index=models.Index(condition=models.Q(('media_status', 'ready'), ('status', 'published')), fields=['-published_at', '-id'], name='ugc_item_feed'),
        ),
    ]
