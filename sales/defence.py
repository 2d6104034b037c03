"""Stock defence (issue 19): reservations that bots cannot hoard.

Contract:
- Caps, checked by `reservation_create` inside its transaction, after a PostgreSQL advisory
  lock on the reservation's network and visitor (so two requests from one network cannot
  both take the last slot): active reservations per visitor (RESERVATION_MAX_PER_VISITOR)
  and per network (/24 IPv4, /64 IPv6: RESERVATION_MAX_PER_NETWORK, or a throttle's lower
  cap), and units of one product held by one visitor or one network
  (RESERVATION_MAX_UNITS_PER_PRODUCT_*). CHECKOUT_MAX_QUANTITY bounds a line. Over a cap:
  ApplicationError `reservation_limit`, nothing held.
- The anomaly job (`stock_anomalies_detect`, every minute) looks at the last
  STOCK_DEFENCE_WINDOW seconds. Two rules:
  - a network that reserved across many products and paid for (almost) none
    (`network_hoarding`);
  - a product whose reservations expire unpaid far above its own rate over the days before
    (`product_expiries`); the networks behind a large share of those expiries are suspects.
  A rule that trips throttles the network (`ReservationThrottle`: a lower cap and a shorter
  expiry for STOCK_DEFENCE_THROTTLE_FOR; its reservations already held expire sooner too) and
  raises a `StockAlert` with the evidence, shown in the console. A network already throttled
  is not throttled twice.
- Nothing here stores a full IP address: the network and a keyed hash of the visitor cookie.
"""

import ipaddress
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from catalog.models import Product, Variant
from core.crypto import keyed_hash
from core.errors import ApplicationError
from sales.fulfilment_models import ReservationThrottle, StockAlert
from sales.models import Reservation

logger = logging.getLogger(__name__)

R = Reservation.Status


def network_of(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) an address is in; '' if it is not an address."""
    try:
        address = ipaddress.ip_address((ip or "").split("%")[0])
    except ValueError:
        return ""
    if address.version == 4:
        return str(ipaddress.IPv4Network((int(address), 24), strict=False))
    if address.ipv4_mapped:
        return network_of(str(address.ipv4_mapped))
    return str(ipaddress.IPv6Network((int(address), 64), strict=False))


def visitor_of(cookie_value: str) -> str:
    """A keyed hash of the visitor cookie: matches the same visitor, reveals nothing."""
    return keyed_hash("reservation-visitor", cookie_value)[:32] if cookie_value else ""


def active_throttle(network: str, *, now=None) -> ReservationThrottle | None:
    if not network:
        return None
    now = now or timezone.now()
    return (
        ReservationThrottle.objects.filter(network=network, lifted_at=None, expires_at__gt=now)
        .order_by("max_active", "-pk")
        .first()
    )


def _lock(*names: str) -> None:
    """Serialise reservations of one network (and one visitor) until the transaction ends."""
    if connection.vendor != "postgresql":
        return  # the embedded SQLite default writes one transaction at a time anyway
    with connection.cursor() as cursor:
        for name in sorted(n for n in names if n):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 19))", [name])


def _held(**filters):
    return Reservation.objects.filter(status=R.ACTIVE, expires_at__gt=timezone.now(), **filters)


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, code="reservation_limit", fields={"quantity": message})


def check_caps(*, variant: Variant, quantity: int, visitor: str, network: str) -> int:
    """In the reservation's transaction: refuse over a cap; else the expiry in seconds."""
    _lock(f"net:{network}" if network else "", f"visitor:{visitor}" if visitor else "")
    ttl = settings.RESERVATION_TTL
    product_id = variant.product_id
    if visitor:
        if _held(visitor=visitor).count() >= settings.RESERVATION_MAX_PER_VISITOR:
            raise _refuse(
                f"You already have {settings.RESERVATION_MAX_PER_VISITOR} checkouts in progress; "
                "finish one or wait for it to end."
            )
        units = (
            _held(visitor=visitor, variant__product_id=product_id).aggregate(n=Sum("quantity"))["n"]
            or 0
        )
        cap = settings.RESERVATION_MAX_UNITS_PER_PRODUCT_VISITOR
        if units + quantity > cap:
            raise _refuse(f"At most {cap} of this product per shopper at a time.")
    if network:
        throttle = active_throttle(network)
        cap = settings.RESERVATION_MAX_PER_NETWORK
        if throttle is not None:
            cap = min(cap, throttle.max_active)
            ttl = min(ttl, throttle.ttl_seconds)
        if _held(network=network).count() >= cap:
            raise _refuse("Too many checkouts are in progress from your network; try again soon.")
        units = (
            _held(network=network, variant__product_id=product_id).aggregate(n=Sum("quantity"))["n"]
            or 0
        )
        cap = settings.RESERVATION_MAX_UNITS_PER_PRODUCT_NETWORK
        if units + quantity > cap:
            raise _refuse("Too many of this product are held from your network; try again soon.")
    return ttl


# -- the anomaly job -----------------------------------------------------------------------


def _throttle(network: str, *, now, reason: str, evidence: dict) -> ReservationThrottle | None:
    """Throttle `network` (unless it already is); its held reservations expire sooner."""
    if not network or active_throttle(network, now=now) is not None:
        return None
    ttl = settings.STOCK_DEFENCE_THROTTLE_TTL
    throttle = ReservationThrottle.objects.create(
        network=network, max_active=settings.STOCK_DEFENCE_THROTTLE_MAX_ACTIVE,
        ttl_seconds=ttl, reason=reason[:2000], evidence=evidence, created_at=now,
        expires_at=now + timedelta(seconds=settings.STOCK_DEFENCE_THROTTLE_FOR),
    )  # fmt: skip
    Reservation.objects.filter(
        network=network, status=R.ACTIVE, expires_at__gt=now + timedelta(seconds=ttl)
    ).update(expires_at=now + timedelta(seconds=ttl))
    logger.warning("sales.network_throttled", extra={"network": network, "reason": reason[:200]})
    return throttle


def _hoarding_networks(since, now) -> list[dict]:
    rows = (
        Reservation.objects.filter(created_at__gte=since, created_at__lte=now)
        .exclude(network="")
        .values("network")
        .annotate(
            reservations=Count("pk"),
            products=Count("variant__product", distinct=True),
            paid=Count("pk", filter=Q(status=R.COMMITTED)),
        )
        .filter(
            reservations__gte=settings.STOCK_DEFENCE_NETWORK_MIN_RESERVATIONS,
            products__gte=settings.STOCK_DEFENCE_NETWORK_MIN_PRODUCTS,
        )
        .order_by("network")
    )
    share = settings.STOCK_DEFENCE_NETWORK_MAX_PAID_SHARE
    return [row for row in rows if row["paid"] <= share * row["reservations"]]


def _ended(since, until):
    """Reservations that ended (paid, released, expired) in [since, until)."""
    return Reservation.objects.filter(
        status__in=[R.COMMITTED, R.RELEASED, R.EXPIRED], updated_at__gte=since,
        updated_at__lt=until,
    )  # fmt: skip


def _expiring_products(since, now) -> list[dict]:
    window = (
        _ended(since, now)
        .values("variant__product")
        .annotate(ended=Count("pk"), expired=Count("pk", filter=Q(status=R.EXPIRED)))
        .filter(expired__gte=settings.STOCK_DEFENCE_PRODUCT_MIN_EXPIRED)
    )
    found = []
    for row in window:
        product_id = row["variant__product"]
        baseline_from = since - timedelta(days=settings.STOCK_DEFENCE_BASELINE_DAYS)
        base = (
            _ended(baseline_from, since)
            .filter(variant__product_id=product_id)
            .aggregate(ended=Count("pk"), expired=Count("pk", filter=Q(status=R.EXPIRED)))
        )
        rate = row["expired"] / row["ended"]
        if base["ended"] >= 10:
            baseline = base["expired"] / base["ended"]
            threshold = min(0.95, settings.STOCK_DEFENCE_PRODUCT_EXPIRY_FACTOR * baseline)
        else:
            baseline = None
            threshold = settings.STOCK_DEFENCE_PRODUCT_EXPIRY_RATE
        if rate >= threshold:
            found.append({**row, "product_id": product_id, "rate": round(rate, 3),
                          "baseline_rate": None if baseline is None else round(baseline, 3),
                          "threshold": round(threshold, 3)})  # fmt: skip
    return found


def stock_anomalies_detect(*, now=None) -> dict:
    """The anomaly job (see the module's contract); returns what it did."""
    now = now or timezone.now()
    since = now - timedelta(seconds=settings.STOCK_DEFENCE_WINDOW)
    report = {"throttled": [], "alerts": 0}
    with transaction.atomic(durable=True):
        for row in _hoarding_networks(since, now):
            network = row["network"]
            top = list(
                Reservation.objects.filter(network=network, created_at__gte=since)
                .values("variant__product__title")
                .annotate(n=Count("pk"))
                .order_by("-n")[:10]
            )
            evidence = {
                "window_seconds": settings.STOCK_DEFENCE_WINDOW,
                "reservations": row["reservations"],
                "products": row["products"],
                "paid": row["paid"],
                "top_products": [[t["variant__product__title"], t["n"]] for t in top],
            }
            reason = (
                f"{network} made {row['reservations']} reservations across {row['products']} "
                f"products in {settings.STOCK_DEFENCE_WINDOW // 60} minutes and paid for "
                f"{row['paid']}."
            )
            throttle = _throttle(network, now=now, reason=reason, evidence=evidence)
            if throttle is not None:
                StockAlert.objects.create(
                    kind=StockAlert.Kind.NETWORK_HOARDING, network=network, message=reason,
                    evidence=evidence, throttle=throttle, created_at=now,
                )  # fmt: skip
                report["throttled"].append(network)
                report["alerts"] += 1
        for row in _expiring_products(since, now):
            product_id = row["product_id"]
            if StockAlert.objects.filter(
                kind=StockAlert.Kind.PRODUCT_EXPIRIES, product_id=product_id,
                created_at__gte=since,
            ).exists():  # fmt: skip
                continue
            networks = list(
                _ended(since, now)
                .filter(variant__product_id=product_id, status=R.EXPIRED)
                .exclude(network="")
                .values("network")
                .annotate(n=Count("pk"))
                .order_by("-n")[:20]
            )
            suspects = [
                n for n in networks
                if n["n"] >= settings.STOCK_DEFENCE_SUSPECT_SHARE * row["expired"]
            ]  # fmt: skip
            title = Product.objects.filter(pk=product_id).values_list("title", flat=True).first()
            baseline = row["baseline_rate"]
            message = (
                f"{title}: {row['expired']} of {row['ended']} reservations expired unpaid in "
                f"{settings.STOCK_DEFENCE_WINDOW // 60} minutes ({row['rate']:.0%}; "
                + (f"normally {baseline:.0%})." if baseline is not None else "no history).")
            )
            evidence = {
                "window_seconds": settings.STOCK_DEFENCE_WINDOW,
                "expired": row["expired"],
                "ended": row["ended"],
                "rate": row["rate"],
                "baseline_rate": baseline,
                "threshold": row["threshold"],
                "networks": [[n["network"], n["n"]] for n in networks[:10]],
            }
            throttled = []
            for suspect in suspects:
                made = _throttle(suspect["network"], now=now, reason=message, evidence=evidence)
                if made is not None:
                    throttled.append(made)
                    report["throttled"].append(suspect["network"])
            StockAlert.objects.create(
                kind=StockAlert.Kind.PRODUCT_EXPIRIES, product_id=product_id,
                network=", ".join(s["network"] for s in suspects)[:64], message=message,
                evidence=evidence, throttle=throttled[0] if throttled else None, created_at=now,
            )  # fmt: skip
            report["alerts"] += 1
    if report["alerts"]:
        logger.warning("sales.stock_anomalies", extra={"alerts": report["alerts"]})
    return report


def throttle_lift(*, throttle_id: int, actor=None) -> ReservationThrottle:
    with transaction.atomic(durable=True):
        throttle = ReservationThrottle.objects.select_for_update().filter(pk=throttle_id).first()
        if throttle is None:
            raise ApplicationError(f"Throttle #{throttle_id} does not exist.", code="not_found")
        if throttle.lifted_at is None:
            throttle.lifted_at = timezone.now()
            throttle.reason += f"\nLifted by {actor or 'a job'}."
            throttle.save(update_fields=["lifted_at", "reason"])
    return throttle


def alert_acknowledge(*, alert_id: int, actor=None) -> StockAlert:
    with transaction.atomic(durable=True):
        alert = StockAlert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None:
            raise ApplicationError(f"Alert #{alert_id} does not exist.", code="not_found")
        if alert.acknowledged_at is None:
            alert.acknowledged_at = timezone.now()
            alert.save(update_fields=["acknowledged_at"])
    return alert
