"""Demo traffic for the dashboards: ninety days of clicks on every demo link (countries,
devices, sources, QR scans, bots and link unfurls), stored as the drain stores them, then
the rollups folded, so that the console's home is lively under `make run`. Idempotent: the
clicks have fixed ids, and a second seed stores none of them again."""

import random
import uuid
from datetime import timedelta

from django.utils import timezone

from analytics import services as analytics_services
from links import clicks as click_store
from links.models import ShortLink

DAYS = 90
SOURCES = ["tiktok", "tiktok", "instagram", "youtube", "", ""]
REFERRERS = ["", "", "www.tiktok.com", "l.instagram.com", "t.co"]
COUNTRIES = ["DE", "DE", "FR", "US", "US", "GB", "NL", "ES", "IT", "JP"]


def seed_analytics() -> dict:
    rng = random.Random(16)  # noqa: S311 (demo data)
    now = timezone.now()
    links = list(ShortLink.objects.order_by("pk"))
    rows = []
    for days_ago in range(DAYS, -1, -1):
        # A growing shop: more clicks on recent days, more on weekends.
        day = now - timedelta(days=days_ago)
        volume = 4 + (DAYS - days_ago) // 6 + (6 if day.weekday() >= 5 else 0)
        for n in range(rng.randint(volume, volume * 2)):
            link = rng.choice(links)
            bot = rng.random() < 0.07
            rows.append({
                "click_id": uuid.uuid5(uuid.NAMESPACE_URL, f"demo-analytics-{days_ago}-{n}").hex,
                "link_id": link.pk, "creator_id": link.creator_id, "product_id": link.product_id,
                "ts": (day - timedelta(minutes=rng.randint(0, 1400))).timestamp(),
                "route": "default", "country": rng.choice(COUNTRIES),
                "device_type": rng.choice(["mobile", "mobile", "mobile", "desktop", "tablet"]),
                "os": "iOS", "browser": "Mobile Safari", "in_app": "",
                "referrer_host": "" if bot else rng.choice(REFERRERS),
                "utm_source": rng.choice(SOURCES), "utm_medium": "", "utm_campaign": "",
                "utm_content": "", "utm_term": "", "is_qr": rng.random() < 0.05,
                "is_bot": bot, "is_unique": not bot and rng.random() < 0.8,
                "network": "192.0.2.0/24", "visitor_hash": "",
            })  # fmt: skip
    stored = click_store.store(rows)
    folded = analytics_services.rollups_fold()
    return {"clicks": stored, "days": folded["days"]}
