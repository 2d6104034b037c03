"""`manage.py demo_compliance [--base-url URL] [--shop S] [--email E] [--orders ID,...]
[--shop-redact]`:
send Shopify's mandatory compliance webhooks to a running Shoploop, as Shopify sends them
(`testservers.shopify`: its documented payloads, the HMAC of the body), and print the answers.

For the demo Shopify shop (`seed_demo`'s channel; `--shop` names another, e.g. the stand-alone
Shopify test server's `demo-shop.myshopify.com`), signed with SHOPIFY_API_SECRET if set, else
the shop's sales channel's secret (Shoploop accepts either for that shop): a forged request (401), a
customer data request, the same delivery again (acknowledged, nothing new), and a customer
erasure; with `--shop-redact`, the shop's data erasure too (it erases the demo shop's
connection, as Shopify asks 48 hours after an uninstall). The default customer is the one of
the first Shopify order `make demo-orders` sends.
"""

import uuid

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.sales import DEMO_SHOP_DOMAIN
from sales.models import SalesChannel
from testservers import shopify as shopify_server

URL = "/webhooks/shopify/compliance"


class Command(BaseCommand):
    help = "Send Shopify's compliance webhooks to a running server; print the answers."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="", help="Default: PUBLIC_BASE_URL.")
        parser.add_argument("--shop", default=DEMO_SHOP_DOMAIN)
        parser.add_argument("--email", default="shopper1@example.com")
        parser.add_argument("--orders", default="", help="Shopify order ids, comma separated.")
        parser.add_argument("--shop-redact", action="store_true")

    def handle(self, *args, base_url="", shop="", email="", orders="", shop_redact=False,
               **options):  # fmt: skip
        url = (base_url or settings.PUBLIC_BASE_URL).rstrip("/") + URL
        shop = shop or DEMO_SHOP_DOMAIN
        channel = SalesChannel.objects.filter(provider="shopify", shop_domain=shop).first()
        secret = settings.SHOPIFY_API_SECRET or (channel.secret if channel else "")
        if not secret:
            raise CommandError(
                f"No secret to sign with for {shop}: set SHOPIFY_API_SECRET or run seed_demo."
            )
        server = shopify_server.Server(api_secret=secret)
        ids = [int(i) for i in orders.split(",") if i.strip().isdigit()]
        self.stdout.write(f"-- Shopify compliance webhooks for {shop} ({url})")

        def send(label, topic, *, key="", webhook_id="", **fields):
            body, headers = server.compliance_webhook(
                shop, topic, secret=key, webhook_id=webhook_id, **fields
            )
            try:
                answer = requests.post(url, data=body, headers=headers, timeout=30)
            except requests.RequestException as exc:
                self.stdout.write(f"   {label}: could not reach {url} ({exc.__class__.__name__})")
                return
            self.stdout.write(f"   {label}: {answer.status_code} {answer.text.strip()[:120]}")

        send("forged customers/redact (wrong secret)", "customers/redact", key="forged-secret",
             email=email, orders=ids)  # fmt: skip
        request_id = uuid.uuid4().hex
        send("customers/data_request", "customers/data_request", webhook_id=request_id,
             email=email, orders=ids)  # fmt: skip
        send("the same delivery again", "customers/data_request", webhook_id=request_id,
             email=email, orders=ids)  # fmt: skip
        send("customers/redact", "customers/redact", email=email, orders=ids)
        if shop_redact:
            send("shop/redact", "shop/redact")
        self.stdout.write(
            "   The requests are under Integrations › Shopify compliance requests: download the "
            "data request's export there."
        )
