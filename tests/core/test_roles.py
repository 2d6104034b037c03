"""The merchant roles hold least-privilege permissions, and the admin enforces them."""

import pytest
from django.contrib.auth.models import Group, User

from core.roles import ROLES
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db


def staff_in(role: str) -> User:
    user = User.objects.create_user(f"user-{role}", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def test_the_migration_created_every_role_with_exactly_its_permissions():
    for role, grants in ROLES.items():
        group = Group.objects.get(name=role)
        have = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        want = {
            f"{label.split('.')[0]}.{action}_{label.split('.')[1]}"
            for label, actions in grants.items()
            for action in actions
        }
        assert have == want, role


@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        ("Catalog manager", "/admin/catalog/product/", 200),
        ("Catalog manager", "/admin/catalog/product/add/", 200),
        ("Catalog manager", "/admin/auth/user/", 403),
        ("Moderator", "/admin/catalog/product/", 200),
        ("Moderator", "/admin/catalog/product/add/", 403),
        ("Finance", "/admin/catalog/product/add/", 403),
        ("Finance", "/admin/catalog/variant/", 200),
        ("Finance", "/admin/catalog/variant/add/", 403),
        ("Finance", "/admin/auth/user/", 403),
        ("Owner", "/admin/auth/user/", 200),
        ("Owner", "/admin/catalog/product/add/", 200),
    ],
)
def test_admin_pages_follow_the_role(client, role, url, status):
    client.force_login(staff_in(role))
    assert client.get(url).status_code == status


def test_a_moderator_cannot_change_a_product(client):
    product = ProductFactory(title="Before")
    client.force_login(staff_in("Moderator"))
    response = client.post(
        f"/admin/catalog/product/{product.pk}/change/", {"title": "After", "slug": product.slug}
    )
    assert response.status_code == 403
    product.refresh_from_db()
    assert product.title == "Before"


def test_the_admin_is_branded(client):
    client.force_login(staff_in("Owner"))
    html = client.get("/admin/").content.decode()
    assert "Shoploop merchant console" in html


def test_roles_sync_is_idempotent():
    from django.apps import apps

    from core.roles import sync_roles

    before = {g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.all()}
    sync_roles(apps)
    after = {g.name: set(g.permissions.values_list("pk", flat=True)) for g in Group.objects.all()}
    assert before == after
