"""Stock defence (issue 19): caps per visitor, network and product; the anomaly job replayed
against an attack and real shoppers at once; "only N left" from available stock."""

import threading
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.db import connections
from django.utils import timezone

from catalog.models import Variant
from core.errors import ApplicationError
from sales import defence, services
from sales.fulfilment_models import ReservationThrottle, StockAlert
from sales.models import Reservation
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.sales.factories import SalesChannelFactory

pytestmark = pytest.mark.django_db
R = Reservation.Status
ATTACK_NET = "203.0.113.0/24"


def reserve(variant, key, *, visitor="", network="", quantity=1):
    return services.reservation_create(
        variant_id=variant.pk, quantity=quantity, key=key, visitor=visitor, network=network
    )


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("not-an-ip", ""),
        ("", ""),
    ],
)
def test_networks_are_a_slash_24_or_a_slash_64(ip, network):
    assert defence.network_of(ip) == network


def test_a_visitor_holds_at_most_its_cap_and_one_finished_frees_a_slot(settings):
    settings.RESERVATION_MAX_PER_VISITOR = 2
    variants = [VariantFactory(stock_on_hand=10) for _ in range(3)]
    first = reserve(variants[0], "v-1", visitor="visitor-a")
    reserve(variants[1], "v-2", visitor="visitor-a")
    with pytest.raises(ApplicationError, match="already have 2 checkouts") as refused:
        reserve(variants[2], "v-3", visitor="visitor-a")
    assert refused.value.code == "reservation_limit"
    assert Variant.objects.get(pk=variants[2].pk).stock_reserved == 0  # nothing held
    reserve(variants[2], "v-4", visitor="visitor-b")  # another shopper is not affected
    services.reservation_release(reservation_id=first.pk, reason="Paid elsewhere.")
    reserve(variants[2], "v-5", visitor="visitor-a")


def test_units_of_one_product_are_capped_per_visitor_and_per_network(settings):
    settings.RESERVATION_MAX_UNITS_PER_PRODUCT_VISITOR = 4
    settings.RESERVATION_MAX_UNITS_PER_PRODUCT_NETWORK = 6
    product = ProductFactory()
    small, large = (VariantFactory(product=product, stock_on_hand=50) for _ in range(2))
    reserve(small, "p-1", visitor="a", network=ATTACK_NET, quantity=3)
    with pytest.raises(ApplicationError, match="At most 4 of this product per shopper"):
        reserve(large, "p-2", visitor="a", network=ATTACK_NET, quantity=2)
    reserve(large, "p-3", visitor="b", network=ATTACK_NET, quantity=3)
    with pytest.raises(ApplicationError, match="held from your network"):
        reserve(large, "p-4", visitor="c", network=ATTACK_NET, quantity=1)


def test_the_quantity_of_a_line_is_bounded(settings):
    settings.CHECKOUT_MAX_QUANTITY = 5
    variant = VariantFactory(stock_on_hand=50)
    with pytest.raises(ApplicationError, match="from 1 to 5"):
        reserve(variant, "q-1", quantity=6)


@pytest.mark.django_db(transaction=True)
def test_one_network_racing_for_its_last_slot_gets_it_once(settings):
    settings.RESERVATION_MAX_PER_NETWORK = 3
    variant = VariantFactory(stock_on_hand=100)
    for n in range(2):
        reserve(variant, f"pre-{n}", visitor=f"pre-{n}", network=ATTACK_NET)
    barrier = threading.Barrier(6)
    outcomes = []

    def attempt(n):
        try:
            barrier.wait(timeout=10)
            reserve(variant, f"race-{n}", visitor=f"bot-{n}", network=ATTACK_NET)
            outcomes.append("held")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["held"] + ["reservation_limit"] * 5
    assert Reservation.objects.filter(network=ATTACK_NET, status=R.ACTIVE).count() == 3


def test_a_replayed_attack_is_throttled_and_real_shoppers_are_not(settings):
    """Hundreds of reservations from one network across a minute (six bursts of 50, the job
    running after each, as beat runs it every minute or so), across twelve products, with a
    rotating cookie per request; meanwhile 60 shoppers from their own networks buy."""
    settings.RESERVATION_MAX_PER_NETWORK = 40
    products = [VariantFactory(stock_on_hand=500) for _ in range(12)]
    shopper_outcomes = {"held": 0, "refused": 0}
    attack = {"held": 0, "refused": 0}
    shopper = 0
    for burst in range(6):
        for n in range(50):
            variant = products[(burst * 50 + n) % len(products)]
            try:
                reserve(variant, f"bot-{burst}-{n}", visitor=f"bot-cookie-{burst}-{n}",
                        network=ATTACK_NET)  # fmt: skip
                attack["held"] += 1
            except ApplicationError as exc:
                assert exc.code == "reservation_limit"
                attack["refused"] += 1
            if n % 5 == 0:  # a real shopper every few bot requests, from their own network
                variant = products[shopper % len(products)]
                try:
                    held = reserve(variant, f"shopper-{shopper}", visitor=f"shopper-{shopper}",
                                   network=f"198.51.{shopper}.0/24")  # fmt: skip
                    shopper_outcomes["held"] += 1
                    if shopper % 2 == 0:  # half of them pay
                        services.reservation_commit(reservation_id=held.pk)
                except ApplicationError:
                    shopper_outcomes["refused"] += 1
                shopper += 1
        defence.stock_anomalies_detect()

    assert shopper == 60 and shopper_outcomes == {"held": 60, "refused": 0}
    assert attack["held"] + attack["refused"] == 300
    assert attack["held"] <= 40  # the cap stopped the burst; the throttle keeps it down
    throttle = ReservationThrottle.objects.get(network=ATTACK_NET)
    assert throttle.max_active == settings.STOCK_DEFENCE_THROTTLE_MAX_ACTIVE
    assert not ReservationThrottle.objects.exclude(network=ATTACK_NET).exists()
    # The bots' held reservations now end within the throttle's short expiry.
    latest = timezone.now() + timedelta(seconds=settings.STOCK_DEFENCE_THROTTLE_TTL + 5)
    held = Reservation.objects.filter(network=ATTACK_NET, status=R.ACTIVE)
    assert held.exists() and not held.filter(expires_at__gt=latest).exists()
    # Shoppers' reservations keep the full expiry.
    shoppers = Reservation.objects.filter(network__startswith="198.51.", status=R.ACTIVE)
    assert shoppers.count() == 30
    assert not shoppers.filter(expires_at__lt=timezone.now() + timedelta(minutes=10)).exists()
    alert = StockAlert.objects.get(kind=StockAlert.Kind.NETWORK_HOARDING)
    assert alert.network == ATTACK_NET and alert.throttle == throttle
    assert alert.evidence["products"] == 12 and alert.evidence["paid"] == 0
    assert alert.evidence["reservations"] == attack["held"]
    # Once the bots' holds expire, the throttled network gets two at a time, no more.
    services.reservations_expire(now=latest)
    reserve(products[0], "after-1", visitor="x1", network=ATTACK_NET)
    reserve(products[1], "after-2", visitor="x2", network=ATTACK_NET)
    with pytest.raises(ApplicationError, match="from your network"):
        reserve(products[2], "after-3", visitor="x3", network=ATTACK_NET)


def test_a_product_expiring_far_above_its_normal_rate_throttles_the_networks_behind_it():
    target = VariantFactory(stock_on_hand=500)
    other = VariantFactory(stock_on_hand=500)
    # Its normal week: 20 reservations, 2 of them expired unpaid (10%).
    for n in range(20):
        r = reserve(target, f"past-{n}", visitor=f"p{n}", network=f"192.0.{n}.0/24")
        if n < 2:
            services.reservations_expire(now=r.expires_at + timedelta(seconds=1))
        else:
            services.reservation_commit(reservation_id=r.pk)
    Reservation.objects.filter(key__startswith="past-").update(
        updated_at=timezone.now() - timedelta(days=2)
    )
    # Now: bots from two networks (one product each time, so no network rule) hold it and
    # let it expire; a shopper from a third network also lets one expire.
    for n in range(30):
        net = ATTACK_NET if n % 2 else "198.18.0.0/24"
        reserve(target, f"bot-{n}", visitor=f"b{n}", network=net)
    reserve(target, "shopper-1", visitor="s1", network="198.51.100.0/24")
    reserve(other, "shopper-2", visitor="s2", network="198.51.101.0/24")
    services.reservations_expire(now=timezone.now() + timedelta(hours=1))
    report = defence.stock_anomalies_detect()
    assert sorted(report["throttled"]) == ["198.18.0.0/24", ATTACK_NET]
    alert = StockAlert.objects.get(kind=StockAlert.Kind.PRODUCT_EXPIRIES)
    assert alert.product_id == target.product_id
    assert alert.evidence["expired"] == 31 and alert.evidence["baseline_rate"] == 0.1
    assert "normally 10%" in alert.message
    assert not ReservationThrottle.objects.filter(network__startswith="198.51.").exists()
    # The job running again raises nothing new.
    assert defence.stock_anomalies_detect() == {"throttled": [], "alerts": 0}


def test_normal_traffic_trips_nothing():
    variants = [VariantFactory(stock_on_hand=100) for _ in range(5)]
    for n in range(40):
        r = reserve(variants[n % 5], f"n-{n}", visitor=f"v{n}", network=f"10.{n}.0.0/24")
        if n % 3:
            services.reservation_commit(reservation_id=r.pk)
    services.reservations_expire(now=timezone.now() + timedelta(hours=1))
    assert defence.stock_anomalies_detect() == {"throttled": [], "alerts": 0}


def test_the_checkout_caps_a_visitor_by_its_cookie_and_its_network(client, settings):
    settings.RESERVATION_MAX_PER_VISITOR = 2
    settings.CHECKOUT_TEST_MODE = True
    settings.DEBUG = True
    SalesChannelFactory(provider="stripe", checkout=True)
    variant = VariantFactory(stock_on_hand=20)
    answers = [
        client.post("/checkout/", {"variant": variant.pk, "quantity": 1, "key": f"c-{n}"},
                    REMOTE_ADDR="203.0.113.9").status_code
        for n in range(3)
    ]  # fmt: skip
    assert answers == [303, 303, 429]
    assert "sl_buyer" in client.cookies
    held = Reservation.objects.filter(status=R.ACTIVE)
    assert set(held.values_list("network", flat=True)) == {ATTACK_NET}
    assert len(set(held.values_list("visitor", flat=True))) == 1
    assert client.cookies["sl_buyer"].value not in held.first().visitor  # only a keyed hash


def test_only_n_left_counts_available_stock_never_reserved_alone(client, settings):
    settings.STOCK_LOW_SHOWN_BELOW = 5
    SalesChannelFactory(provider="stripe", checkout=True)
    product = ProductFactory(slug="tee")
    variant = VariantFactory(product=product, sku="TEE-M", stock_on_hand=8)

    def shown():
        soup = BeautifulSoup(client.get("/products/tee/").content, "lxml")
        note = soup.select_one(".units-left")
        return note.get_text(strip=True) if note else None

    assert shown() is None  # 8 available: nothing said
    reserve(variant, "r-1", quantity=4)
    assert shown() == "Only 4 left"  # 8 on hand, 4 held by a checkout in progress
    Variant.objects.filter(pk=variant.pk).update(stock_committed=3)
    assert shown() == "Only 1 left"
    services.reservations_expire(now=timezone.now() + timedelta(hours=1))
    assert shown() == "Only 5 left"
