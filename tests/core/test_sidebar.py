"""The console's sidebar (django-unfold, config/console.py), organised by task.

Per role: the groups and items shown are exactly the pages that role may open, computed here
from the role's permissions (not from the sidebar's own checks); the model lists shown are
exactly the ones Django's admin offers that user (so the theme hides nothing a role reaches
and shows nothing it does not); every link shown answers 200, and the pages not shown answer
403. Every console list of every app has a place in the sidebar.
"""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.test import RequestFactory

from config.console import SIDEBAR, sidebar_for

pytestmark = pytest.mark.django_db

ROLES = ["Owner", "Catalog manager", "Moderator", "Finance"]
GROUPS = ["Sell", "Content", "Creators", "Money", "Catalog", "Settings"]
# Custom pages in the sidebar and the one permission each page's view checks.
CUSTOM_PAGES = {
    "/admin/": "analytics.view_rollup",  # the dashboard (others get the list of pages)
    "/admin/ugc/ugcitem/upload/": "ugc.add_ugcitem",
    "/admin/ugc/ugcmetricdaily/placements/": "ugc.view_ugcmetricdaily",
    "/admin/sales/fulfilment/low-stock/": "catalog.view_product",
}


def staff_in(role: str | None) -> User:
    name = f"staff-{(role or 'none').lower().replace(' ', '-')}"
    user = User.objects.create_user(name, password="pw", is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)  # no cached permissions


def request_for(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def every_item():
    return [(group["title"], item) for group in SIDEBAR for item in group["items"]]


def may_open(user, link: str) -> bool:
    """From the role's permissions alone: a list needs its model's view or change
    permission; a custom page the permission its view checks."""
    if link in CUSTOM_PAGES:
        return user.has_perm(CUSTOM_PAGES[link])
    app_label, model = link.removeprefix("/admin/").strip("/").split("/")
    return user.has_perm(f"{app_label}.view_{model}") or user.has_perm(
        f"{app_label}.change_{model}"
    )


def test_the_groups_are_the_tasks_in_order():
    assert [group["title"] for group in SIDEBAR] == GROUPS
    links = [str(item["link"]) for _, item in every_item()]
    assert len(links) == len(set(links)), "a page listed twice"


def test_every_console_list_has_a_place_in_the_sidebar():
    lists = {
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for model in admin.site._registry
    }
    in_sidebar = {str(item["link"]) for _, item in every_item()}
    assert lists - in_sidebar == set()
    assert in_sidebar - lists == set(CUSTOM_PAGES)


@pytest.mark.parametrize("role", ROLES)
def test_a_role_sees_exactly_the_pages_it_may_open_and_each_answers(client, merchant_roles,
                                                                    role):  # fmt: skip
    user = staff_in(role)
    shown = sidebar_for(request_for(user))
    expected = []
    for group in SIDEBAR:
        items = [str(i["link"]) for i in group["items"] if may_open(user, str(i["link"]))]
        if items:
            expected.append((group["title"], items))
    assert [(g["title"], [i["link"] for i in g["items"]]) for g in shown] == expected

    # The model lists shown are the ones Django's admin itself offers this user.
    offered = {
        model["admin_url"]
        for app in admin.site.get_app_list(request_for(user))
        for model in app["models"]
        if model["admin_url"]
    }
    shown_links = {item["link"] for g in shown for item in g["items"]}
    assert shown_links - set(CUSTOM_PAGES) == offered

    client.force_login(user)
    for link in sorted(shown_links):
        assert client.get(link).status_code == 200, link
    for _, item in every_item():
        link = str(item["link"])
        if link not in shown_links and link != "/admin/":  # home: the list of pages for all
            assert client.get(link).status_code == 403, link


def test_what_each_role_finds_where(merchant_roles):
    def titles(role):
        return {
            g["title"]: [i["title"] for i in g["items"]]
            for g in sidebar_for(request_for(staff_in(role)))
        }

    owner, finance = titles("Owner"), titles("Finance")
    moderator, catalog = titles("Moderator"), titles("Catalog manager")
    assert list(owner) == GROUPS
    assert owner["Sell"][:2] == ["Dashboard", "Orders"]
    assert "Users" in owner["Settings"] and "API tokens" in owner["Settings"]
    # Finance: the dashboard and the money; no blocklist, uploads or users.
    assert "Dashboard" in finance["Sell"]
    assert {"Commissions", "Balances", "Payout runs", "Reconciliation"} <= set(finance["Money"])
    assert "Blocklist" not in finance.get("Content", [])
    assert "Upload content" not in finance.get("Content", [])
    assert "Users" not in finance.get("Settings", [])
    # Moderator: the queue, uploads, reasons and the blocklist; no money, no dashboard.
    assert "Money" not in moderator
    assert "Dashboard" not in moderator.get("Sell", [])
    assert {"Moderation queue", "Upload content", "Rejection reasons", "Blocklist"} <= set(
        moderator["Content"]
    )
    # Catalog manager: products and links; no money, no fraud review.
    assert {"Products", "Variants"} <= set(catalog["Catalog"])
    assert "Short links" in catalog["Sell"]
    assert "Money" not in catalog
    assert "Fraud review" not in catalog.get("Creators", [])


def test_staff_without_a_role_sees_no_group(merchant_roles):
    assert sidebar_for(request_for(staff_in(None))) == []


def test_the_sidebar_is_on_every_console_page_and_marks_where_you_are(client, merchant_roles):
    client.force_login(staff_in("Moderator"))
    html = client.get("/admin/ugc/blocklistentry/").content.decode()
    assert 'id="nav-sidebar"' in html
    assert "Content" in html and "Moderation queue" in html
    assert 'href="/admin/ugc/blocklistentry/" class="' in html
    active = html.split('href="/admin/ugc/blocklistentry/" class="', 1)[1].split('"', 1)[0]
    assert "active" in active.split()
    assert "/admin/sales/commission/" not in html  # Money is not the moderator's


@pytest.mark.parametrize(
    ("path", "active"),
    [
        ("/admin/ugc/ugcitem/", "Moderation queue"),
        ("/admin/ugc/ugcitem/upload/", "Upload content"),
        ("/admin/ugc/ugcitem/1/change/", "Moderation queue"),
        ("/admin/ugc/ugcmetricdaily/placements/", "Placements"),
        ("/admin/ugc/ugcmetricdaily/", "Feed metrics"),
        ("/admin/sales/fulfilment/low-stock/", "Low stock and days of cover"),
        ("/admin/", "Dashboard"),
        ("/admin/analytics/link/1/", None),
    ],
)
def test_one_item_marks_where_you_are(merchant_roles, path, active):
    request = RequestFactory().get(path)
    request.user = staff_in("Owner")
    marked = [
        item["title"]
        for group in admin.site.get_sidebar_list(request)
        for item in group["items"]
        if item["active"]
    ]
    assert marked == ([active] if active else [])
