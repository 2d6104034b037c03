"""Console pages for records that only services write.

`ReadOnlyAdminMixin`: audit trails, deliveries, decisions: the console shows them, nobody
adds, edits or deletes one. `NoAddOrDeleteMixin`: records that services create and the console
may change only through its actions or forms (a review, a throttle lifted), never add or delete.
Put the mixin first in the bases, before `core.admin_base.ModelAdmin` or an inline class.
"""


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NoAddOrDeleteMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
