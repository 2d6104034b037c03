import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Product, ProductImage, Variant
from links.models import ShortLink

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        sorted(Product.objects.values_list("slug", "updated_at")),
        sorted(Variant.objects.values_list("sku", "price", "currency", "stock_on_hand")),
        sorted(ProductImage.objects.values_list("image")),
        sorted(ShortLink.objects.values_list("code", "creator__handle", "product__slug")),
    )


def test_seed_demo_makes_a_catalog_and_running_it_twice_changes_nothing(
    django_capture_on_commit_callbacks, django_user_model
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production")
    assert Product.objects.count() == 12
    assert ProductImage.objects.count() == 12
    assert set(Variant.objects.values_list("currency", flat=True)) == {"USD", "EUR"}
    assert not ProductImage.objects.filter(thumbnail="").exists()
    assert ShortLink.objects.count() == 6
    assert set(ShortLink.objects.values_list("utm_source", flat=True)) == {"tiktok"}
    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("shoploop-demo")

    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--allow-production")
    assert snapshot() == before
    assert django_user_model.objects.count() == 1


def test_seed_demo_refuses_a_production_database(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("seed_demo")
