# Card links for items published before they were made at publish time, so that the feed
# (`ugc.selectors.feed_page`) only reads. The links are made by the service publishing uses
# (`ugc.services.feed.ugc_card_links_backfill`: `make_card_links` -> `links.services`), since
# a short link needs its code generated and checked as every other link's is. That service
# uses today's models, so it is called only when historical models show an item that needs it:
# a fresh database (tests, new installs) never gets there.

from django.db import migrations
from django.db.models import Exists, OuterRef


def backfill_card_links(apps, schema_editor):
    UGCProductMap = apps.get_model("ugc", "UGCProductMap")
    UGCItemLink = apps.get_model("ugc", "UGCItemLink")
    missing = UGCProductMap.objects.filter(item__status="published").exclude(
        Exists(UGCItemLink.objects.filter(item=OuterRef("item"), product=OuterRef("product")))
    )
    if not missing.exists():
        return
    from ugc.services.feed import ugc_card_links_backfill

    ugc_card_links_backfill()


class Migration(migrations.Migration):

    dependencies = [
        ("links", "0003_click_indexes"),
        ("ugc", "0003_media_status_from_manifest"),
    ]

    operations = [
        # Nothing to undo: the links are kept (clicks on them are credited to the items).
        migrations.RunPython(backfill_card_links, migrations.RunPython.noop),
    ]
