"""Product requests in the console (issue 18): approve or decline a creator's sample request
(the creator reads the note), and see the content that came back for it."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render
from django.utils.html import format_html_join

from core import admin_base as console
from core.errors import ApplicationError
from creators import services
from creators.models import ProductRequest
from creators.portal import selectors as reads


class DeclineForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="The creator reads it."
    )


@admin.register(ProductRequest)
class ProductRequestAdmin(console.ModelAdmin):
    list_display = ["product", "creator", "status", "created_at", "decided_at", "content"]
    list_filter = ["status"]
    search_fields = ["creator__handle", "creator__name", "product__title"]
    list_select_related = ["creator", "product"]
    readonly_fields = [
        "creator", "product", "variant", "note", "status", "decided_by", "decided_at",
        "decision_note", "created_at", "content",
    ]  # fmt: skip
    fields = readonly_fields
    actions = ["approve", "decline"]

    def has_add_permission(self, request):
        return False  # creators ask in the portal

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Content back")
    def content(self, obj):
        items = reads.content_back(obj)
        if not items:
            return "–"
        return format_html_join(
            ", ", '<a href="/admin/ugc/ugcitem/{}/change/">#{}</a>', ((i.pk, i.pk) for i in items)
        )

    def _decide(self, request, queryset, *, approve: bool, note: str = ""):
        done = 0
        for pk in queryset.order_by("pk").values_list("pk", flat=True)[:200]:
            try:
                services.product_request_decide(
                    request_id=pk, approve=approve, actor=request.user, note=note
                )
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"#{pk}: {exc.message}", messages.WARNING)
        if done:
            verb = "Approved" if approve else "Declined"
            self.message_user(request, f"{verb} {done} request(s).", messages.SUCCESS)

    @admin.action(description="Approve the selected requests", permissions=["change"])
    def approve(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description="Decline the selected requests (with a reason)",
                  permissions=["change"])  # fmt: skip
    def decline(self, request, queryset):
        form = DeclineForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._decide(request, queryset, approve=False, note=form.cleaned_data["reason"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Decline sample requests",
            "requests": queryset.select_related("creator", "product"),
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "admin/creators/productrequest/decline.html", context)
