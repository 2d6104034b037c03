"""`manage.py sales_channel_add --provider shopify --name "..." --secret "..."`: make a channel
and print one JSON object (id, provider, name, webhook_url, ...). Secrets never printed."""

import json

from django.core.management.base import BaseCommand, CommandError

from core.absolute_urls import absolute_url
from core.errors import ApplicationError
from sales import services
from sales.models import Provider


class Command(BaseCommand):
    help = "Create a sales channel and print it as one JSON object (with its webhook URL)."

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True, choices=Provider.values)
        parser.add_argument("--name", required=True)
        parser.add_argument("--secret", required=True, help="The webhook signing secret.")
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--app-key", default="", help="TikTok Shop: the app key.")
        parser.add_argument("--shop-id", default="", help="TikTok Shop: the shop id.")
        parser.add_argument("--shop-cipher", default="", help="TikTok Shop: the shop cipher.")
        parser.add_argument("--access-token", default="", help="TikTok Shop: the access token.")
        parser.add_argument("--shop-domain", default="", help="Shopify: the myshopify domain.")
        parser.add_argument("--api-key", default="", help="Stripe: the secret API key (sk_…).")
        parser.add_argument("--checkout", action="store_true",
                            help="Stripe: the Buy button pays through this channel.")  # fmt: skip

    def handle(self, *args, **options):
        fields = {
            "app_key": options["app_key"], "shop_id": options["shop_id"],
            "shop_cipher": options["shop_cipher"], "access_token": options["access_token"],
            "shop_domain": options["shop_domain"], "api_key": options["api_key"],
            "checkout": options["checkout"],
        }  # fmt: skip
        try:
            channel = services.channel_create(
                provider=options["provider"], name=options["name"], secret=options["secret"],
                currency=options["currency"].upper(),
                **{k: v for k, v in fields.items() if v},
            )  # fmt: skip
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(json.dumps({
            "id": channel.pk, "provider": channel.provider, "name": channel.name,
            "currency": channel.currency, "checkout": channel.checkout,
            "webhook_url": absolute_url(channel.webhook_path()),
        }))  # fmt: skip
