"""Helpers: the console's OAuth flow driven against a platform's local server, products."""

import html
import re
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.contrib.auth.models import Group, User
from django.urls import reverse

from catalog import services as catalog_services
from integrations import services
from integrations.models import Connection
from tests.catalog.factories import ProductFactory, VariantFactory, upload

SHOP = "acme.myshopify.com"
CONSENT_LINK = re.compile(r"<a id='(?:install|authorize|continue|allow)' href='([^']+)'")


def staff(role: str, username: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def owner_client(client, merchant_roles):
    client.user = staff("Owner", "olivia")
    client.force_login(client.user)
    return client


def consent(url: str) -> str:
    """Open the platform's authorize page and press its button: the redirect URI it goes to."""
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    found = CONSENT_LINK.search(page.text)
    assert found, page.text
    return html.unescape(found.group(1))


def start(client, platform: str, **data):
    response = client.post(reverse("admin:integrations_connection_start", args=[platform]), data)
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def callback(client, url: str, **override):
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(override)
    return client.get(parts.path, query)


def connect(client, platform: str, *, choose: str | None = None, **data) -> Connection:
    """The whole flow from the console: start, consent at the platform, callback (and choose)."""
    response = callback(client, consent(start(client, platform, **data)))
    assert response.status_code == 302, response.content[:500]
    connection = Connection.objects.order_by("-pk").first()
    if choose is not None:
        response = client.post(
            reverse("admin:integrations_connection_choose", args=[connection.pk]),
            {"account_id": choose},
        )
        assert response.status_code == 302
        connection.refresh_from_db()
    return connection


def product(
    *,
    title="Trail Jacket",
    sku="TJ-1",
    price="49.90",
    stock=7,
    image=True,
    brand="Northwind",
    announce=True,
    **variant,
):
    """A product with one variant (and an image), marked dirty as the catalog's
    `products_changed` receiver does (factories do not go through the catalog's services)."""
    item = ProductFactory(title=title, brand=brand, description=f"{title}, waterproof.")
    VariantFactory(product=item, sku=sku, price=Decimal(price), stock_on_hand=stock, **variant)
    if image:
        catalog_services.product_image_add(product=item, upload=upload(f"{sku}.png"))
    if announce:
        services.listings_mark_dirty(product_ids=[item.pk])
    return item
