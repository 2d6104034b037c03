import pytest

from integrations import push
from integrations.models import Listing
from tests.integrations.helpers import SHOP, connect, product


@pytest.mark.django_db
def test_tiktok_connect_and_push(owner_client, tiktok_server):
    connection = connect(owner_client, "tiktok_shop")
    assert connection.status == "active", connection.status
    services_settings = {"default_category_id": "600001", "package_weight_kg": "0.5"}
    from integrations import services

    services.connection_update_settings(connection_id=connection.pk, values=services_settings)
    p = product()
    report = push.connection_push(connection_id=connection.pk)
    print(report)
    listing = Listing.objects.get(connection=connection, product=p)
    print(listing.state, listing.messages)
    assert listing.state == "synced"
    assert tiktok_server.product_by_sku("TJ-1")


@pytest.mark.django_db
def test_shopify_connect_import(owner_client, shopify_server):
    shopify_server.add_product(SHOP, title="Cap", variants=[{"sku": "CAP-1", "price": "12.00"}])
    connection = connect(owner_client, "shopify", shop=SHOP)
    assert connection.status == "active"
    from integrations import sync

    run = sync.shopify_import_run(connection_id=connection.pk)
    print(run.counts, run.error)
    from catalog.models import Variant

    assert Variant.objects.get(sku="CAP-1").price == 12


@pytest.mark.django_db
def test_meta_google(owner_client, meta_server, google_server):
    m = connect(owner_client, "meta")
    g = connect(owner_client, "google")
    assert m.status == "active" and g.status == "active"
    p = product()
    for c in (m, g):
        r = push.connection_push(connection_id=c.pk)
        print(r)
        listing = Listing.objects.get(connection=c, product=p)
        print(listing.state, listing.messages)
        assert listing.state == "synced"
    print(meta_server.items(), google_server.offers())
