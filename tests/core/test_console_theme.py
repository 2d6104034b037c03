"""Every console page is on django-unfold: each registered admin and each of its inlines
derives from Unfold's classes (through core/admin_base.py), auth's user pages use Unfold's
forms, and the site is Unfold's, titled and with the shop's icon."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from unfold.admin import ModelAdmin, StackedInline, TabularInline
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.sites import UnfoldAdminSite

from core import admin_base


def test_the_site_is_unfolds():
    assert isinstance(admin.site, UnfoldAdminSite)


def test_every_admin_and_inline_is_on_unfold():
    not_unfold = []
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, admin_base.ModelAdmin):
            not_unfold.append(model._meta.label)
        for inline in model_admin.inlines:
            if not issubclass(inline, (admin_base.TabularInline, admin_base.StackedInline)):
                not_unfold.append(f"{model._meta.label}: {inline.__name__}")
    assert not_unfold == []
    assert issubclass(admin_base.ModelAdmin, ModelAdmin)
    assert issubclass(admin_base.TabularInline, TabularInline)
    assert issubclass(admin_base.StackedInline, StackedInline)


def test_users_are_edited_with_unfolds_forms():
    user_admin = admin.site._registry[User]
    assert user_admin.form is UserChangeForm
    assert user_admin.add_form is UserCreationForm
    assert user_admin.change_password_form is AdminPasswordChangeForm
    assert "username" in user_admin.search_fields  # auth's own options are kept


@pytest.mark.django_db
def test_the_console_is_titled_and_has_the_shops_icon(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert "Shoploop merchant console" in html
    assert 'rel="icon"' in html and "/static/favicon" in html
    assert "/static/console/console.css" in html
    assert admin_client.get("/admin/login/").status_code in (200, 302)
