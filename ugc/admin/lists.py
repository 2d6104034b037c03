"""The merchant's lists in the console: rejection reasons and the blocklist."""

from django.contrib import admin
from django.db.models import Count

from core import admin_base as console
from ugc import services


def _adopt(obj, saved) -> None:
    """The admin goes on with its own `obj` (history, messages, redirect): give it what the
    service saved."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))


class RejectionReasonAdmin(console.ModelAdmin):
    list_display = ["label", "active", "times_used", "created_at"]
    list_editable = ["active"]
    list_filter = ["active"]
    search_fields = ["label"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_used=Count("items"))

    @admin.display(description="Items rejected", ordering="_used")
    def times_used(self, obj):
        return obj._used

    def has_delete_permission(self, request, obj=None):
        return False  # items keep their reason: turn it off instead

    def save_model(self, request, obj, form, change):
        saved = services.rejection_reason_save(reason_id=obj.pk, label=obj.label, active=obj.active)
        _adopt(obj, saved)


class BlocklistEntryAdmin(console.ModelAdmin):
    list_display = ["term", "kind", "action", "active", "created_at"]
    list_editable = ["action", "active"]
    list_filter = ["kind", "action", "active"]
    search_fields = ["term"]

    def save_model(self, request, obj, form, change):
        saved = services.blocklist_entry_save(
            entry_id=obj.pk, term=obj.term, kind=obj.kind, action=obj.action, active=obj.active
        )
        _adopt(obj, saved)
