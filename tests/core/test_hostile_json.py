"""Hostile JSON: a body nested 5,000 levels deep is a 400 with the usual error body on every
endpoint that parses JSON, and never a 500 anywhere in the URL conf."""

import re

import pytest
from django.urls import URLResolver, get_resolver

from core import json_input
from core.errors import ApplicationError
from tests.catalog.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000
# Endpoints that take a JSON body: each must refuse the deep one with a clear 400.
MUST_REFUSE = {
    ("POST", "/api/links"),
    ("PUT", "/api/links/{link}"),
    ("PATCH", "/api/links/{link}"),
    ("POST", "/api/previews"),
    ("POST", "/api/sales-channels"),
    ("POST", "/shop/feed/events"),
}


def _routes(resolver=None, prefix=""):
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def _example_path(route: str, values: dict) -> str | None:
    """A concrete path for a route, or None for the ones only a format suffix tells apart."""
    if "format" in route or route.startswith("admin/"):
        return None
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m.group(1), "1"), route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), path)
    path = path.replace("^", "").replace("$", "").replace("\\.", ".")
    return "/" + path


@pytest.fixture
def ids(owner_client):
    from links import services
    from links.models import AllowedDomain
    from previews.models import LinkPreview

    AllowedDomain.objects.create(domain="shop.example.com")
    product = ProductFactory(slug="deep")
    VariantFactory(product=product)
    link = services.link_create(product_id=product.pk, code="deep")
    preview = LinkPreview.objects.create(url="https://shop.example.org/x")
    return {"link": link.pk, "product": product.pk, "preview": preview.pk, "code": link.code,
            "slug": product.slug, "kind": "svg", "path": "nothing", "provider": "shopify",
            "token": "not-a-channel"}  # fmt: skip


def test_a_deeply_nested_body_is_a_400_on_json_endpoints_and_never_a_500(owner_client, ids):
    refused, seen = set(), 0
    for route, callback in _routes():
        model = getattr(getattr(callback, "cls", None), "queryset", None)
        name = model.model._meta.model_name if model is not None else ""
        values = {**{k: str(v) for k, v in ids.items()},
                  "pk": str({"shortlink": ids["link"], "product": ids["product"],
                             "linkpreview": ids["preview"]}.get(name, 1))}  # fmt: skip
        path = _example_path(route, values)
        if path is None:
            continue
        for method in ("POST", "PUT", "PATCH"):
            response = owner_client.generic(method, path, DEEP, content_type="application/json")
            seen += 1
            assert response.status_code < 500, (method, path, response.status_code)
            if response.status_code == 400 and response["Content-Type"].startswith(
                "application/json"
            ):
                error = response.json()["error"]
                if error["code"] == "json_too_deep":
                    assert "64 levels" in error["message"]
                    template = path.replace(f"/{ids['link']}", "/{link}")
                    refused.add((method, template))
    assert seen > 40
    assert MUST_REFUSE <= refused, MUST_REFUSE - refused


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[" * 65 + "]" * 65, "json_too_deep"),
        ('{"a":' * 70 + "1" + "}" * 70, "json_too_deep"),
        ("[" * 100_000, "json_too_deep"),  # unbalanced too: the parser's own limit
        ("{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        ("1" * 20, None),
    ],
)
def test_the_bounded_loader(text, code):
    if code is None:
        assert json_input.loads(text) == 11111111111111111111
        return
    with pytest.raises(ApplicationError) as exc:
        json_input.loads(text)
    assert exc.value.code == code


def test_the_size_bound_comes_before_parsing():
    with pytest.raises(ApplicationError) as exc:
        json_input.loads("[" + "1," * 1000 + "1]", max_bytes=100)
    assert exc.value.code == "body_too_large"


def test_sixty_four_levels_are_fine():
    assert json_input.loads("[" * 64 + "]" * 64) is not None
