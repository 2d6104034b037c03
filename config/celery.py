"""The Celery application and the one place periodic jobs are declared."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("shoploop")
# Every CELERY_* Django setting configures the app (see config/settings.py).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic jobs: the beat schedule lives here and nowhere else.
app.conf.beat_schedule = {
    "catalog-thumbnails-sweep": {
        "task": "catalog.product_images_sweep_thumbnails",
        "schedule": crontab(minute="*/15"),
    },
}
