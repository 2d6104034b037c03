"""The console's login: a refused `next` lands in the console, not on a 404."""

import pytest
from django.contrib.auth.models import User


@pytest.mark.django_db
@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", ""])
def test_a_login_whose_next_is_refused_goes_to_the_console(client, next_url):
    User.objects.create_user("staff", password="a-long-password-1", is_staff=True)
    response = client.post(
        "/admin/login/?next=" + next_url,
        {"username": "staff", "password": "a-long-password-1", "next": next_url},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
