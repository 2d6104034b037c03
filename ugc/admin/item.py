"""An item's page: the preview, what blocks publishing, the audit trail, the moderation
buttons, downloads of the private files, and rights and mappings as inlines saved through
the services."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core import admin_base as console
from core.admin_readonly import ReadOnlyAdminMixin
from core.errors import ApplicationError, error_message
from ugc import services
from ugc.admin import actions
from ugc.admin.display import preview_html
from ugc.admin.forms import (
    ProductMapForm,
    ProductMapFormSet,
    RejectForm,
    RightsForm,
    rejection_reasons_notice,
)
from ugc.admin.permissions import can_moderate
from ugc.models import ModerationEvent, SocialPost, UGCItem, UGCProductMap, UGCRights

Status = UGCItem.Status


def _private_download(field_file, content_type: str):
    """A file from private storage as a download (never shown inline: it may be anything)."""
    if not field_file:
        raise Http404("No such file.")
    return FileResponse(
        field_file.open("rb"),
        as_attachment=True,
        filename=field_file.name.rsplit("/", 1)[-1],
        content_type=content_type or "application/octet-stream",
    )


class UGCRightsInline(console.StackedInline):
    model = UGCRights
    form = RightsForm
    extra = 1
    max_num = 1
    can_delete = False  # rights are revoked (with a reason, audited), never deleted
    readonly_fields = ["granted_at", "granted_by", "revoked_at", "proof_download"]
    fieldsets = [
        (None, {"fields": ["consent_method", "allowed_channels", "licence_type",
                           ("starts_at", "expires_at")]}),
        ("Proof of consent", {"fields": ["proof_download", "proof_file", "proof_url",
                                         "proof_text"]}),
        ("Record", {"fields": [("granted_at", "granted_by"), "revoked_at", "revoke",
                               "revoke_reason"]}),
    ]  # fmt: skip

    def get_fieldsets(self, request, obj=None):
        # `obj` is the item. Before any rights are recorded there is nothing granted to show
        # and nothing to revoke: the empty form has no "Record" section.
        if obj is None or not UGCRights.objects.filter(item_id=obj.pk).exists():
            return [fieldset for fieldset in self.fieldsets if fieldset[0] != "Record"]
        return self.fieldsets

    def has_add_permission(self, request, obj=None):
        return can_moderate(request) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return can_moderate(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Proof on file")
    def proof_download(self, rights):
        if not rights.pk or not rights.proof_file:
            return "–"
        url = reverse("admin:ugc_ugcitem_proof", args=[rights.item_id])
        name = rights.proof_file.name.rsplit("/", 1)[-1]
        return format_html('<a href="{}">Download {}</a> (private)', url, name)


class UGCProductMapInline(console.TabularInline):
    model = UGCProductMap
    form = ProductMapForm
    formset = ProductMapFormSet
    extra = 1
    autocomplete_fields = ["product", "variant"]

    class Media:
        # The variant picker lists only the chosen product's variants.
        js = [
            "admin/js/vendor/jquery/jquery.js",
            "admin/js/vendor/select2/select2.full.js",
            "admin/js/jquery.init.js",
            "admin/js/autocomplete.js",
            "console/variant_choices.js",
        ]

    fields = ["product", "variant", "placement", "confidence", "pinned", "position"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product", "variant__product")

    def has_add_permission(self, request, obj=None):
        return can_moderate(request) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return can_moderate(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return can_moderate(request) and super().has_delete_permission(request, obj)


class ModerationEventInline(ReadOnlyAdminMixin, console.TabularInline):
    """The audit trail, read-only."""

    model = ModerationEvent
    extra = 0
    can_delete = False
    verbose_name = "audit event"
    verbose_name_plural = "audit trail"
    fields = ["at", "actor", "action", "from_status", "to_status", "reason"]
    readonly_fields = fields
    ordering = ["at", "pk"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class ItemPageMixin:
    """The UGC item admin's change page."""

    inlines = [UGCRightsInline, UGCProductMapInline, ModerationEventInline]
    change_form_template = "admin/ugc/ugcitem/change_form.html"
    fieldsets = [
        (None, {"fields": ["preview", "status", "media_summary", "flag_details", "blockers"]}),
        ("Content", {"fields": ["source", "external_id", ("author_handle", "creator"),
                                "caption", ("media_type", "content_type"), "original_file",
                                "post_link"]}),
        ("Moderation", {"fields": [("claimed_by", "claimed_at"),
                                   ("rejection_reason", "rejection_note"),
                                   ("created_at", "published_at")]}),
    ]  # fmt: skip
    readonly_fields = [
        "preview", "status", "media_summary", "flag_details", "blockers", "source",
        "external_id", "author_handle", "creator", "caption", "media_type", "content_type",
        "original_file", "post_link", "claimed_by", "claimed_at", "rejection_reason",
        "rejection_note", "created_at", "published_at",
    ]  # fmt: skip

    # -- read-only fields -------------------------------------------------------------------

    @admin.display(description="Preview")
    def preview(self, obj):
        return preview_html(obj)

    @admin.display(description="Media")
    def media_summary(self, obj):
        manifest = obj.media_manifest or {}
        if obj.media_status == UGCItem.MediaStatus.FAILED:
            return f"Failed: {manifest.get('error', 'unknown error')}"
        if obj.media_status == UGCItem.MediaStatus.READY:
            size = f"{manifest.get('width')}×{manifest.get('height')}"
            if manifest.get("kind") == "video":
                return f"Ready: video {size}, {manifest.get('duration_s', '?')} s"
            return f"Ready: image {size}"
        return "Processing"

    @admin.display(description="Flags")
    def flag_details(self, obj):
        if not obj.flags:
            return "None"
        return format_html_join(
            "", "<div><strong>{}</strong>: {}</div>",
            ((flag.get("code", "?"), flag.get("detail", "")) for flag in obj.flags),
        )  # fmt: skip

    @admin.display(description="Before publishing")
    def blockers(self, obj):
        if obj.status not in (Status.QUEUED, Status.REVIEWING, Status.APPROVED):
            return "–"
        found = services.publish_blockers(obj)
        if not found:
            return "Ready to publish: rights, product mapping and media are in place."
        return format_html_join("", "<div>✗ {}</div>", ((message,) for _, message in found))

    @admin.display(description="Post")
    def post_link(self, obj):
        """A pulled item's post on its platform (a TikTok item is the video's cover image:
        the video itself plays on TikTok)."""
        post = SocialPost.objects.filter(item_id=obj.pk).first() if obj.pk else None
        if post is None or not post.permalink.startswith("https://"):
            return "–"
        label = "Watch the video on TikTok" if obj.source == "tiktok" else "Open the post"
        deleted = " (deleted on the platform)" if post.deleted_at else ""
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>{}',
            post.permalink, label, deleted,
        )  # fmt: skip

    @admin.display(description="Original")
    def original_file(self, obj):
        if not obj.original:
            return "–"
        if not obj.pk:
            return obj.original.name
        url = reverse("admin:ugc_ugcitem_original", args=[obj.pk])
        return format_html('<a href="{}">Download the original</a> (private)', url)

    # -- the page and its inlines, saved through the services ------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        item = self.get_object(request, object_id)
        extra = {}
        if item is not None and self.has_view_permission(request, item):
            extra = self.moderation_context(request, item)
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def moderation_context(self, request, item: UGCItem) -> dict:
        moderator = can_moderate(request)
        next_item = (
            UGCItem.objects.filter(status=Status.QUEUED)
            .exclude(pk=item.pk)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)
            .first()
        )
        return {
            "can_moderate": moderator,
            "item": item,
            "claimed_by_me": item.claimed_by_id == request.user.pk,
            "reject_form": RejectForm(),
            **rejection_reasons_notice(request),
            "approval_warnings": (
                [message for _, message in services.approval_warnings(item)]
                if item.status in (Status.QUEUED, Status.REVIEWING)
                else []
            ),
            "moderate_url": reverse("admin:ugc_ugcitem_moderate", args=[item.pk]),
            "next_id": next_item,
            "next_url": (
                reverse("admin:ugc_ugcitem_change", args=[next_item]) if next_item else ""
            ),
            "publish_blockers": (
                [message for _, message in services.publish_blockers(item)]
                if item.status == Status.APPROVED
                else []
            ),
        }

    def save_model(self, request, obj, form, change):
        # The item's own fields are read-only here; its rights and mappings are saved by
        # `save_formset`, through the services.
        pass

    def save_formset(self, request, form, formset, change):
        formset.save(commit=False)  # fills new/changed/deleted_objects for the change message
        item = form.instance
        if formset.model is UGCRights:
            self._save_rights(request, item, formset)
        elif formset.model is UGCProductMap:
            self._save_mappings(request, item, formset)

    def _service_error(self, request, prefix: str, exc: ApplicationError):
        self.message_user(request, f"{prefix}: {error_message(exc)}", messages.ERROR)

    def _save_rights(self, request, item, formset):
        for rights_form in formset.forms:
            if not rights_form.has_changed():
                continue
            data = rights_form.cleaned_data
            try:
                if data.get("revoke"):
                    services.ugc_rights_revoke(
                        item_id=item.pk, actor=request.user, reason=data.get("revoke_reason", "")
                    )
                    continue
                proof_file = data.get("proof_file")
                services.ugc_rights_grant(
                    item_id=item.pk,
                    consent_method=data["consent_method"],
                    allowed_channels=data.get("allowed_channels") or [],
                    granted_by=request.user,
                    licence_type=data.get("licence_type", ""),
                    starts_at=data.get("starts_at"),
                    expires_at=data.get("expires_at"),
                    proof_file=proof_file if isinstance(proof_file, UploadedFile) else None,
                    proof_url=data.get("proof_url", ""),
                    proof_text=data.get("proof_text", ""),
                )
            except ApplicationError as exc:
                self._service_error(request, "Rights not saved", exc)

    def _save_mappings(self, request, item, formset):
        for map_form in formset.forms:
            if map_form in formset.deleted_forms or not map_form.has_changed():
                continue
            data = map_form.cleaned_data
            try:
                services.ugc_map_product(
                    item_id=item.pk,
                    product=data["product"],
                    variant=data.get("variant"),
                    placement=data["placement"],
                    confidence=data["confidence"],
                    pinned=data.get("pinned", False),
                    position=data.get("position") or 0,
                    actor=request.user,
                )
                old = map_form.instance.pk and map_form.initial
                if old and (
                    old.get("product") != data["product"].pk
                    or old.get("placement") != data["placement"]
                ):  # moved to another product or placement: the old mapping goes
                    services.ugc_unmap_product(mapping_id=map_form.instance.pk, actor=request.user)
            except ApplicationError as exc:
                self._service_error(request, "Mapping not saved", exc)
        for mapping in formset.deleted_objects:  # after the additions: one may replace another
            try:
                services.ugc_unmap_product(mapping_id=mapping.pk, actor=request.user)
            except ApplicationError as exc:
                self._service_error(request, "Mapping not removed", exc)

    # -- extra views: the moderation buttons and the private files --------------------------

    def moderate_view(self, request, item_id: int):
        """The buttons on the change page: one action on one item, through the services."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not can_moderate(request):
            raise PermissionDenied
        item = get_object_or_404(UGCItem, pk=item_id)
        operation = request.POST.get("operation", "")
        user = request.user
        note = request.POST.get("note", "")
        if operation == "claim":
            report = actions.bulk_claim([item.pk], moderator=user)
        elif operation == "approve":
            confirmed = request.POST.get("confirmed") == str(item.pk)
            to_confirm = [] if confirmed else actions.approvals_to_confirm([item.pk])
            if to_confirm:
                return self._approve_confirmation(request, item, to_confirm, note=note)
            report = actions.bulk_approve(
                [item.pk], moderator=user, note=note, confirmed_ids=[item.pk] if confirmed else []
            )
        elif operation == "reject":
            form = RejectForm(request.POST)
            if not form.is_valid():
                errors = "; ".join(m for errs in form.errors.values() for m in errs)
                self.message_user(request, f"Not rejected #{item.pk}: {errors}", messages.ERROR)
                return HttpResponseRedirect(reverse("admin:ugc_ugcitem_change", args=[item.pk]))
            report = actions.bulk_reject(
                [item.pk],
                moderator=user,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
        elif operation == "publish":
            report = actions.bulk_publish([item.pk], actor=user)
        elif operation == "archive":
            report = actions.bulk_archive(
                [item.pk], actor=user, reason=request.POST.get("reason", "")
            )
        elif operation == "requeue":
            report = actions.bulk_requeue(
                [item.pk], actor=user, reason=request.POST.get("reason", "")
            )
        else:
            self.message_user(request, "Unknown moderation action.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:ugc_ugcitem_change", args=[item.pk]))
        self._report(request, report)
        target = item.pk
        if report.done and request.POST.get("next"):
            target = int(request.POST["next"]) if request.POST["next"].isdigit() else item.pk
        return HttpResponseRedirect(reverse("admin:ugc_ugcitem_change", args=[target]))

    def _approve_confirmation(self, request, item, to_confirm, *, note: str):
        """The page that asks a moderator to confirm approving a flagged item, or one
        without rights for the site, before anything changes."""
        next_id = request.POST.get("next", "")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Approve item #{item.pk}?",
            "opts": self.model._meta,
            "to_confirm": to_confirm,
            "form_action": reverse("admin:ugc_ugcitem_moderate", args=[item.pk]),
            "note": note,
            "next_id": next_id if next_id.isdigit() else "",
            "cancel_url": reverse("admin:ugc_ugcitem_change", args=[item.pk]),
        }
        return render(request, "admin/ugc/ugcitem/approve_confirm.html", context)

    def original_view(self, request, item_id: int):
        """The private original (with its camera data), for moderators only."""
        if not can_moderate(request):
            raise PermissionDenied
        item = get_object_or_404(UGCItem, pk=item_id)
        return _private_download(item.original, item.content_type)

    def proof_view(self, request, item_id: int):
        """The private proof of consent (a signed release, a screenshot), for moderators."""
        if not can_moderate(request):
            raise PermissionDenied
        rights = get_object_or_404(UGCRights, item_id=item_id)
        return _private_download(rights.proof_file, "")
