"""Quarter rows: the sums of the month rows already built, so that the dashboards can read
them at once (from now on the fold keeps them in step, with the month rows)."""

from collections import defaultdict
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations, models

METRICS = ("clicks", "unique_clicks", "bot_clicks", "orders", "revenue", "refunds", "commission")

QUARTERS_SQL = f"""
INSERT INTO analytics_rollup (grain, dim, key, currency, bucket, {", ".join(METRICS)})
SELECT 'q', dim, key, currency,
  date_trunc('quarter', bucket AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s AS quarter,
  {", ".join(f"SUM({m})" for m in METRICS)}
FROM analytics_rollup WHERE grain = 'm'
GROUP BY dim, key, currency, quarter
"""  # noqa: S608 - built from constants


def sum_quarters(apps, schema_editor):
    Rollup = apps.get_model("analytics", "Rollup")
    Rollup.objects.filter(grain="q").delete()
    tz = settings.DASHBOARD_TIME_ZONE
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(QUARTERS_SQL, {"tz": tz})
        return
    zone = ZoneInfo(tz)
    quarters = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    for month in Rollup.objects.filter(grain="m").values(
        "dim", "key", "currency", "bucket", *METRICS
    ):
        local = month["bucket"].astimezone(zone)
        quarter = local.replace(
            month=local.month - (local.month - 1) % 3, day=1, hour=0, minute=0, second=0,
            microsecond=0, fold=0,
        )  # fmt: skip
        row = quarters[(month["dim"], month["key"], month["currency"], quarter)]
        for metric in METRICS:
            row[metric] += month[metric]
    Rollup.objects.bulk_create(
        (
            Rollup(grain="q", dim=d, key=k, currency=c, bucket=b, **metrics)
            for (d, k, c, b), metrics in quarters.items()
        ),
        batch_size=500,
    )


def drop_quarters(apps, schema_editor):
    apps.get_model("analytics", "Rollup").objects.filter(grain="q").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_rollup_week_grain"),
    ]

    operations = [
        migrations.AlterField(
            model_name="rollup",
            name="bucket",
            field=models.DateTimeField(
                help_text="The start of the hour, or of the local day, week of a month, month "
                "or quarter."
            ),
        ),
        migrations.AlterField(
            model_name="rollup",
            name="grain",
            field=models.CharField(
                choices=[
                    ("h", "Hour"),
                    ("d", "Day"),
                    ("m", "Month"),
                    ("w", "Week of a month"),
                    ("q", "Quarter"),
                ],
                max_length=1,
            ),
        ),
        migrations.RunPython(sum_quarters, drop_quarters),
    ]
