"""UGC in the merchant console: the moderation queue, item pages, uploads and the lists.

Only users with `ugc.moderate_ugcitem` (the Moderator and Owner roles) moderate: the bulk
actions, the buttons on the change page and the rights and mapping inlines all need it.
Others with view permission see the queue read-only. Every write goes through
`ugc.services` (one call per item), so the item lock, the state machine, the audit trail
and the rights gate hold whatever the console sends.

`UGCItemAdmin` is put together from one part per concern: the queue (`queue.py`), the bulk
actions (`actions.py`), the item page (`item.py`) and the upload page (`uploads.py`); the
merchant's lists are in `lists.py`, the read-only records in `records.py`.
"""

from django.contrib import admin
from django.urls import path

from core import admin_base as console
from ugc.admin.actions import BulkActionsMixin
from ugc.admin.collections import ENTRY_MODEL_NAME, UGCCollectionAdmin  # noqa: F401 - registers
from ugc.admin.item import ItemPageMixin
from ugc.admin.lists import BlocklistEntryAdmin, RejectionReasonAdmin
from ugc.admin.look import LookMixin
from ugc.admin.permissions import can_moderate
from ugc.admin.queue import QueueMixin
from ugc.admin.records import ModerationEventAdmin, UGCMetricDailyAdmin
from ugc.admin.reviews import ReviewAdmin  # noqa: F401 - issue 18, registers itself
from ugc.admin.rights_requests import RightsRequestActionMixin  # issue 18
from ugc.admin.schedule import UGCScheduleAdmin
from ugc.admin.uploads import UploadMixin
from ugc.models import (
    BlocklistEntry,
    ModerationEvent,
    RejectionReason,
    UGCItem,
    UGCMetricDaily,
    UGCSchedule,
)


class UGCItemAdmin(
    QueueMixin,
    BulkActionsMixin,
    RightsRequestActionMixin,
    ItemPageMixin,
    UploadMixin,
    LookMixin,
    console.ModelAdmin,
):
    actions = [*BulkActionsMixin.actions, "ask_for_rights"]  # issue 18: rights requests

    def has_moderate_permission(self, request):
        return can_moderate(request)

    def has_add_permission(self, request):
        return False  # items come in through the upload page (and ugc_ingest) only

    def get_search_results(self, request, queryset, search_term):
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        if request.GET.get("model_name") == ENTRY_MODEL_NAME:  # a collection's item picker
            queryset = queryset.filter(status=UGCItem.Status.PUBLISHED)
        return queryset, duplicates

    def has_change_permission(self, request, obj=None):
        # "Change" here means moderating: rights, mappings and the moderation buttons.
        return can_moderate(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # archive instead: deleting would drop the audit trail

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name="ugc_ugcitem_upload"),
            path("<int:item_id>/moderate/", wrap(self.moderate_view), name="ugc_ugcitem_moderate"),
            path("<int:item_id>/original/", wrap(self.original_view), name="ugc_ugcitem_original"),
            path("<int:item_id>/proof/", wrap(self.proof_view), name="ugc_ugcitem_proof"),
            path("<int:item_id>/look/", wrap(self.look_view), name="ugc_ugcitem_look"),
            *super().get_urls(),
        ]


admin.site.register(UGCItem, UGCItemAdmin)
admin.site.register(RejectionReason, RejectionReasonAdmin)
admin.site.register(BlocklistEntry, BlocklistEntryAdmin)
admin.site.register(ModerationEvent, ModerationEventAdmin)
admin.site.register(UGCMetricDaily, UGCMetricDailyAdmin)
admin.site.register(UGCSchedule, UGCScheduleAdmin)  # publishing calendar (issue 18)
