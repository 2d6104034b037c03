import pytest
import yaml
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token

from tests.catalog.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog_manager_token():
    user = User.objects.create_user("cm", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    return Token.objects.create(user=user).key


def test_openapi_schema_describes_the_api(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert "/api/products" in schema["paths"]
    assert "/api/products/{id}" in schema["paths"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_interactive_docs_are_served_without_a_cdn(client):
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html


def test_products_need_a_token(client):
    response = client.get("/api/products")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_products_list_with_a_token(client, catalog_manager_token, django_assert_max_num_queries):
    for _ in range(5):
        VariantFactory(product=ProductFactory())
    with django_assert_max_num_queries(7):
        response = client.get("/api/products", HTTP_AUTHORIZATION=f"Token {catalog_manager_token}")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    first = body["results"][0]
    assert first["url"].startswith("https://shop.example.com/products/")
    assert first["variants"][0]["currency"] == "USD"


def test_a_user_without_the_role_is_refused(client):
    user = User.objects.create_user("plain", password="pw", is_staff=True)
    token = Token.objects.create(user=user).key
    response = client.get("/api/products", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 403
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_drf_create_token_command_gives_a_token(django_user_model):
    from django.core.management import call_command

    django_user_model.objects.create_user("api-bot", password="pw", is_staff=True)
    call_command("drf_create_token", "api-bot")
    assert Token.objects.filter(user__username="api-bot").exists()
