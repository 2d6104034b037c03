"""Week rows (the days 1-7, 8-14, 15-21 and 22-28 of each local month): the sums of the day
rows already built, so that the dashboards can read them at once (from now on the fold keeps
them in step, with the month rows)."""

from collections import defaultdict
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations, models

METRICS = ("clicks", "unique_clicks", "bot_clicks", "orders", "revenue", "refunds", "commission")

WEEK_OF = (
    "date_trunc('month', bucket AT TIME ZONE %(tz)s) + (((extract(day FROM bucket AT TIME "
    "ZONE %(tz)s)::int - 1) / 7) * 7) * interval '1 day'"
)
WEEKS_SQL = f"""
INSERT INTO analytics_rollup (grain, dim, key, currency, bucket, {", ".join(METRICS)})
SELECT 'w', dim, key, currency, ({WEEK_OF}) AT TIME ZONE %(tz)s AS week,
  {", ".join(f"SUM({m})" for m in METRICS)}
FROM analytics_rollup
WHERE grain = 'd' AND extract(day FROM bucket AT TIME ZONE %(tz)s) <= 28
GROUP BY dim, key, currency, week
"""  # noqa: S608 - built from constants


def sum_weeks(apps, schema_editor):
    Rollup = apps.get_model("analytics", "Rollup")
    Rollup.objects.filter(grain="w").delete()
    tz = settings.DASHBOARD_TIME_ZONE
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(WEEKS_SQL, {"tz": tz})
        return
    zone = ZoneInfo(tz)
    weeks = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    for day in Rollup.objects.filter(grain="d").values("dim", "key", "currency", "bucket", *METRICS):
        local = day["bucket"].astimezone(zone)
        if local.day > 28:
            continue
        week = local.replace(
            day=1 + (local.day - 1) // 7 * 7, hour=0, minute=0, second=0, microsecond=0, fold=0
        )
        row = weeks[(day["dim"], day["key"], day["currency"], week)]
        for metric in METRICS:
            row[metric] += day[metric]
    Rollup.objects.bulk_create(
        (
            Rollup(grain="w", dim=d, key=k, currency=c, bucket=b, **metrics)
            for (d, k, c, b), metrics in weeks.items()
        ),
        batch_size=500,
    )


def drop_weeks(apps, schema_editor):
    apps.get_model("analytics", "Rollup").objects.filter(grain="w").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_rollup_month_grain"),
    ]

    operations = [
        migrations.AlterField(
            model_name="rollup",
            name="bucket",
            field=models.DateTimeField(
                help_text="The start of the hour, of the local day, week of a month or month."
            ),
        ),
        migrations.AlterField(
            model_name="rollup",
            name="grain",
            field=models.CharField(
                choices=[("h", "Hour"), ("d", "Day"), ("m", "Month"), ("w", "Week of a month")],
                max_length=1,
            ),
        ),
        migrations.RunPython(sum_weeks, drop_weeks),
    ]
