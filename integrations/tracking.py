"""The carrier tracking poll (issue 19): parcels in transit, asked about every
FULFILMENT_TRACKING_EVERY seconds (for FULFILMENT_TRACKING_MAX_DAYS), through a tracking API
in AfterShip's shape (`clients/aftership.py`). A parcel the carrier reports `Delivered` is
delivered (`sales.fulfilment.fulfilment_deliver`, with the carrier's delivery time), which
ends the order's commission holds from then. Without CARRIER_TRACKING_API_KEY nothing is
polled. A failure on one parcel is logged and retried on the next poll; a throttled API
stops the poll (the rest waits for the next one)."""

import logging
import time
from datetime import UTC

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import ApplicationError
from integrations.clients import aftership
from integrations.http import PlatformError, PlatformSession
from sales import carriers
from sales import fulfilment as sales_fulfilment
from sales.fulfilment_models import Fulfilment

logger = logging.getLogger(__name__)


def tracking_poll(*, budget: float = 600.0, limit: int = 200) -> dict:
    report = {"checked": 0, "delivered": 0, "errors": 0}
    if not settings.CARRIER_TRACKING_API_KEY:
        return report
    session = PlatformSession(
        platform="aftership", account="tracking", deadline=time.monotonic() + budget
    )
    for fulfilment_id in sales_fulfilment.fulfilments_to_track(limit=limit):
        parcel = Fulfilment.objects.select_related("order").get(pk=fulfilment_id)
        slug = carriers.CARRIERS[parcel.carrier].aftership_slug
        try:
            if not parcel.tracking_checked_at:
                aftership.create_tracking(
                    session,
                    tracking_number=parcel.tracking_number,
                    slug=slug,
                    order_id=parcel.order.name or parcel.order.external_id,
                )
            tracking = aftership.get_tracking(
                session, tracking_number=parcel.tracking_number, slug=slug
            )
        except PlatformError as exc:
            report["errors"] += 1
            logger.warning(
                "integrations.tracking_failed",
                extra={"fulfilment_id": fulfilment_id, "error": exc.message},
            )
            if exc.throttled:
                break
            continue
        report["checked"] += 1
        tag = str((tracking or {}).get("tag") or "Pending")
        if tag == "Delivered":
            at = parse_datetime(str(tracking.get("shipment_delivery_date") or "")) or None
            if at is not None and timezone.is_naive(at):  # a date without its offset: UTC
                at = timezone.make_aware(at, UTC)
            try:
                sales_fulfilment.fulfilment_deliver(
                    fulfilment_id=fulfilment_id,
                    at=at,
                    tracking_status=tag,
                    reason=f"{carriers.name(parcel.carrier)} tracking says delivered.",
                )
            except ApplicationError as exc:
                logger.warning(
                    "integrations.tracking_refused",
                    extra={"fulfilment_id": fulfilment_id, "error": exc.message},
                )
                continue
            sales_fulfilment.fulfilment_tracking_checked(
                fulfilment_id=fulfilment_id, tracking_status=tag
            )
            report["delivered"] += 1
        else:
            sales_fulfilment.fulfilment_tracking_checked(
                fulfilment_id=fulfilment_id, tracking_status=tag
            )
    return report
