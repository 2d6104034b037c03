"""A customer data request in a real browser: Shopify posts it (signed) to the running server,
the job writes the export, and the owner downloads it from the console, which makes it done."""

import json
import re

import pytest
from playwright.sync_api import expect

from integrations.models import ComplianceRequest
from tests.core.test_admin_browser import log_in, staff_user
from tests.integrations.helpers import SHOP
from tests.sales.adapters import ADAPTERS
from tests.sales.factories import SalesChannelFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_downloads_a_customers_data_export(
    page, live_server, merchant_roles, shopify_server, settings, client
):
    channel = SalesChannelFactory(provider="shopify")
    ADAPTERS["shopify"]().order(channel, "3001", email="ada@example.com").post(client, channel)
    url = live_server.url + "/webhooks/shopify/compliance"
    status = shopify_server.send_compliance(url, SHOP, "customers/data_request",
                                            email="ada@example.com", orders=[3001],
                                            data_request_id=77)  # fmt: skip
    assert status == 200
    request = ComplianceRequest.objects.get()
    assert request.status == "ready"

    staff_user("olivia", "Owner")
    log_in(page, "olivia")
    page.goto("/admin/integrations/compliancerequest/")
    expect(page.locator(".page-subtitle")).to_contain_text("/webhooks/shopify/compliance")
    expect(page.locator("#result_list")).to_contain_text("Export ready to download")
    page.locator("#result_list").get_by_role("link", name="Customer data request").click()
    expect(page.locator("#content")).to_contain_text("Export written: 1 order(s)")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the export").click()
    saved = download.value
    assert saved.suggested_filename == "shopify-data-request-77.json"
    exported = json.loads(open(saved.path(), encoding="utf-8").read())  # noqa: PTH123, SIM115
    assert [o["external_id"] for o in exported["orders"]] == ["3001"]
    page.reload()
    expect(page.locator("#content")).to_contain_text(re.compile(r"Done"))
    request.refresh_from_db()
    assert request.status == "done"
    assert request.events.filter(action="deliver", actor__username="olivia").exists()
