"""Month rows: the sums of the day rows already built, so that the dashboards can read them
at once (from now on the fold keeps them in step)."""

from collections import defaultdict
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations, models

METRICS = ("clicks", "unique_clicks", "bot_clicks", "orders", "revenue", "refunds", "commission")

MONTHS_SQL = f"""
INSERT INTO analytics_rollup (grain, dim, key, currency, bucket, {", ".join(METRICS)})
SELECT 'm', dim, key, currency,
  date_trunc('month', bucket AT TIME ZONE %s) AT TIME ZONE %s AS month,
  {", ".join(f"SUM({m})" for m in METRICS)}
FROM analytics_rollup WHERE grain = 'd'
GROUP BY dim, key, currency, month
"""  # noqa: S608 - built from constants


def sum_months(apps, schema_editor):
    Rollup = apps.get_model("analytics", "Rollup")
    Rollup.objects.filter(grain="m").delete()
    tz = settings.DASHBOARD_TIME_ZONE
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(MONTHS_SQL, [tz, tz])
        return
    zone = ZoneInfo(tz)
    months = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    for day in Rollup.objects.filter(grain="d").values("dim", "key", "currency", "bucket", *METRICS):
        local = day["bucket"].astimezone(zone)
        month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0, fold=0)
        row = months[(day["dim"], day["key"], day["currency"], month)]
        for metric in METRICS:
            row[metric] += day[metric]
    Rollup.objects.bulk_create(
        (
            Rollup(grain="m", dim=d, key=k, currency=c, bucket=b, **metrics)
            for (d, k, c, b), metrics in months.items()
        ),
        batch_size=500,
    )


def drop_months(apps, schema_editor):
    apps.get_model("analytics", "Rollup").objects.filter(grain="m").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_rollups"),
    ]

    operations = [
        migrations.AlterField(
            model_name="rollup",
            name="bucket",
            field=models.DateTimeField(
                help_text="The start of the hour, of the local day or of the local month."
            ),
        ),
        migrations.AlterField(
            model_name="rollup",
            name="grain",
            field=models.CharField(
                choices=[("h", "Hour"), ("d", "Day"), ("m", "Month")], max_length=1
            ),
        ),
        migrations.RunPython(sum_months, drop_months),
    ]
