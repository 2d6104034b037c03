"""The publishing calendar in the console: scheduling through the service, the month grid,
and the roles."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone

from tests.ugc.admin_helpers import login
from tests.ugc.factories import publishable_item
from ugc import services
from ugc.models import UGCSchedule

CALENDAR = "/admin/ugc/ugcschedule/calendar/"
SCHEDULE = "/admin/ugc/ugcschedule/schedule/"


@pytest.mark.django_db
def test_a_moderator_schedules_an_item_and_sees_it_on_the_calendar(client):
    login(client, "Moderator")
    item = publishable_item()
    at = timezone.localtime() + timedelta(days=2)
    response = client.post(
        SCHEDULE,
        {"item": item.pk, "placement": "product_page", "publish_at": at.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = UGCSchedule.objects.get(item=item)
    assert schedule.placement == "product_page" and schedule.status == "scheduled"

    page = client.get(response["Location"])
    soup = BeautifulSoup(page.content, "lxml")
    cell = soup.select_one(f'td[data-day="{at:%Y-%m-%d}"]')
    assert cell is not None
    entry = cell.select_one("li.scheduled")
    assert f"#{item.pk}" in entry.text and "Product page gallery" in entry.text
    assert at.strftime("%H:%M") in entry.text


@pytest.mark.django_db
def test_a_refused_schedule_shows_the_reason_on_the_form(client):
    login(client, "Moderator")
    item = publishable_item()
    past = timezone.localtime() - timedelta(hours=1)
    response = client.post(
        SCHEDULE,
        {"item": item.pk, "placement": "home_feed", "publish_at": past.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "The publishing time must be in the future." in text
    assert not UGCSchedule.objects.exists()


@pytest.mark.django_db
def test_a_catalog_manager_sees_the_calendar_but_cannot_schedule(client):
    item = publishable_item()
    services.ugc_schedule_create(
        item_id=item.pk, placement="product_page", publish_at=timezone.now() + timedelta(hours=1)
    )
    login(client, "Catalog manager")
    page = client.get(CALENDAR)
    assert page.status_code == 200
    assert f"#{item.pk}" in page.content.decode()
    assert "Schedule publishing" not in page.content.decode()
    assert client.get(SCHEDULE).status_code == 403
