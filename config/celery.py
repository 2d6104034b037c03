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
    "links-clicks-drain": {
        "task": "links.clicks_drain",
        "schedule": 2.0,  # seconds; one drain at a time, each runs until the buffer is empty
        "options": {"expires": 10},
    },
    "previews-refresh-due": {
        "task": "previews.refresh_due",
        "schedule": crontab(minute="*/10"),
    },
    "ugc-media-sweep": {
        "task": "ugc.media_sweep",
        "schedule": crontab(minute="*/10"),
    },
    "ugc-release-stale-claims": {
        "task": "ugc.release_stale_claims",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "ugc-archive-expired-rights": {
        "task": "ugc.archive_expired_rights",
        "schedule": crontab(minute=5, hour=0),  # daily; the feed query checks rights meanwhile
    },
    "ugc-metrics-flush": {
        "task": "ugc.metrics_flush",
        "schedule": 30.0,  # feed impressions and card clicks, buffered in Redis
        "options": {"expires": 25},
    },
    # --- UGC publishing calendar (issue 18): due entries published at most this late ---
    "ugc-publish-scheduled": {
        "task": "ugc.publish_scheduled",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    "catalog-thumbnails-sweep": {
        "task": "catalog.product_images_sweep_thumbnails",
        "schedule": crontab(minute="*/15"),
    },
    # --- sales (issue 12) ---
    "sales-expire-reservations": {
        "task": "sales.expire_reservations",
        "schedule": 60.0,  # stock held by checkouts past RESERVATION_TTL goes back
        "options": {"expires": 50},
    },
    "sales-deliveries-sweep": {
        "task": "sales.deliveries_sweep",
        "schedule": crontab(minute="*/5"),  # deliveries a lost message left unprocessed
    },
    "sales-prune-rejected-deliveries": {
        "task": "sales.prune_rejected_deliveries",
        "schedule": crontab(minute="*/10"),  # keeps forged or broken deliveries bounded
    },
    # --- end sales ---
    # --- integrations: catalog sync -----------------------------------------------------
    "integrations-sync-push": {
        "task": "integrations.sync_push",
        "schedule": 5.0,  # seconds: a changed price or stock reaches destinations in a minute
        "options": {"expires": 4},
    },
    "integrations-sync-sweep": {
        "task": "integrations.sync_sweep",
        "schedule": crontab(minute="*/10"),
    },
    "integrations-refresh-tokens": {
        "task": "integrations.refresh_tokens",
        "schedule": crontab(minute="*/10"),
    },
    # --- social pulls and rights requests (issue 18) ---
    "integrations-social-pull-due": {
        "task": "integrations.social_pull_due",
        "schedule": 60.0,  # each source says how often it is pulled
        "options": {"expires": 50},
    },
    "integrations-social-check-deleted": {
        "task": "integrations.social_check_deleted",
        "schedule": crontab(minute=41),  # hourly: posts deleted on the platform leave the feed
    },
    "integrations-rights-requests-watch": {
        "task": "integrations.rights_requests_watch",
        "schedule": crontab(minute="*/5"),  # authors' replies with the hashtag
    },
    "ugc-rights-requests-expire": {
        "task": "ugc.rights_requests_expire",
        "schedule": crontab(minute=23),  # hourly: unanswered requests past their expiry
    },
    "integrations-compliance-sweep": {
        "task": "integrations.compliance_sweep",
        "schedule": crontab(minute=17),  # hourly: lost compliance jobs, expired exports
    },
    # --- end integrations ---------------------------------------------------------------
    # --- attribution (issue 13) ---
    "attribution-conversions-sweep": {
        "task": "attribution.conversions_sweep",
        "schedule": crontab(minute="*/5"),  # conversions a lost message left pending
    },
    # --- end attribution ---
    # --- creator portal (issue 15) ---
    "creators-prune-login-links": {
        "task": "creators.prune_login_links",
        "schedule": crontab(minute=20, hour=3),  # daily: used and expired one-time login links
    },
    # --- end creator portal ---
    # --- ledger and payouts (issue 14) ---
    "sales-commissions-release-due": {
        "task": "sales.commissions_release_due",
        "schedule": crontab(minute="*/15"),  # holds that ended become available
    },
    "sales-payout-runs-due": {
        "task": "sales.payout_runs_due",
        "schedule": crontab(minute=0, hour=6),  # scheduled runs, waiting for approval
    },
    "sales-payouts-poll": {
        "task": "sales.payouts_poll",
        "schedule": crontab(minute="*/10"),  # payouts no webhook confirmed yet
    },
    "sales-ledger-verify": {
        "task": "sales.ledger_verify",
        "schedule": crontab(minute=30, hour=3),  # nightly; the console shows the result
    },
    # --- end ledger ---
    # --- analytics (issue 16) ---
    "analytics-rollups-fold": {
        "task": "analytics.rollups_fold",
        "schedule": 60.0,  # new clicks, orders, refunds and ledger postings into the rollups
        "options": {"expires": 55},
    },
    "analytics-rollups-verify": {
        "task": "analytics.rollups_verify",
        "schedule": crontab(minute=45, hour=3),  # nightly, beside ledger_verify
    },
    # --- end analytics ---
    # --- fulfilment and stock defence (issue 19) ---
    "sales-stock-anomalies": {
        "task": "sales.stock_anomalies",
        "schedule": 60.0,  # networks hoarding reservations, products expiring unpaid
        "options": {"expires": 50},
    },
    "integrations-fulfilments-push": {
        "task": "integrations.fulfilments_push",
        "schedule": 30.0,  # parcels waiting for their channel, and retries after backoff
        "options": {"expires": 25},
    },
    "integrations-tracking-poll": {
        "task": "integrations.tracking_poll",
        "schedule": crontab(minute="*/30"),  # carrier tracking of parcels in transit
    },
    # --- end fulfilment ---
}
