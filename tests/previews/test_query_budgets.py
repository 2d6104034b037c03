"""Previews in the console and the API: a page costs the same queries however many previews."""

from decimal import Decimal

import pytest
from django.utils import timezone

from previews.models import LinkPreview

pytestmark = pytest.mark.django_db


def _previews(n, start=0):
    LinkPreview.objects.bulk_create(
        [
            LinkPreview(
                url=f"https://shop{i}.example.org/item",
                title=f"Item {i}",
                site_name="Shop",
                status=LinkPreview.Status.OK,
                price=Decimal("9.99"),
                currency="USD",
                fetched_at=timezone.now(),
            )  # fmt: skip
            for i in range(start, start + n)
        ]
    )


def test_the_preview_list_costs_the_same_for_two_previews_or_forty(owner_client, query_budget):
    _previews(2)
    queries = query_budget(
        owner_client, "/admin/previews/linkpreview/", lambda: _previews(38, start=2)
    )
    assert queries <= 9  # session, user, the page and its count, the status filter


def test_the_previews_api_lookup_costs_the_same_for_two_previews_or_forty(
    owner_client, query_budget
):
    _previews(2)
    params = {"url": "https://shop1.example.org/item"}
    queries = query_budget(owner_client, "/api/previews", lambda: _previews(38, start=2), params)
    assert queries <= 5  # session, user, its groups' permissions, the preview
