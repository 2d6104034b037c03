"""The creators console: a page of creators costs the same queries however many."""

import pytest

from tests.links.factories import CreatorFactory

pytestmark = pytest.mark.django_db


def test_the_creator_list_costs_the_same_for_two_creators_or_forty(owner_client, query_budget):
    CreatorFactory.create_batch(2)
    queries = query_budget(
        owner_client, "/admin/creators/creator/", lambda: CreatorFactory.create_batch(38)
    )
    assert queries <= 8
