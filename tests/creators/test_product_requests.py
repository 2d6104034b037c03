"""Product requests (issue 18): a creator asks for a sample in the portal, the shop approves or
declines it in the console, and the content made with it is linked back."""

import pytest
from django.utils import timezone

from core.errors import ApplicationError
from creators import services
from creators.models import ProductRequest
from tests.catalog.factories import ProductFactory
from tests.creators.factories import creator_account, log_in
from tests.ugc.factories import UGCItemFactory, UGCProductMapFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def maya(program, client):
    creator = creator_account(program[1], email="maya@example.com", name="Maya", handle="maya")
    log_in(client, creator)
    return creator


def test_ask_approve_and_see_the_content_that_came_back(client, owner_client, maya):
    jacket = ProductFactory(title="Trail Jacket")
    page = client.get("/creators/samples/")
    assert page.status_code == 200 and b"Ask for a sample" in page.content

    client.post("/creators/samples/", {"product": jacket.pk, "note": "A rainy hike reel"})
    twice = client.post("/creators/samples/", {"product": jacket.pk, "note": "again"})
    assert twice.status_code == 400 and b"asked for this product already" in twice.content
    request = ProductRequest.objects.get()
    assert (request.creator, request.status) == (maya, "requested")

    owner_client.post("/admin/creators/productrequest/",
                      {"action": "approve", "_selected_action": [request.pk]})  # fmt: skip
    request.refresh_from_db()
    assert request.status == "approved" and request.decided_by is not None

    before = UGCItemFactory(creator=maya)
    UGCProductMapFactory(item=before, product=jacket)
    type(before).objects.filter(pk=before.pk).update(
        created_at=timezone.now() - timezone.timedelta(days=1)
    )
    made = UGCItemFactory(creator=maya)
    UGCProductMapFactory(item=made, product=jacket)

    mine = client.get("/creators/samples/").content.decode()
    assert f"#{made.pk}" in mine and f"#{before.pk}<" not in mine
    console = owner_client.get("/admin/creators/productrequest/").content.decode()
    assert f"/admin/ugc/ugcitem/{made.pk}/change/" in console


def test_decline_needs_a_reason_the_creator_reads(client, owner_client, maya):
    request = services.product_request_create(
        creator_id=maya.pk, product_id=ProductFactory().pk, note="unboxing"
    )
    page = owner_client.post("/admin/creators/productrequest/",
                             {"action": "decline", "_selected_action": [request.pk]})  # fmt: skip
    assert b"the creator reads your reason" in page.content
    owner_client.post("/admin/creators/productrequest/", {
        "action": "decline", "_selected_action": [request.pk], "apply": "1",
        "reason": "Out of samples this month",
    })  # fmt: skip
    request.refresh_from_db()
    assert request.status == "declined"
    assert b"Out of samples this month" in client.get("/creators/samples/").content
    with pytest.raises(ApplicationError, match="already declined"):
        services.product_request_decide(request_id=request.pk, approve=True, actor=None)


def test_limits_inactive_products_and_open_requests(maya, settings):
    settings.CREATOR_SAMPLE_MAX_OPEN = 2
    with pytest.raises(ApplicationError, match="not on sale"):
        services.product_request_create(
            creator_id=maya.pk, product_id=ProductFactory(active=False).pk, note="x"
        )
    for _ in range(2):
        services.product_request_create(creator_id=maya.pk, product_id=ProductFactory().pk,
                                        note="x")  # fmt: skip
    with pytest.raises(ApplicationError, match="2 requests waiting"):
        services.product_request_create(creator_id=maya.pk, product_id=ProductFactory().pk,
                                        note="x")  # fmt: skip
    maya.status = "paused"
    maya.save()
    with pytest.raises(ApplicationError, match="Only active creators"):
        services.product_request_create(creator_id=maya.pk, product_id=ProductFactory().pk,
                                        note="x")  # fmt: skip
