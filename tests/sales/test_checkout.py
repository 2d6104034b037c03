"""The Buy button: reservation, the Stripe Checkout Session through the API, the webhook that
commits it; and the test-mode gateway."""

import re
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from bs4 import BeautifulSoup
from django.core import signing

from catalog.models import Variant
from links.redirect import ATTRIBUTION_SALT
from sales.models import Order, Reservation, WebhookDelivery
from tests.catalog.factories import ProductFactory, VariantFactory
from tests.sales.factories import SalesChannelFactory


def attribution_cookie(click="0190-click", code="abc", creator="", product=""):
    import time

    value = "|".join([click, code, creator, product, "tiktok", str(int(time.time()))])
    return signing.Signer(salt=ATTRIBUTION_SALT).sign(value)


@pytest.fixture
def shop(db):
    product = ProductFactory(slug="hoodie", title="Cloud Hoodie")
    variant = VariantFactory(product=product, sku="HOOD-M", price="19.99", stock_on_hand=3)
    return product, variant


def buy(client, variant, *, key="k-1", quantity=1, slclid=""):
    return client.post(
        "/checkout/",
        {
            "variant": variant.pk,
            "quantity": quantity,
            "key": key,
            "slclid": slclid,
            "landing": "/products/hoodie/",
        },
    )


@pytest.mark.django_db
def test_the_buy_form_shows_only_when_the_shop_has_a_checkout(client, shop):
    assert "buy-form" not in client.get("/products/hoodie/").content.decode()
    SalesChannelFactory(provider="stripe", checkout=True)
    soup = BeautifulSoup(client.get("/products/hoodie/?slclid=clk-9").content, "lxml")
    form = soup.select_one("form.buy-form")
    assert form["action"] == "/checkout/"
    assert form.select_one("input[name=slclid]")["value"] == "clk-9"
    assert form.select_one("input[name=key]")["value"]
    assert form.select_one("select[name=variant] option")["data-sku"] == "HOOD-M"


@pytest.mark.django_db
def test_buy_makes_a_reservation_and_a_stripe_checkout_session(client, shop, stripe_api):
    _, variant = shop
    channel = SalesChannelFactory(provider="stripe", checkout=True, api_key="sk_test_shoploop")
    client.cookies["sl_attr"] = attribution_cookie(click="visitor-click")
    response = buy(client, variant, quantity=2, slclid="link-click")
    assert response.status_code == 303
    reservation = Reservation.objects.get()
    assert response["Location"] == reservation.checkout_url
    assert reservation.checkout_url.startswith(stripe_api.url + "/c/pay/cs_test_")
    assert (reservation.quantity, reservation.status, reservation.channel) == (2, "active", channel)
    assert (reservation.click_id, reservation.visitor_click_id) == ("link-click", "visitor-click")
    variant.refresh_from_db()
    assert variant.stock_reserved == 2
    sent = stripe_api.requests_to(r"^/v1/checkout/sessions$", "POST")[0]
    assert sent.headers["authorization"] == "Bearer sk_test_shoploop"
    assert sent.headers["idempotency-key"] == f"shoploop-checkout-{reservation.key}"
    form = {k: v[0] for k, v in parse_qs(sent.body.decode()).items()}
    assert form["client_reference_id"] == "link-click"
    assert form["metadata[reservation]"] == reservation.key
    assert form["metadata[slclid]"] == "link-click"
    assert form["metadata[sl_visitor_click]"] == "visitor-click"
    assert form["line_items[0][price_data][unit_amount]"] == "1999"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][quantity]"] == "2"
    assert form["payment_intent_data[metadata][reservation]"] == reservation.key
    # The same form sent twice is the same reservation and session.
    again = buy(client, variant, quantity=2, slclid="link-click")
    assert again["Location"] == reservation.checkout_url
    assert Reservation.objects.count() == 1
    assert len(stripe_api.requests_to(r"^/v1/checkout/sessions$", "POST")) == 1


@pytest.mark.django_db
def test_a_stripe_outage_releases_the_reservation(client, shop, stripe_api):
    _, variant = shop
    SalesChannelFactory(provider="stripe", checkout=True, api_key="sk_test_shoploop")
    stripe_api.fail_next(1, status=500, body={"error": {"type": "api_error"}})
    response = buy(client, variant)
    assert response.status_code == 503
    assert "unavailable" in response.content.decode()
    assert Reservation.objects.get().status == "released"
    assert Variant.objects.get().stock_reserved == 0


@pytest.mark.django_db
def test_a_wrong_api_key_is_refused_by_stripe_and_said_plainly(client, shop, stripe_api):
    _, variant = shop
    SalesChannelFactory(provider="stripe", checkout=True, api_key="sk_test_wrong")
    assert buy(client, variant).status_code == 503
    assert stripe_api.requests[0].headers["authorization"] == "Bearer sk_test_wrong"
    assert Variant.objects.get().stock_reserved == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("quantity", "status", "text"), [
    (4, 409, "Only 3 left"), (0, 400, "Quantity"), (11, 400, "Quantity"),
])  # fmt: skip
def test_bad_or_excessive_quantities_reserve_nothing(client, shop, stripe_api, quantity, status,
                                                     text):  # fmt: skip
    _, variant = shop
    SalesChannelFactory(provider="stripe", checkout=True, api_key="sk_test_shoploop")
    response = buy(client, variant, quantity=quantity)
    assert response.status_code == status
    assert text in response.content.decode()
    assert not Reservation.objects.exists()
    assert Variant.objects.get().stock_reserved == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("intent_first", [False, True])
def test_paying_the_session_sends_two_events_that_make_one_paid_order(
    client, live_server, stripe_api, intent_first
):
    product = ProductFactory(slug="hoodie")
    variant = VariantFactory(product=product, sku="HOOD-M", price="19.99", stock_on_hand=3)
    channel = SalesChannelFactory(provider="stripe", checkout=True, api_key="sk_test_shoploop")
    stripe_api.webhook_url = live_server.url + channel.webhook_path()
    stripe_api.webhook_secret = channel.secret
    buy(client, variant, quantity=2, slclid="link-click")
    reservation = Reservation.objects.get()
    stripe_api.complete(reservation.checkout_session_id, send_intent_first=intent_first)
    assert [status for _, status in stripe_api.sent] == [200, 200]
    order = Order.objects.get()
    assert order.status == "paid" and order.reservation == reservation
    assert order.total == Decimal("39.98") and order.click_id == "link-click"
    assert order.visitor_click_id == ""
    assert order.customer_email_hash
    assert WebhookDelivery.objects.filter(accepted=True, order=order).count() == 2
    reservation.refresh_from_db()
    variant.refresh_from_db()
    assert reservation.status == "committed"
    assert (variant.stock_reserved, variant.stock_committed) == (0, 2)
    done = client.get(f"/checkout/done/?session_id={reservation.checkout_session_id}")
    assert "confirmed" in done.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_test_mode_gateway_pays_through_the_real_webhook(client, live_server, settings):
    settings.CHECKOUT_TEST_MODE = True
    settings.CHECKOUT_TEST_MODE_WITHOUT_DEBUG = True  # tests run with DEBUG off
    settings.PUBLIC_BASE_URL = live_server.url
    product = ProductFactory(slug="hoodie")
    variant = VariantFactory(product=product, sku="HOOD-M", price="19.99", stock_on_hand=3)
    SalesChannelFactory(provider="stripe", checkout=True)  # no API key: test mode needs none
    response = buy(client, variant)
    assert response.status_code == 303
    assert re.match(rf"^{live_server.url}/checkout/test/[^/]+/$", response["Location"])
    page = client.get(response["Location"].removeprefix(live_server.url))
    assert "Test mode" in page.content.decode()
    paid = client.post(response["Location"].removeprefix(live_server.url),
                       {"email": "buyer@example.com", "country": "fr"})  # fmt: skip
    assert paid.status_code == 303, paid.content
    order = Order.objects.get()
    assert order.status == "paid" and order.country == "FR"
    assert Variant.objects.get().stock_committed == 1


@pytest.mark.django_db
def test_the_test_gateway_is_refused_without_debug_unless_explicitly_enabled(client, shop,
                                                                             settings):  # fmt: skip
    _, variant = shop
    SalesChannelFactory(provider="stripe", checkout=True)
    settings.CHECKOUT_TEST_MODE = True
    settings.DEBUG = False
    settings.CHECKOUT_TEST_MODE_WITHOUT_DEBUG = False
    # Without test mode and without an API key the checkout says it is unavailable...
    assert buy(client, variant).status_code == 503
    # ...and the gateway's pages do not exist.
    from sales.services import test_session_token

    reservation = Reservation.objects.get()
    assert client.get(f"/checkout/test/{test_session_token(reservation)}/").status_code == 404
