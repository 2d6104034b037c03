"""Helpers for the console tests: staff users in the real role groups, and messages."""

from bs4 import BeautifulSoup
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages

CHANGELIST = "/admin/ugc/ugcitem/"


def staff_in(role: str, username: str | None = None) -> User:
    user = User.objects.create_user(username or f"user-{role.lower().replace(' ', '-')}",
                                    password="pw", is_staff=True)  # fmt: skip
    user.groups.add(Group.objects.get(name=role))
    return user


def login(client, role: str):
    user = staff_in(role)
    client.force_login(user)
    return user


def messages_of(response) -> list[str]:
    """The messages shown on the page (requests made with follow=True)."""
    if response.context is not None and "messages" in response.context:
        return [str(message) for message in response.context["messages"]]
    return [str(message) for message in get_messages(response.wsgi_request)]


def change_url(item) -> str:
    return f"{CHANGELIST}{item.pk}/change/"


def rows(html: str) -> list[dict[str, str]]:
    """The changelist's rows as {column: text}."""
    soup = BeautifulSoup(html, "lxml")
    found = []
    for tr in soup.select("#result_list tbody tr"):
        cells = {}
        for cell in tr.find_all(["td", "th"]):
            for cls in cell.get("class", []):
                if cls.startswith("field-"):
                    cells[cls.removeprefix("field-")] = cell.get_text(" ", strip=True)
        found.append(cells)
    return found


def numbers(html: str) -> list[str]:
    return [row["number"] for row in rows(html)]


def action(client, name: str, items, **extra):
    data = {"action": name, "_selected_action": [item.pk for item in items], "index": 0}
    data.update(extra)
    return client.post(CHANGELIST, data, follow=True)
