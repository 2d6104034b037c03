"""The console's base classes: every ModelAdmin and inline in every app derives from these.

The console runs on django-unfold (issue 16). Unfold's ModelAdmin and inlines bring its
widgets, changelist and change-form templates; a stock `admin.ModelAdmin` would render with
Django's own widgets inside Unfold's frame. Put `ReadOnlyAdminMixin` / `NoAddOrDeleteMixin`
(core/admin_readonly.py) first in the bases, then one of these.

`use_unfold_for_third_party_admins()` re-registers the admins other packages register (auth's
User and Group with Unfold's forms, DRF's tokens, django-axes' records) on these classes, as
Unfold's documentation asks; it keeps each one's own options (lists, filters, permissions).
"""

from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.admin import StackedInline as UnfoldStackedInline
from unfold.admin import TabularInline as UnfoldTabularInline


class ModelAdmin(UnfoldModelAdmin):
    """A console page for one model."""

    # A list's filters sit beside it on wide screens (from 1536 px, as Django's did); on a
    # laptop they open from the list's "Filters" button, leaving the columns the width.
    list_filter_sheet = False


class TabularInline(UnfoldTabularInline):
    pass


class StackedInline(UnfoldStackedInline):
    pass


def _reregister(site, model, base_admin, **attrs):
    """Register `model` again with its package's admin class mixed with ours."""
    if site.is_registered(model):
        site.unregister(model)
    name = base_admin.__name__
    site.register(model, type(name, (base_admin, ModelAdmin), {"__module__": __name__, **attrs}))


def use_unfold_for_third_party_admins(site=None) -> None:
    from django.contrib import admin
    from django.contrib.auth.admin import GroupAdmin, UserAdmin
    from django.contrib.auth.models import Group, User
    from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

    site = site or admin.site
    _reregister(
        site, User, UserAdmin,
        form=UserChangeForm, add_form=UserCreationForm,
        change_password_form=AdminPasswordChangeForm,
    )  # fmt: skip
    _reregister(site, Group, GroupAdmin)
    try:
        from rest_framework.authtoken.admin import TokenAdmin
        from rest_framework.authtoken.models import TokenProxy
    except ImportError:  # pragma: no cover - DRF's tokens are installed with the API
        pass
    else:
        _reregister(site, TokenProxy, TokenAdmin)
    from django.apps import apps

    if apps.is_installed("axes"):
        from axes import admin as axes_admin
        from axes.models import AccessAttempt, AccessFailureLog, AccessLog

        for model, base in [
            (AccessAttempt, axes_admin.AccessAttemptAdmin),
            (AccessLog, axes_admin.AccessLogAdmin),
            (AccessFailureLog, axes_admin.AccessFailureLogAdmin),
        ]:
            if site.is_registered(model):
                _reregister(site, model, base)
