"""One adapter per provider that builds signed deliveries the way the provider sends them
(with `testservers.webhooks`, not Shoploop's verification code), so that the same tests run
for Shopify, Stripe, TikTok Shop and Standard Webhooks."""

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from django.test import TestCase

from core.money import minor_units
from sales.models import Provider
from tests.sales.factories import SalesChannelFactory
from testservers import tiktok_shop as tts
from testservers import webhooks

NESTED = b"[" * 5000 + b"]" * 5000


def on_commit():
    """Run the jobs a request queues (after commit) as it ends, as the eager broker would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


class Delivery:
    def __init__(self, body: bytes, headers: dict):
        self.body, self.headers = body, headers

    def post(self, client, channel):
        with on_commit():
            return self._post(client, channel)

    def _post(self, client, channel):
        return client.post(channel.webhook_path(), data=self.body,
                           content_type=self.headers.get("Content-Type", "application/json"),
                           headers={k: v for k, v in self.headers.items()
                                    if k != "Content-Type"})  # fmt: skip


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


class Adapter:
    provider: str
    signs_time = False
    exact_minor_units_only = False  # amounts that cannot be written with too many digits

    def __init__(self, server=None):
        self.server = server

    def channel(self, **fields):
        return SalesChannelFactory(provider=self.provider, **fields)

    def secret(self, channel):
        return channel.secret


class Shopify(Adapter):
    provider = Provider.SHOPIFY
    signature_header = "X-Shopify-Hmac-Sha256"

    def sign(self, channel, body, *, topic="orders/updated", secret=None, delivery_id=None):
        return webhooks.shopify_headers(secret=secret or channel.secret, body=body, topic=topic,
                                        webhook_id=delivery_id or str(uuid.uuid4()))  # fmt: skip

    def order(self, channel, order_id, *, sku="SKU-1", quantity=1, price="10.00",
              currency="USD", updated=None, status="paid", landing="", codes=(),
              email="Shopper@Example.com"):  # fmt: skip
        updated = updated or int(time.time())
        total = Decimal(price) * quantity
        payload = {
            "id": int(order_id), "name": f"#{order_id}", "email": email, "currency": currency,
            "created_at": iso(updated - 100), "updated_at": iso(updated),
            "processed_at": iso(updated - 100),
            "cancelled_at": iso(updated) if status == "cancelled" else None,
            "cancel_reason": "customer" if status == "cancelled" else None,
            "financial_status": "paid" if status in ("paid", "cancelled") else "pending",
            "fulfillment_status": "fulfilled" if status == "fulfilled" else None,
            "total_line_items_price": str(total), "subtotal_price": str(total),
            "total_discounts": "0", "total_tax": "0", "total_price": str(total),
            "total_shipping_price_set": {"shop_money": {"amount": "0", "currency_code": currency}},
            "discount_codes": [{"code": c, "amount": "0", "type": "percentage"} for c in codes],
            "landing_site": landing, "referring_site": "https://www.tiktok.com/",
            "note_attributes": [], "billing_address": {"country_code": "FR"},
            "line_items": [{"id": int(order_id) * 10, "sku": sku, "title": "Thing",
                            "quantity": quantity, "price": price, "total_discount": "0",
                            "tax_lines": []}],
        }  # fmt: skip
        body = webhooks.body_of(payload)
        return Delivery(body, self.sign(channel, body))

    def refund(self, channel, order_id, refund_id, *, amount="5.00", currency="USD",
               sku="SKU-1"):  # fmt: skip
        payload = {
            "id": int(refund_id), "order_id": int(order_id), "created_at": iso(int(time.time())),
            "note": "Damaged", "refund_line_items": [
                {"line_item_id": int(order_id) * 10, "quantity": 1, "subtotal": amount,
                 "total_tax": "0", "line_item": {"sku": sku}}],
            "transactions": [{"amount": amount, "kind": "refund", "status": "success",
                              "currency": currency}],
            "order_adjustments": [],
        }  # fmt: skip
        body = webhooks.body_of(payload)
        return Delivery(body, self.sign(channel, body, topic="refunds/create"))

    def raw(self, channel, body):
        return Delivery(body, self.sign(channel, body))

    def forged(self, channel, body):
        return Delivery(body, self.sign(channel, body, secret="not-the-secret"))

    def without_signature(self, delivery):
        return Delivery(delivery.body, {k: v for k, v in delivery.headers.items()
                                        if k != self.signature_header})  # fmt: skip

    def garbage(self, delivery):
        return Delivery(delivery.body, {**delivery.headers, self.signature_header: "!!not b64"})


class Stripe(Adapter):
    provider = Provider.STRIPE
    signature_header = "Stripe-Signature"
    signs_time = True
    exact_minor_units_only = True

    def sign(self, channel, body, *, secret=None, timestamp=None):
        return webhooks.stripe_headers(secrets=secret or channel.secret, body=body,
                                       timestamp=timestamp)  # fmt: skip

    def _event(self, channel, event_type, obj, created):
        body = webhooks.body_of(webhooks.stripe_event(event_type, obj, created=created))
        return Delivery(body, self.sign(channel, body))

    def order(self, channel, order_id, *, sku="SKU-1", quantity=1, price="10.00",
              currency="USD", updated=None, status="paid", landing="", codes=(),
              email="Shopper@Example.com"):  # fmt: skip
        updated = updated or int(time.time())
        minor = int(Decimal(price).scaleb(minor_units(currency))) * quantity
        session = {
            "id": f"cs_test_{order_id}", "object": "checkout.session", "currency": currency.lower(),
            "amount_subtotal": minor, "amount_total": minor,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "payment_intent": str(order_id), "created": updated - 100,
            "payment_status": "paid" if status != "pending" else "unpaid",
            "client_reference_id": None,
            "customer_details": {"email": email, "address": {"country": "FR"}},
            "metadata": {"sku": sku, "quantity": str(quantity),
                         "slclid": landing.partition("slclid=")[2] or None},
        }  # fmt: skip
        if status == "cancelled":  # a delayed payment that failed
            session["payment_status"] = "unpaid"
            return self._event(channel, "checkout.session.async_payment_failed", session, updated)
        return self._event(channel, "checkout.session.completed", session, updated)

    def refund(self, channel, order_id, refund_id, *, amount="5.00", currency="USD",
               sku="SKU-1"):  # fmt: skip
        minor = int(Decimal(amount).scaleb(minor_units(currency)))
        refund = {"id": f"re_{refund_id}", "object": "refund", "amount": minor,
                  "currency": currency.lower(), "payment_intent": str(order_id),
                  "status": "succeeded", "created": int(time.time())}  # fmt: skip
        return self._event(channel, "refund.created", refund, int(time.time()))

    def raw(self, channel, body):
        return Delivery(body, self.sign(channel, body))

    def stale(self, channel, body):
        return Delivery(body, self.sign(channel, body, timestamp=int(time.time()) - 400))

    def forged(self, channel, body):
        return Delivery(body, self.sign(channel, body, secret="whsec_not_the_secret"))

    def without_signature(self, delivery):
        return Delivery(delivery.body, {"Content-Type": "application/json"})

    def garbage(self, delivery):
        return Delivery(delivery.body, {**delivery.headers, self.signature_header: "t=x,v1"})


class Standard(Adapter):
    provider = Provider.STANDARD
    signature_header = "webhook-signature"
    signs_time = True

    def sign(self, channel, body, *, secret=None, timestamp=None):
        return webhooks.standard_headers(secret=secret or channel.secret, body=body,
                                         timestamp=timestamp)  # fmt: skip

    def order(self, channel, order_id, *, sku="SKU-1", quantity=1, price="10.00",
              currency="USD", updated=None, status="paid", landing="", codes=(),
              email="Shopper@Example.com"):  # fmt: skip
        updated = updated or int(time.time())
        total = str(Decimal(price) * quantity)
        data = {
            "id": str(order_id), "status": status, "currency": currency, "subtotal": total,
            "total": total, "discount_codes": list(codes), "landing_url": landing,
            "email": email, "country": "FR", "placed_at": iso(updated - 100),
            "updated_at": iso(updated), "version": updated,
            "lines": [{"id": f"{order_id}-1", "sku": sku, "title": "Thing",
                       "quantity": quantity, "unit_price": price}],
        }  # fmt: skip
        body = webhooks.body_of({"type": "order.updated", "timestamp": iso(updated),
                                 "data": data})  # fmt: skip
        return Delivery(body, self.sign(channel, body))

    def refund(self, channel, order_id, refund_id, *, amount="5.00", currency="USD",
               sku="SKU-1"):  # fmt: skip
        data = {"id": str(refund_id), "order_id": str(order_id), "currency": currency,
                "total": amount, "created_at": iso(int(time.time())),
                "lines": [{"line_id": f"{order_id}-1", "sku": sku, "quantity": 1,
                           "amount": amount}]}  # fmt: skip
        body = webhooks.body_of({"type": "refund.created", "timestamp": iso(int(time.time())),
                                 "data": data})  # fmt: skip
        return Delivery(body, self.sign(channel, body))

    def raw(self, channel, body):
        return Delivery(body, self.sign(channel, body))

    def stale(self, channel, body):
        return Delivery(body, self.sign(channel, body, timestamp=int(time.time()) - 400))

    def forged(self, channel, body):
        return Delivery(body, self.sign(channel, body,
                                        secret="whsec_" + "QUJDREVGR0hJSktMTU5PUA=="))  # fmt: skip

    def without_signature(self, delivery):
        return Delivery(delivery.body, {k: v for k, v in delivery.headers.items()
                                        if k != self.signature_header})  # fmt: skip

    def garbage(self, delivery):
        return Delivery(delivery.body, {**delivery.headers, self.signature_header: "garbage"})


class TikTokShop(Adapter):
    """Deliveries are hints; the orders and returns live on the TikTok Shop test server."""

    provider = Provider.TIKTOK_SHOP
    signature_header = "Authorization"

    def channel(self, **fields):
        server = self.server
        values = {"secret": server.app_secret, "app_key": server.app_key,
                  "shop_id": server.shop_id, "shop_cipher": server.shop_cipher,
                  "access_token": server.access_token, **fields}  # fmt: skip
        return SalesChannelFactory(provider=self.provider, **values)

    def sign(self, channel, body, *, secret=None):
        return webhooks.tiktok_shop_headers(
            app_key=channel.app_key, app_secret=secret or channel.secret, body=body
        )

    def _notify(self, channel, kind, data, notification_id=None):
        payload = {
            "type": kind,
            "tts_notification_id": notification_id or uuid.uuid4().hex,
            "shop_id": channel.shop_id,
            "timestamp": int(time.time()),
            "data": data,
        }
        body = webhooks.body_of(payload)
        return Delivery(body, self.sign(channel, body))

    def order(self, channel, order_id, *, sku="SKU-1", quantity=1, price="10.00",
              currency="USD", updated=None, status="paid", landing="", codes=(),
              email="Shopper@Example.com"):  # fmt: skip
        tts_status = {"paid": "AWAITING_SHIPMENT", "pending": "UNPAID",
                      "cancelled": "CANCELLED", "fulfilled": "DELIVERED"}[status]  # fmt: skip
        self.server.add_order(tts.order(str(order_id), status=tts_status, currency=currency,
                                        lines=[(sku, price, quantity)], update_time=updated,
                                        email=email))  # fmt: skip
        return self._notify(channel, 1, {"order_id": str(order_id), "order_status": tts_status,
                                         "update_time": updated or int(time.time())})  # fmt: skip

    def refund(self, channel, order_id, refund_id, *, amount="5.00", currency="USD",
               sku="SKU-1"):  # fmt: skip
        self.server.add_return({
            "return_id": str(refund_id), "order_id": str(order_id),
            "return_status": "RETURN_OR_REFUND_REQUEST_COMPLETE", "return_reason_text": "Damaged",
            "update_time": int(time.time()),
            "refund_amount": {"currency": currency, "refund_total": amount,
                              "refund_subtotal": amount, "refund_shipping_fee": "0"},
            "return_line_items": [{"order_line_item_id": "x", "seller_sku": sku,
                                   "refund_amount": {"refund_total": amount}}],
        })  # fmt: skip
        return self._notify(
            channel,
            12,
            {
                "order_id": str(order_id),
                "return_id": str(refund_id),
                "return_status": "RETURN_OR_REFUND_REQUEST_COMPLETE",
            },
        )

    def raw(self, channel, body):
        return Delivery(body, self.sign(channel, body))

    def forged(self, channel, body):
        return Delivery(body, self.sign(channel, body, secret="not-the-app-secret"))

    def without_signature(self, delivery):
        return Delivery(delivery.body, {"Content-Type": "application/json"})

    def garbage(self, delivery):
        return Delivery(delivery.body, {**delivery.headers, "Authorization": "Bearer ???"})


ADAPTERS = {"shopify": Shopify, "stripe": Stripe, "tiktok_shop": TikTokShop,
            "standard": Standard}  # fmt: skip
