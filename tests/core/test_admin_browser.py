"""The merchant console in a real browser: log in, add a product with inlines, roles."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from catalog.models import Product, ProductImage, Variant
from tests.catalog.factories import ProductFactory, image_bytes

PASSWORD = "a-long-test-password-42"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def staff_user(username: str, role: str) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def log_in(page, username: str) -> None:
    page.goto("/admin/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(r"Welcome back to\s+Shoploop merchant console")
    )
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def stored_files(root: Path) -> list[Path]:
    return [path for path in Path(root).rglob("*") if path.is_file()] if Path(root).exists() else []


def fill_product(page, *, title: str, sku: str) -> None:
    """Fill the product and its first variant row on /admin/catalog/product/add/."""
    page.goto("/admin/catalog/product/add/")
    # Typed key by key, as a person would: the admin's prepopulate.js fills the slug on keyup.
    page.locator("#id_title").press_sequentially(title)
    page.fill("#id_brand", "Northwind")
    page.fill("input[name=variants-0-sku]", sku)
    page.fill("input[name=variants-0-price]", "49.90")
    page.select_option("select[name=variants-0-currency]", "EUR")
    page.fill("input[name=variants-0-stock_on_hand]", "12")


def test_a_catalog_manager_adds_a_product_with_a_variant_and_an_image(
    page, merchant_roles, tmp_path
):
    staff_user("cat-manager", "Catalog manager")
    photo = tmp_path / "jacket.png"
    photo.write_bytes(image_bytes("PNG", size=(120, 90)))

    log_in(page, "cat-manager")
    expect(page.locator("#site-name")).to_have_text("Shoploop merchant console")
    fill_product(page, title="Trail Runner Jacket", sku="TRJ-001")
    expect(page.locator("#id_slug")).to_have_value("trail-runner-jacket")
    page.set_input_files("input[name=images-0-image]", photo)
    page.fill("input[name=images-0-alt_text]", "The jacket, front")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator("ul.messagelist li.success")).to_contain_text(
        "Trail Runner Jacket” was added successfully"
    )
    assert page.js_errors == []

    product = Product.objects.get(slug="trail-runner-jacket")
    assert product.title == "Trail Runner Jacket"
    assert product.brand == "Northwind"
    variant = Variant.objects.get(product=product)
    assert (variant.sku, variant.price, variant.currency, variant.stock_on_hand) == (
        "TRJ-001",
        Decimal("49.90"),
        "EUR",
        12,
    )
    image = ProductImage.objects.get(product=product)
    # Re-encoded from its pixels: an opaque PNG is stored as a JPEG.
    assert image.image.name == f"products/{product.pk}/jacket.jpg"
    assert image.content_type == "image/jpeg"
    assert (image.width, image.height, image.alt_text) == (120, 90, "The jacket, front")
    assert default_storage.exists(image.image.name)

    page.goto(f"/products/{product.slug}/")
    expect(page.locator("h1")).to_have_text("Trail Runner Jacket")
    expect(page.locator(".price .amount")).to_have_text("€49.90")
    photo_on_page = page.locator(".product-gallery img")
    expect(photo_on_page).to_be_visible()
    assert photo_on_page.evaluate("img => img.complete && img.naturalWidth") == 120


def test_an_html_file_named_png_is_refused_beside_the_field_and_nothing_is_saved(
    page, merchant_roles, tmp_path, settings
):
    staff_user("cat-manager", "Catalog manager")
    evil = tmp_path / "evil.png"
    evil.write_bytes(b"<html><body><script>alert(document.cookie)</script></body></html>")

    log_in(page, "cat-manager")
    fill_product(page, title="Evil Jacket", sku="EVIL-001")
    page.set_input_files("input[name=images-0-image]", evil)
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator("#images-group td.field-image ul.errorlist")).to_contain_text(
        "The file is not an image"
    )
    expect(page).to_have_url(re.compile(r"/admin/catalog/product/add/$"))
    # The rest of the form is kept for the merchant to fix the one field.
    expect(page.locator("#id_title")).to_have_value("Evil Jacket")
    assert Product.objects.count() == 0
    assert Variant.objects.count() == 0
    assert ProductImage.objects.count() == 0
    assert stored_files(settings.MEDIA_ROOT) == []


def test_a_moderator_sees_the_product_list_but_cannot_add_a_product(page, merchant_roles):
    ProductFactory(title="Cloud Knit Hoodie")
    staff_user("moderator", "Moderator")

    log_in(page, "moderator")
    response = page.goto("/admin/catalog/product/")
    assert response.status == 200
    expect(page.locator("#result_list")).to_contain_text("Cloud Knit Hoodie")
    # No "Add product" button, nor one in the sidebar (which lists the Moderator's own lists).
    expect(page.locator('a.addlink[href="/admin/catalog/product/add/"]')).to_have_count(0)
    expect(page.locator(".object-tools a.addlink")).to_have_count(0)

    response = page.goto("/admin/catalog/product/add/")
    assert response.status == 403
    assert Product.objects.count() == 1
