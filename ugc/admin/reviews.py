"""On-site reviews in the console (issue 18): the reviews waiting for moderation, publish or
reject them (each through `services.review_publish` / `review_reject`, audited), with their
photos and video, which are UGC items moderated in the item queue."""

from django.contrib import admin, messages
from django.utils.html import format_html

from core import admin_base as console
from core.errors import ApplicationError, error_message
from ugc import services
from ugc.models import Review, ReviewEvent, ReviewMedia

REJECT_REASON = "Does not follow the review guidelines."


class ReviewMediaInline(console.TabularInline):
    model = ReviewMedia
    fields = ["item_link", "item_status"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Item")
    def item_link(self, obj):
        return format_html(
            '<a href="../../../ugcitem/{}/change/">#{}</a>', obj.item_id, obj.item_id
        )

    @admin.display(description="Moderation")
    def item_status(self, obj):
        return obj.item.get_status_display()


class ReviewEventInline(console.TabularInline):
    model = ReviewEvent
    fields = ["at", "actor", "action", "from_status", "to_status", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Review)
class ReviewAdmin(console.ModelAdmin):
    list_display = [
        "pk", "product", "stars", "title", "reviewer_name", "verified", "status", "flagged",
        "created_at",
    ]  # fmt: skip
    list_filter = ["status", "stars"]
    search_fields = ["title", "body", "reviewer_name", "product__title"]
    list_select_related = ["product"]
    readonly_fields = [
        "product", "order_line_id", "stars", "title", "body", "reviewer_name", "consent_text",
        "status", "flags", "created_at", "published_at",
    ]  # fmt: skip
    fields = readonly_fields
    inlines = [ReviewMediaInline, ReviewEventInline]
    actions = ["publish_reviews", "reject_reviews"]

    def has_add_permission(self, request):
        return False  # reviews come from verified buyers' links only

    def has_delete_permission(self, request, obj=None):
        return False

    def has_moderate_permission(self, request):
        return request.user.has_perm("ugc.moderate_review")

    @admin.display(description="Verified buyer", boolean=True)
    def verified(self, obj):
        return obj.verified_buyer

    @admin.display(description="Flags")
    def flagged(self, obj):
        return ", ".join(flag.get("detail", "") for flag in obj.flags or []) or "–"

    def _each(self, request, queryset, step, done: str):
        moved = 0
        for review_id in queryset.order_by("pk").values_list("pk", flat=True)[:500]:
            try:
                step(review_id)
                moved += 1
            except ApplicationError as exc:
                self.message_user(request, f"#{review_id}: {error_message(exc)}", messages.ERROR)
        if moved:
            self.message_user(request, f"{done} {moved} review(s).", messages.SUCCESS)

    @admin.action(description="Publish selected reviews", permissions=["moderate"])
    def publish_reviews(self, request, queryset):
        self._each(
            request, queryset,
            lambda pk: services.review_publish(review_id=pk, actor=request.user), "Published",
        )  # fmt: skip

    @admin.action(description="Reject selected reviews", permissions=["moderate"])
    def reject_reviews(self, request, queryset):
        self._each(
            request, queryset,
            lambda pk: services.review_reject(review_id=pk, actor=request.user,
                                              reason=REJECT_REASON),
            "Rejected",
        )  # fmt: skip
