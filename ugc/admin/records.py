"""Read-only records: the moderation audit and the daily metrics."""

from core import admin_base as console
from core.admin_readonly import ReadOnlyAdminMixin


class ReadOnlyAdmin(ReadOnlyAdminMixin, console.ModelAdmin):
    """Records the console shows and nobody adds, edits or deletes."""


class ModerationEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "item", "action", "from_status", "to_status", "actor", "reason"]
    list_filter = ["action", "to_status"]
    search_fields = ["reason", "item__id", "actor__username"]
    list_select_related = ["item", "actor"]
    date_hierarchy = "at"
    list_per_page = 100


class UGCMetricDailyAdmin(ReadOnlyAdmin):
    list_display = [
        "day", "item", "placement", "impressions", "clicks", "add_to_carts", "purchases"
    ]  # fmt: skip
    list_filter = ["placement"]
    list_select_related = ["item"]
    date_hierarchy = "day"
    list_per_page = 100
    change_list_template = "admin/ugc/ugcmetricdaily/change_list.html"

    def get_urls(self):
        from django.urls import path

        from ugc.admin.placements import placement_report_view

        view = self.admin_site.admin_view(lambda request: placement_report_view(self, request))
        return [
            path("placements/", view, name="ugc_ugcmetricdaily_placements"),
            *super().get_urls(),
        ]
