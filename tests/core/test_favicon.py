"""`/favicon.ico` answers with the shop's icon, and every page says where it is."""

import io

import pytest
from bs4 import BeautifulSoup
from PIL import Image

pytestmark = pytest.mark.django_db


def test_favicon_ico_is_a_real_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert "max-age=86400" in response["Cache-Control"]
    icon = Image.open(io.BytesIO(response.content))
    assert icon.format == "ICO"
    assert {(16, 16), (32, 32), (48, 48)} <= set(icon.info["sizes"])
    assert client.head("/favicon.ico").status_code == 200
    assert client.post("/favicon.ico").status_code == 405


@pytest.mark.parametrize("url", ["/", "/admin/login/"])
def test_pages_link_the_icon(client, url):
    soup = BeautifulSoup(client.get(url).content, "lxml")
    assert soup.select_one('link[rel="icon"]')["href"] == "/static/favicon.ico"
