"""`manage.py demo_orders [--base-url URL]`: send signed webhooks of every provider to a running
Shoploop, as each provider sends them (`testservers.webhooks`), and print what came back.

Per demo channel (made by `seed_demo`): new orders with demo click ids and discount codes, a
partial refund, a cancellation, a replay of a delivery already sent (answered as a duplicate)
and a forged delivery (answered 401). TikTok Shop's webhooks are hints that Shoploop answers
by fetching the order from the TikTok Shop API: when `python -m testservers tiktok_shop`
runs at TIKTOK_SHOP_API_BASE (the demo's TikTok Shop, whose OAuth the console can connect),
the orders are put in it; otherwise this command serves that API itself
(`testservers/tiktok_shop.py`) at TIKTOK_SHOP_API_BASE when it is a local address.
"""

import time
import uuid
from decimal import Decimal
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Variant
from sales.models import SalesChannel
from testservers import tiktok_shop, webhooks

FORGED = "forged-" + "signing-key"  # what a forger would sign with: not the channel's secret


class Command(BaseCommand):
    help = "Send signed demo webhooks of every provider to a running server; print the answers."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="", help="Default: PUBLIC_BASE_URL.")

    def handle(self, *args, base_url="", **options):
        self.base = (base_url or settings.PUBLIC_BASE_URL).rstrip("/")
        demo = SalesChannel.objects.filter(active=True, name__startswith="Demo ")
        channels = {channel.provider: channel for channel in demo}
        if not channels:
            raise CommandError("No demo channels: run `manage.py seed_demo` first.")
        self.variants = list(Variant.objects.filter(active=True).order_by("pk")[:3])
        if not self.variants:
            raise CommandError("No variants to sell: run `manage.py seed_demo` first.")
        self.run = uuid.uuid4().hex[:6]
        self.stamp = int(time.time())
        senders = [("shopify", self.shopify), ("stripe", self.stripe),
                   ("standard", self.standard), ("tiktok_shop", self.tiktok)]  # fmt: skip
        for provider, send in senders:
            channel = channels.get(provider)
            if channel is None:
                self.stdout.write(f"-- {provider}: no demo channel, skipped")
                continue
            self.stdout.write(f"-- {channel.name} ({self.base}{channel.webhook_path()})")
            send(channel)

    # -- sending and printing ---------------------------------------------------------------
    def post(self, channel, label, body: bytes, headers: dict) -> None:
        url = self.base + channel.webhook_path()
        try:
            answer = requests.post(url, data=body, headers=headers, timeout=30)
            text = answer.text.strip()[:200]
            self.stdout.write(f"   {label}: {answer.status_code} {text}")
        except requests.RequestException as exc:
            self.stdout.write(f"   {label}: could not reach {url} ({exc.__class__.__name__})")

    def click(self, n: int) -> str:
        return f"demo-click-{self.run}-{n}"

    def line(self, n: int):
        variant = self.variants[n % len(self.variants)]
        return variant.sku, variant.price.quantize(Decimal("0.01")), variant.currency

    # -- Shopify ----------------------------------------------------------------------------
    def shopify_order(self, order_id, n, *, cancelled=False):
        sku, price, currency = self.line(n)
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        return {
            "id": order_id, "name": f"#D{order_id % 100000}", "email": f"shopper{n}@example.com",
            "currency": currency, "created_at": now, "updated_at": now, "processed_at": now,
            "cancelled_at": now if cancelled else None,
            "cancel_reason": "customer" if cancelled else None,
            "financial_status": "paid", "fulfillment_status": None,
            "total_line_items_price": str(price * 2), "total_discounts": "0.00",
            "total_tax": "0.00", "total_price": str(price * 2),
            "discount_codes": [{"code": "MAYA10", "amount": "0.00", "type": "percentage"}],
            "landing_site": f"/products/demo?slclid={self.click(n)}",
            "referring_site": "https://www.tiktok.com/", "note_attributes": [],
            "billing_address": {"country_code": "FR"},
            "line_items": [{"id": order_id * 10, "sku": sku, "title": "Demo item",
                            "quantity": 2, "price": str(price), "total_discount": "0.00",
                            "tax_lines": []}],
        }  # fmt: skip

    def shopify(self, channel):
        def send(label, topic, payload, *, secret=None, webhook_id=None):
            body = webhooks.body_of(payload)
            headers = webhooks.shopify_headers(secret=secret or channel.secret, body=body,
                                               topic=topic, shop_domain=channel.shop_domain,
                                               webhook_id=webhook_id)  # fmt: skip
            self.post(channel, label, body, headers)
            return body, headers

        first = self.stamp * 10 + 1
        body, headers = send("orders/create (new order, MAYA10)", "orders/create",
                             self.shopify_order(first, 1))  # fmt: skip
        self.post(channel, "the same delivery again (replay)", body, headers)
        sku, price, currency = self.line(1)
        send("refunds/create (partial refund)", "refunds/create", {
            "id": first + 7, "order_id": first, "created_at": "2026-01-01T00:00:00Z",
            "refund_line_items": [{"line_item_id": first * 10, "quantity": 1,
                                   "subtotal": str(price), "total_tax": "0",
                                   "line_item": {"sku": sku}}],
            "transactions": [{"amount": str(price), "kind": "refund", "status": "success",
                              "currency": currency}],
        })  # fmt: skip
        second = first + 1
        send("orders/create (second order)", "orders/create", self.shopify_order(second, 2))
        send("orders/cancelled", "orders/cancelled",
             self.shopify_order(second, 2, cancelled=True))  # fmt: skip
        send("forged delivery (wrong secret)", "orders/create", self.shopify_order(first + 2, 3),
             secret=FORGED)  # fmt: skip

    # -- Stripe -----------------------------------------------------------------------------
    def stripe(self, channel):
        def send(label, event_type, obj, *, secret=None):
            body = webhooks.body_of(webhooks.stripe_event(event_type, obj))
            headers = webhooks.stripe_headers(secrets=secret or channel.secret, body=body)
            self.post(channel, label, body, headers)
            return body, headers

        sku, price, currency = self.line(4)
        minor = int(price * 100)
        intent = f"pi_demo_{self.run}"
        metadata = {"sku": sku, "quantity": "1", "slclid": self.click(4)}
        session = {
            "id": f"cs_demo_{self.run}", "object": "checkout.session", "currency": currency.lower(),
            "amount_subtotal": minor, "amount_total": minor, "payment_intent": intent,
            "payment_status": "paid", "client_reference_id": self.click(4),
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "customer_details": {"email": "stripe-shopper@example.com",
                                 "address": {"country": "DE"}},
            "metadata": metadata, "created": self.stamp,
        }  # fmt: skip
        body, headers = send("checkout.session.completed", "checkout.session.completed", session)
        send("payment_intent.succeeded (same order)", "payment_intent.succeeded", {
            "id": intent, "object": "payment_intent", "amount": minor, "amount_received": minor,
            "currency": currency.lower(), "metadata": metadata, "created": self.stamp,
        })  # fmt: skip
        self.post(channel, "the same delivery again (replay)", body, headers)
        send("charge.refunded (partial refund)", "charge.refunded", {
            "id": f"ch_demo_{self.run}", "object": "charge", "payment_intent": intent,
            "currency": currency.lower(), "amount": minor, "amount_refunded": minor // 2,
            "refunds": {"data": [{"id": f"re_demo_{self.run}", "amount": minor // 2,
                                  "currency": currency.lower(), "status": "succeeded",
                                  "created": self.stamp}]},
        })  # fmt: skip
        send("forged delivery (wrong secret)", "checkout.session.completed", session,
             secret="whsec_" + FORGED)  # fmt: skip

    # -- Standard Webhooks ------------------------------------------------------------------
    def standard(self, channel):
        def send(label, event_type, data, *, secret=None, msg_id=""):
            body = webhooks.body_of({"type": event_type, "timestamp": self.iso(), "data": data})
            headers = webhooks.standard_headers(secret=secret or channel.secret, body=body,
                                                msg_id=msg_id)  # fmt: skip
            self.post(channel, label, body, headers)
            return body, headers

        def order(n, status):
            sku, price, currency = self.line(n)
            return {"id": f"web-{self.run}-{n}", "status": status, "currency": currency,
                    "subtotal": str(price), "total": str(price), "discount_codes": ["LEO15"],
                    "click_id": self.click(n), "email": f"web{n}@example.com", "country": "GB",
                    "placed_at": self.iso(), "updated_at": self.iso(), "version": n * 10
                    + (1 if status == "cancelled" else 0),
                    "lines": [{"id": f"l{n}", "sku": sku, "title": "Demo item", "quantity": 1,
                               "unit_price": str(price)}]}  # fmt: skip

        body, headers = send("order.created", "order.created", order(5, "paid"))
        self.post(channel, "the same delivery again (replay)", body, headers)
        sku, price, currency = self.line(5)
        send("refund.created (partial refund)", "refund.created", {
            "id": f"web-refund-{self.run}", "order_id": f"web-{self.run}-5",
            "currency": currency, "total": str((price / 2).quantize(Decimal("0.01"))),
        })  # fmt: skip
        send("order.created (second order)", "order.created", order(6, "paid"))
        send("order.cancelled", "order.cancelled", order(6, "cancelled"))
        send("forged delivery (wrong secret)", "order.created", order(7, "paid"),
             secret="whsec_" + "Zm9yZ2VkLXNlY3JldC1rZXk=")  # fmt: skip

    def iso(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    # -- TikTok Shop ------------------------------------------------------------------------
    def tiktok_api(self, channel, first_order: dict):
        """The TikTok Shop API Shoploop re-fetches from: the one `python -m testservers
        tiktok_shop` serves at TIKTOK_SHOP_API_BASE (orders put in through its demo routes),
        else one served here for the length of the command."""
        api = urlsplit(settings.TIKTOK_SHOP_API_BASE)
        base = settings.TIKTOK_SHOP_API_BASE
        try:
            answer = requests.post(f"{base}/_demo/orders", json=first_order, timeout=5)
        except requests.RequestException:
            answer = None
        if answer is not None and answer.status_code == 200:
            self.stdout.write(f"   (orders put in the TikTok Shop test server at {base})")
            return _RemoteTikTok(base)
        server = tiktok_shop.Server(
            host=api.hostname, port=api.port, app_key=channel.app_key, app_secret=channel.secret,
            access_token=channel.access_token, shop_cipher=channel.shop_cipher,
            shop_id=channel.shop_id,
        )  # fmt: skip
        server.add_order(first_order)
        return server

    def tiktok(self, channel):
        api = urlsplit(settings.TIKTOK_SHOP_API_BASE)
        if api.hostname not in ("127.0.0.1", "localhost") or not api.port:
            self.stdout.write("   skipped: TIKTOK_SHOP_API_BASE is not a local address, so "
                              "there is no TikTok Shop API here to fetch the orders from "
                              "(make demo-orders sets one up).")  # fmt: skip
            return
        sku, price, currency = self.line(8)
        first, second = f"5766{self.stamp}1", f"5766{self.stamp}2"
        order = tiktok_shop.order(first, currency=currency, lines=[(sku, str(price), 2)])
        server = self.tiktok_api(channel, order)
        with server:

            def notify(label, kind, data, *, secret=None, notification_id=None):
                payload = {"type": kind, "tts_notification_id": notification_id
                           or uuid.uuid4().hex[:18], "shop_id": channel.shop_id,
                           "timestamp": int(time.time()), "data": data}  # fmt: skip
                body = webhooks.body_of(payload)
                headers = webhooks.tiktok_shop_headers(app_key=channel.app_key,
                                                       app_secret=secret or channel.secret,
                                                       body=body)  # fmt: skip
                self.post(channel, label, body, headers)
                return body, headers

            body, headers = notify(
                "type 1 order status change (order fetched from the API)", 1,
                {"order_id": first, "order_status": "AWAITING_SHIPMENT"},
            )  # fmt: skip
            self.post(channel, "the same delivery again (replay)", body, headers)
            server.add_return({
                "return_id": f"ret{self.stamp}", "order_id": first,
                "return_status": "RETURN_OR_REFUND_REQUEST_COMPLETE", "update_time": self.stamp,
                "refund_amount": {"currency": currency, "refund_total": str(price),
                                  "refund_shipping_fee": "0"},
                "return_line_items": [{"order_line_item_id": "1", "seller_sku": sku,
                                       "refund_amount": {"refund_total": str(price)}}],
            })  # fmt: skip
            notify("type 12 return completed (partial refund)", 12,
                   {"order_id": first, "return_id": f"ret{self.stamp}",
                    "return_status": "RETURN_OR_REFUND_REQUEST_COMPLETE"})  # fmt: skip
            server.add_order(tiktok_shop.order(second, currency=currency, status="CANCELLED",
                                               lines=[(sku, str(price), 1)]))  # fmt: skip
            notify("type 11 cancellation", 11, {"order_id": second})
            notify("forged delivery (wrong app secret)", 1, {"order_id": first},
                   secret=FORGED)  # fmt: skip
            if isinstance(server, tiktok_shop.Server):
                self.stdout.write(f"   (the TikTok Shop API answered {len(server.requests)} "
                                  "signed requests from Shoploop)")  # fmt: skip


class _RemoteTikTok:
    """A TikTok Shop test server running in another process (its demo routes)."""

    def __init__(self, base: str):
        self.base = base

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def add_order(self, order: dict) -> None:
        requests.post(f"{self.base}/_demo/orders", json=order, timeout=5).raise_for_status()

    def add_return(self, ret: dict) -> None:
        requests.post(f"{self.base}/_demo/returns", json=ret, timeout=5).raise_for_status()
