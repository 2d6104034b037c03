"""`/api/orders/<id>/fulfilments` (issue 19): ship by API, replay, errors in the one shape."""

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from sales.fulfilment_models import Fulfilment
from tests.sales.fulfil_helpers import paid_order

pytestmark = pytest.mark.django_db


def api_as(role):
    user = User.objects.create_user(f"u-{role}", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_ship_part_of_an_order_then_replay_the_same_request():
    order = paid_order([("A", 2, "10.00"), ("B", 1, "5.00")])
    client = api_as("Owner")
    url = f"/api/orders/{order.pk}/fulfilments"
    body = {
        "carrier": "UPS",
        "tracking_number": "1Z-API-0001",
        "lines": [{"sku": "A", "quantity": 1}],
    }
    first = client.post(url, body, format="json")
    assert first.status_code == 201, first.json()
    data = first.json()
    assert data["carrier"] == "ups" and data["lines"] == [
        {"line": order.lines.get(sku="A").pk, "sku": "A", "quantity": 1}
    ]
    assert data["push_state"] == "not_needed"  # a Stripe order: nothing to push
    again = client.post(url, body, format="json")
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    rest = client.post(url, {"carrier": "dhl", "tracking_number": "DHL-API-2"}, format="json")
    assert rest.status_code == 201
    assert sorted((x["sku"], x["quantity"]) for x in rest.json()["lines"]) == [("A", 1), ("B", 1)]
    listed = client.get(url).json()
    assert [p["tracking_number"] for p in listed] == ["1Z-API-0001", "DHL-API-2"]
    assert client.get(f"/api/orders/{order.pk}").json()["status"] == "fulfilled"


@pytest.mark.parametrize(
    ("body", "status", "code", "text"),
    [
        ({"carrier": "pigeon", "tracking_number": "T-0001"}, 400, "invalid", "Unknown carrier"),
        ({"carrier": "ups", "tracking_number": "T-0001", "lines": [{"sku": "Z", "quantity": 1}]},
         404, "not_found", "has no SKU 'Z'"),
        ({"carrier": "ups", "tracking_number": "T-0001", "lines": [{"sku": "A", "quantity": 9}]},
         409, "conflict", "only 2 of 2 are left"),
        ({"carrier": "ups", "tracking_number": "T-0001", "lines": [{"quantity": 1}]},
         400, "invalid", "line"),
    ],
)  # fmt: skip
def test_bad_requests_are_named_and_change_nothing(body, status, code, text):
    order = paid_order([("A", 2, "10.00")])
    answer = api_as("Owner").post(f"/api/orders/{order.pk}/fulfilments", body, format="json")
    assert answer.status_code == status, answer.json()
    assert answer.json()["error"]["code"] == code and text in answer.content.decode()
    assert not Fulfilment.objects.exists()


def test_finance_reads_parcels_but_cannot_ship_and_unknown_orders_are_404():
    order = paid_order([("A", 1, "10.00")])
    finance = api_as("Finance")
    assert finance.get(f"/api/orders/{order.pk}/fulfilments").status_code == 200
    body = {"carrier": "ups", "tracking_number": "T-0001"}
    answer = finance.post(f"/api/orders/{order.pk}/fulfilments", body, format="json")
    assert answer.status_code == 403
    assert api_as("Owner").get("/api/orders/999999/fulfilments").status_code == 404
