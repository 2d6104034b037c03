"""UGC in the merchant console: the moderation queue, uploads, rights and product mappings.

Only users with `ugc.moderate_ugcitem` (the Moderator and Owner roles) moderate: the bulk
actions, the buttons on the change page and the rights and mapping inlines all need it.
Others with view permission see the queue read-only. Every write goes through
`ugc.services` (one call per item), so the item lock, the state machine, the audit trail
and the rights gate hold whatever the console sends.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Case, Count, IntegerField, Prefetch, Q, Value, When
from django.forms.models import BaseInlineFormSet
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from core.errors import ApplicationError
from creators.models import Creator
from ugc import admin_actions, services, uploads
from ugc.models import (
    CHANNELS,
    BlocklistEntry,
    ModerationEvent,
    RejectionReason,
    UGCItem,
    UGCMetricDaily,
    UGCProductMap,
    UGCRights,
)
from ugc.selectors import RightsState, items_with_rights_state

Status = UGCItem.Status
MODERATE_PERM = "ugc.moderate_ugcitem"
UPLOAD_PERM = "ugc.add_ugcitem"

# The queue's default order: the work waiting for a moderator first, oldest first, so that
# nothing starves at the bottom of the queue; then items under review, then approved items
# waiting to be published; decided items last.
QUEUE_RANK = {Status.QUEUED: 0, Status.REVIEWING: 1, Status.APPROVED: 2}
FLAG_CODES = [
    ("duplicate", "Duplicate"),
    ("near_duplicate", "Near duplicate"),
    ("blocklist", "Blocklist"),
    ("media_error", "Media error"),
]


def can_moderate(request) -> bool:
    return request.user.is_active and request.user.has_perm(MODERATE_PERM)


# ---------------------------------------------------------------------------------------
# Media previews
# ---------------------------------------------------------------------------------------


def media_url(entry: dict | None) -> str:
    name = (entry or {}).get("name")
    return default_storage.url(name) if name else ""


def thumbnail_html(item: UGCItem):
    manifest = item.media_manifest or {}
    url = media_url(manifest.get("thumbnail"))
    if manifest.get("status") == "ready" and url:
        badge = "▶ " if manifest.get("kind") == "video" else ""
        return format_html(
            '<span class="ugc-thumb">{}<img src="{}" alt="" loading="lazy" width="64" '
            'height="64" style="object-fit:cover;border-radius:6px"></span>',
            badge,
            url,
        )
    if manifest.get("status") == "failed":
        return format_html('<span class="ugc-media-failed" title="{}">Media failed</span>',
                           manifest.get("error", ""))  # fmt: skip
    return format_html('<span class="ugc-media-pending">{}</span>', "Processing…")


def rendition_360p(manifest: dict) -> dict | None:
    renditions = manifest.get("renditions") or []
    for rendition in renditions:
        if rendition.get("label") == "360p":
            return rendition
    return min(renditions, key=lambda r: r.get("height") or 0, default=None)


def preview_html(item: UGCItem):
    manifest = item.media_manifest or {}
    status = manifest.get("status")
    if status == "failed":
        return format_html(
            '<p class="errornote">The media could not be processed: {}</p>',
            manifest.get("error", "unknown error"),
        )
    if status != "ready":
        return format_html(
            "<p>{}</p>", "The media is being processed; the preview shows when ready."
        )
    display = manifest.get("display") or {}
    if manifest.get("kind") == "video":
        rendition = rendition_360p(manifest)
        if rendition is None:
            return format_html("<p>{}</p>", "No video rendition was made.")
        return format_html(
            '<video class="ugc-preview" controls muted playsinline preload="metadata" '
            'poster="{}" width="{}" height="{}" style="max-width:480px;height:auto">'
            '<source src="{}" type="{}"></video>',
            media_url(display), rendition.get("width") or "", rendition.get("height") or "",
            media_url(rendition), rendition.get("content_type") or "video/mp4",
        )  # fmt: skip
    return format_html(
        '<img class="ugc-preview" src="{}" alt="" width="{}" height="{}" '
        'style="max-width:480px;max-height:600px;width:auto;height:auto">',
        media_url(display), display.get("width") or "", display.get("height") or "",
    )  # fmt: skip


def flags_html(item: UGCItem):
    if not item.flags:
        return "–"
    return format_html_join(
        "", '<span class="ugc-flag" title="{}">{}</span> ',
        ((flag.get("detail", ""), flag.get("code", "?")) for flag in item.flags),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# List filters and the per-status counts
# ---------------------------------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Status.choices

    def queryset(self, request, queryset):
        if self.value() in Status.values:
            return queryset.filter(status=self.value())
        return queryset


class RightsStateFilter(admin.SimpleListFilter):
    """Filters on the `rights_state` annotation of `items_with_rights_state`."""

    title = "rights"
    parameter_name = "rights"

    def lookups(self, request, model_admin):
        return RightsState.choices

    def queryset(self, request, queryset):
        if self.value() in RightsState.values:
            return queryset.filter(rights_state=self.value())
        return queryset


class FlaggedFilter(admin.SimpleListFilter):
    title = "flagged"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No"), *FLAG_CODES]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "yes":
            return queryset.exclude(flags=[])
        if value == "no":
            return queryset.filter(flags=[])
        if value in dict(FLAG_CODES):
            return queryset.filter(flags__contains=[{"code": value}])
        return queryset


class ModerationChangeList(ChangeList):
    """The changelist, plus per-status counts under the other active filters and search."""

    def __init__(self, request, *args, **kwargs):
        self._request = request
        super().__init__(request, *args, **kwargs)

    @cached_property
    def status_counts(self):
        request = self._request
        queryset = self.root_queryset
        for spec in self.filter_specs:
            if getattr(spec, "parameter_name", None) == StatusFilter.parameter_name:
                continue
            filtered = spec.queryset(request, queryset)
            if filtered is not None:
                queryset = filtered
        queryset, _ = self.model_admin.get_search_results(request, queryset, self.query)
        counts = queryset.order_by().aggregate(  # one query for every status
            **{value: Count("pk", filter=Q(status=value)) for value in Status.values}
        )
        current = self.params.get(StatusFilter.parameter_name)
        rows = [
            {
                "label": "All",
                "count": sum(counts.values()),
                "url": self.get_query_string(remove=[StatusFilter.parameter_name, "p"]),
                "selected": current is None,
                "value": "",
            }
        ]
        for value, label in Status.choices:
            rows.append(
                {
                    "label": label,
                    "count": counts[value],
                    "url": self.get_query_string({StatusFilter.parameter_name: value}, ["p"]),
                    "selected": current == value,
                    "value": value,
                }
            )
        return rows


# ---------------------------------------------------------------------------------------
# Inlines: rights and product mappings, saved through the services
# ---------------------------------------------------------------------------------------


class RightsForm(forms.ModelForm):
    allowed_channels = forms.MultipleChoiceField(
        choices=[(channel, channel) for channel in CHANNELS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Where the item may be shown. Publishing needs “site”.",
    )
    proof_file = forms.FileField(
        required=False, widget=forms.FileInput, help_text="Kept privately; never public."
    )
    proof_url = forms.URLField(max_length=2048, required=False, assume_scheme="https")
    revoke = forms.BooleanField(
        required=False,
        label="Revoke these rights",
        help_text="A published item is archived at once. Give the reason below.",
    )

    class Meta:
        model = UGCRights
        fields = [
            "consent_method", "allowed_channels", "licence_type", "starts_at", "expires_at",
            "proof_file", "proof_url", "proof_text", "revoke", "revoke_reason",
        ]  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("revoke"):
            if not self.instance.pk:
                raise ValidationError({"revoke": "There are no rights to revoke yet."})
            if not (cleaned.get("revoke_reason") or "").strip():
                raise ValidationError({"revoke_reason": "Say why the rights are revoked."})
        return cleaned


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


class UGCRightsInline(admin.StackedInline):
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


class ProductMapForm(forms.ModelForm):
    class Meta:
        model = UGCProductMap
        fields = ["product", "variant", "placement", "confidence", "pinned", "position"]

    def clean(self):
        cleaned = super().clean()
        product, variant = cleaned.get("product"), cleaned.get("variant")
        if product and variant and variant.product_id != product.pk:
            # The same rule and words as `ugc_map_product`, shown beside the field.
            self.add_error("variant", "This variant belongs to another product.")
        return cleaned


class ProductMapFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if self.instance.pk is None or self.instance.status != Status.PUBLISHED:
            return
        kept = [
            form
            for form in self.forms
            if form.cleaned_data
            and not self._should_delete_form(form)
            and (form.instance.pk or form.has_changed())
        ]
        if not kept:
            raise ValidationError(
                f"Item #{self.instance.pk} is published and needs at least one product "
                "mapping; archive the item before removing it."
            )


class UGCProductMapInline(admin.TabularInline):
    model = UGCProductMap
    form = ProductMapForm
    formset = ProductMapFormSet
    extra = 1
    autocomplete_fields = ["product", "variant"]
    fields = ["product", "variant", "placement", "confidence", "pinned", "position"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product", "variant__product")

    def has_add_permission(self, request, obj=None):
        return can_moderate(request) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return can_moderate(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return can_moderate(request) and super().has_delete_permission(request, obj)


class ModerationEventInline(admin.TabularInline):
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

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ---------------------------------------------------------------------------------------
# Forms for the actions and the upload page
# ---------------------------------------------------------------------------------------


class RejectForm(forms.Form):
    reason = forms.ModelChoiceField(
        queryset=RejectionReason.objects.filter(active=True), empty_label="Choose a reason"
    )
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Optional."
    )


class ArchiveForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text="One image (JPEG, PNG, WebP, GIF) or video (MP4, MOV, WebM, MKV), or a .zip "
        "of many: each file in it becomes its own item."
    )
    source = forms.ChoiceField(choices=UGCItem.Source.choices, initial=UGCItem.Source.UPLOAD)
    author_handle = forms.CharField(max_length=100, required=False)
    creator = forms.ModelChoiceField(queryset=Creator.objects.order_by("name"), required=False)
    caption = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    skip_duplicates = forms.BooleanField(
        required=False,
        initial=True,
        label="Skip files already in the library",
        help_text="A file with exactly the same bytes as an existing item is not added again.",
    )
    grant_rights = forms.BooleanField(
        required=False, label="Record the rights now (for every file of this upload)"
    )
    consent_method = forms.ChoiceField(
        choices=[("", "---------"), *UGCRights.ConsentMethod.choices], required=False
    )
    allowed_channels = forms.MultipleChoiceField(
        choices=[(channel, channel) for channel in CHANNELS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    licence_type = forms.CharField(max_length=100, required=False)
    proof_url = forms.URLField(max_length=2048, required=False, assume_scheme="https")
    proof_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    expires_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("grant_rights"):
            return cleaned
        if not cleaned.get("consent_method"):
            self.add_error("consent_method", "Say how consent was given.")
            return cleaned
        rights = self.rights_instance()
        try:
            rights.clean()  # the rules `ugc_rights_grant` applies, beside the fields
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned

    def rights_instance(self) -> UGCRights:
        data = self.cleaned_data
        return UGCRights(
            consent_method=data.get("consent_method"),
            allowed_channels=list(data.get("allowed_channels") or []),
            licence_type=data.get("licence_type", ""),
            proof_url=data.get("proof_url", ""),
            proof_text=data.get("proof_text", ""),
            expires_at=data.get("expires_at"),
        )

    def ingest_kwargs(self, actor) -> dict:
        data = self.cleaned_data
        kwargs = {
            "source": data["source"],
            "author_handle": data.get("author_handle", ""),
            "creator": data.get("creator"),
            "caption": data.get("caption", ""),
            "actor": actor,
        }
        if data.get("grant_rights"):
            kwargs["rights"] = {
                "consent_method": data["consent_method"],
                "allowed_channels": list(data.get("allowed_channels") or []),
                "licence_type": data.get("licence_type", ""),
                "proof_url": data.get("proof_url", ""),
                "proof_text": data.get("proof_text", ""),
                "expires_at": data.get("expires_at"),
                "granted_by": actor,
            }
        return kwargs


def _is_zip(upload) -> bool:
    if (upload.name or "").lower().endswith(".zip"):
        return True
    upload.seek(0)
    is_zip = upload.read(4) == b"PK\x03\x04"
    upload.seek(0)
    return is_zip


# ---------------------------------------------------------------------------------------
# The moderation queue
# ---------------------------------------------------------------------------------------


@admin.register(UGCItem)
class UGCItemAdmin(admin.ModelAdmin):
    list_display = [
        "thumb", "number", "status_badge", "source", "author", "caption_excerpt", "flag_list",
        "rights_state_label", "products", "claimed_by", "created_at",
    ]  # fmt: skip
    list_display_links = ["thumb", "number"]
    list_filter = [
        StatusFilter,
        "source",
        ("creator", admin.RelatedOnlyFieldListFilter),
        RightsStateFilter,
        FlaggedFilter,
    ]
    search_fields = ["caption", "author_handle", "external_id", "creator__handle"]
    search_help_text = "Caption, author handle, creator handle or external id."
    list_select_related = ["creator", "claimed_by"]
    list_per_page = 50
    show_full_result_count = False
    inlines = [UGCRightsInline, UGCProductMapInline, ModerationEventInline]
    actions = [
        "claim_items", "approve_items", "reject_items", "publish_items", "archive_items",
        "requeue_items", "retry_media",
    ]  # fmt: skip
    change_list_template = "admin/ugc/ugcitem/change_list.html"
    change_form_template = "admin/ugc/ugcitem/change_form.html"
    fieldsets = [
        (None, {"fields": ["preview", "status", "media_status", "flag_details", "blockers"]}),
        ("Content", {"fields": ["source", "external_id", ("author_handle", "creator"),
                                "caption", ("media_type", "content_type"), "original_file"]}),
        ("Moderation", {"fields": [("claimed_by", "claimed_at"),
                                   ("rejection_reason", "rejection_note"),
                                   ("created_at", "published_at")]}),
    ]  # fmt: skip
    readonly_fields = [
        "preview", "status", "media_status", "flag_details", "blockers", "source",
        "external_id", "author_handle", "creator", "caption", "media_type", "content_type",
        "original_file", "claimed_by", "claimed_at", "rejection_reason", "rejection_note",
        "created_at", "published_at",
    ]  # fmt: skip

    # -- queryset, ordering and the changelist --------------------------------------------

    def get_queryset(self, request):
        rank = Case(
            *(When(status=status, then=Value(n)) for status, n in QUEUE_RANK.items()),
            default=Value(len(QUEUE_RANK)),
            output_field=IntegerField(),
        )
        maps = UGCProductMap.objects.select_related("product").order_by("-pinned", "position")
        # Not super(): it orders by `get_ordering`, which needs the annotation first.
        return (
            items_with_rights_state(self.model._default_manager.get_queryset())
            .annotate(_queue_rank=rank)
            .prefetch_related(Prefetch("product_maps", queryset=maps))
            .order_by(*self.get_ordering(request))
        )

    def get_ordering(self, request):
        return ["_queue_rank", "created_at", "pk"]

    def get_changelist(self, request, **kwargs):
        return ModerationChangeList

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_upload": self.has_upload_permission(request),
            "upload_url": reverse("admin:ugc_ugcitem_upload"),
        }
        return super().changelist_view(request, extra_context)

    # -- permissions ------------------------------------------------------------------------

    def has_moderate_permission(self, request):
        return can_moderate(request)

    def has_upload_permission(self, request):
        return request.user.is_active and request.user.has_perm(UPLOAD_PERM)

    def has_add_permission(self, request):
        return False  # items come in through the upload page (and ugc_ingest) only

    def has_change_permission(self, request, obj=None):
        # "Change" here means moderating: rights, mappings and the moderation buttons.
        return can_moderate(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # archive instead: deleting would drop the audit trail

    # -- columns ----------------------------------------------------------------------------

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj)

    @admin.display(description="Item", ordering="pk")
    def number(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return format_html(
            '<span class="ugc-status ugc-status-{}">{}</span>', obj.status, obj.get_status_display()
        )

    @admin.display(description="Author", ordering="author_handle")
    def author(self, obj):
        handle = f"@{obj.author_handle}" if obj.author_handle else ""
        if obj.creator_id:
            return format_html("{}<br><small>{}</small>", handle or "–", obj.creator)
        return handle or "–"

    @admin.display(description="Caption")
    def caption_excerpt(self, obj):
        return Truncator(obj.caption).chars(80) or "–"

    @admin.display(description="Flags")
    def flag_list(self, obj):
        return flags_html(obj)

    @admin.display(description="Rights", ordering="rights_state")
    def rights_state_label(self, obj):
        state = getattr(obj, "rights_state", None)
        if state is None:
            return "–"
        return format_html(
            '<span class="ugc-rights ugc-rights-{}">{}</span>', state, RightsState(state).label
        )

    @admin.display(description="Products")
    def products(self, obj):
        maps = list(obj.product_maps.all())
        if not maps:
            return "–"
        names = [str(mapping.product) for mapping in maps[:3]]
        more = f" +{len(maps) - 3}" if len(maps) > 3 else ""
        return ", ".join(names) + more

    # -- change page ------------------------------------------------------------------------

    @admin.display(description="Preview")
    def preview(self, obj):
        return preview_html(obj)

    @admin.display(description="Media")
    def media_status(self, obj):
        manifest = obj.media_manifest or {}
        status = manifest.get("status", "pending")
        if status == "failed":
            return f"Failed: {manifest.get('error', 'unknown error')}"
        if status == "ready":
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

    @admin.display(description="Original")
    def original_file(self, obj):
        if not obj.original:
            return "–"
        if not obj.pk:
            return obj.original.name
        url = reverse("admin:ugc_ugcitem_original", args=[obj.pk])
        return format_html('<a href="{}">Download the original</a> (private)', url)

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

    def _service_error(self, request, prefix: str, exc: Exception):
        self.message_user(request, f"{prefix}: {admin_actions.why(exc, 0)}", messages.ERROR)

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
            except (ApplicationError, ValidationError) as exc:
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
            except (ApplicationError, ValidationError) as exc:
                self._service_error(request, "Mapping not saved", exc)
        for mapping in formset.deleted_objects:  # after the additions: one may replace another
            try:
                services.ugc_unmap_product(mapping_id=mapping.pk, actor=request.user)
            except (ApplicationError, ValidationError) as exc:
                self._service_error(request, "Mapping not removed", exc)

    # -- extra views: moderation buttons, upload, original ----------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name="ugc_ugcitem_upload"),
            path("<int:item_id>/moderate/", wrap(self.moderate_view), name="ugc_ugcitem_moderate"),
            path("<int:item_id>/original/", wrap(self.original_view), name="ugc_ugcitem_original"),
            path("<int:item_id>/proof/", wrap(self.proof_view), name="ugc_ugcitem_proof"),
            *super().get_urls(),
        ]

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
            report = admin_actions.bulk_claim([item.pk], moderator=user)
        elif operation == "approve":
            report = admin_actions.bulk_approve([item.pk], moderator=user, note=note)
        elif operation == "reject":
            form = RejectForm(request.POST)
            if not form.is_valid():
                errors = "; ".join(m for errs in form.errors.values() for m in errs)
                self.message_user(request, f"Not rejected #{item.pk}: {errors}", messages.ERROR)
                return HttpResponseRedirect(reverse("admin:ugc_ugcitem_change", args=[item.pk]))
            report = admin_actions.bulk_reject(
                [item.pk],
                moderator=user,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
        elif operation == "publish":
            report = admin_actions.bulk_publish([item.pk], actor=user)
        elif operation == "archive":
            report = admin_actions.bulk_archive(
                [item.pk], actor=user, reason=request.POST.get("reason", "")
            )
        elif operation == "requeue":
            report = admin_actions.bulk_requeue(
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

    def upload_view(self, request):
        if not self.has_upload_permission(request):
            raise PermissionDenied
        results = None
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            kwargs = form.ingest_kwargs(request.user)
            skip = form.cleaned_data["skip_duplicates"]
            if _is_zip(upload):
                try:
                    results = uploads.ingest_zip(upload, ingest_kwargs=kwargs, skip_duplicates=skip)
                except uploads.ZipRefused as exc:
                    form.add_error("file", exc.message)
                else:
                    self._report_upload(request, results)
            else:
                result = uploads.ingest_one(
                    name=upload.name, fh=upload, ingest_kwargs=kwargs, skip_duplicates=skip
                )
                if result.outcome == "refused":
                    form.add_error("file", result.message)
                else:
                    level = messages.SUCCESS if result.outcome == "created" else messages.WARNING
                    self.message_user(request, f"{upload.name}: {result.message}", level)
                    return HttpResponseRedirect(
                        reverse("admin:ugc_ugcitem_change", args=[result.item_id])
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload content",
            "opts": self.model._meta,
            "form": form,
            "results": results,
            "max_entries": settings.UGC_ZIP_MAX_ENTRIES,
            "max_total": settings.UGC_ZIP_MAX_TOTAL_BYTES,
        }
        return render(request, "admin/ugc/ugcitem/upload.html", context)

    def _report_upload(self, request, results):
        created = [r for r in results if r.outcome == "created"]
        duplicates = [r for r in results if r.outcome == "duplicate"]
        refused = [r for r in results if r.outcome == "refused"]
        if created:
            self.message_user(
                request,
                f"Created {len(created)}: " + ", ".join(f"#{r.item.pk}" for r in created),
                messages.SUCCESS,
            )
        if duplicates:
            self.message_user(
                request, f"{len(duplicates)} already in the library, not added.", messages.WARNING
            )
        if refused:
            self.message_user(request, f"{len(refused)} refused; see below.", messages.ERROR)
        if not results:
            self.message_user(request, "The zip archive holds no files.", messages.WARNING)

    # -- bulk actions -------------------------------------------------------------------------

    def _report(self, request, report: admin_actions.BulkReport):
        summary = report.summary()
        if summary:
            self.message_user(request, summary, messages.SUCCESS)
        for line in report.failures():
            self.message_user(request, line, messages.ERROR)

    def _selected_ids(self, request, queryset) -> list[int] | None:
        limit = admin_actions.MAX_BULK_ITEMS
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: limit + 1])
        if len(ids) > limit:
            self.message_user(
                request,
                f"Select at most {admin_actions.MAX_BULK_ITEMS} items for one action.",
                messages.ERROR,
            )
            return None
        return ids

    def _intermediate(self, request, ids, *, action, title, form, button, intro):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "items": UGCItem.objects.filter(pk__in=ids).order_by("pk"),
            "form": form,
            "action": action,
            "button": button,
            "intro": intro,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "admin/ugc/ugcitem/action_confirm.html", context)

    @admin.action(description="Claim selected items for review", permissions=["moderate"])
    def claim_items(self, request, queryset):
        ids = self._selected_ids(request, queryset)
        if ids is not None:
            self._report(request, admin_actions.bulk_claim(ids, moderator=request.user))

    @admin.action(description="Approve selected items", permissions=["moderate"])
    def approve_items(self, request, queryset):
        ids = self._selected_ids(request, queryset)
        if ids is not None:
            self._report(request, admin_actions.bulk_approve(ids, moderator=request.user))

    @admin.action(description="Reject selected items…", permissions=["moderate"])
    def reject_items(self, request, queryset):
        ids = self._selected_ids(request, queryset)
        if ids is None:
            return None
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            report = admin_actions.bulk_reject(
                ids,
                moderator=request.user,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
            self._report(request, report)
            return None
        return self._intermediate(
            request, ids, action="reject_items", title="Reject items", form=form,
            button="Reject", intro="Reject these items with a reason from your list:",
        )  # fmt: skip

    @admin.action(description="Publish selected items", permissions=["moderate"])
    def publish_items(self, request, queryset):
        ids = self._selected_ids(request, queryset)
        if ids is not None:
            self._report(request, admin_actions.bulk_publish(ids, actor=request.user))

    @admin.action(description="Archive selected items…", permissions=["moderate"])
    def archive_items(self, request, queryset):
        ids = self._selected_ids(request, queryset)
        if ids is None:
            return None
        form = ArchiveForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            report = admin_actions.bulk_archive(
                ids, actor=request.user, reason=form.cleaned_data["reason"]
            )
            self._report(request, report)
            return None
        return self._intermediate(
            request, ids, action="archive_items", title="Archive items", form=form,
            button="Archive", intro="Take these published items down, and say why:",
        )  # fmt: skip

    @admin.action(description="Send selected items back to the queue", permissions=["moderate"])
    def requeue_items(self, request, queryset):
        ids = self._selected_ids(request, queryset)
        if ids is not None:
            self._report(request, admin_actions.bulk_requeue(ids, actor=request.user))

    @admin.action(description="Process media again (failed or stuck)", permissions=["moderate"])
    def retry_media(self, request, queryset):
        ids = self._selected_ids(request, queryset)
        if ids is not None:
            self._report(request, admin_actions.bulk_media_retry(ids, actor=request.user))


# ---------------------------------------------------------------------------------------
# Reference lists and read-only records
# ---------------------------------------------------------------------------------------


@admin.register(RejectionReason)
class RejectionReasonAdmin(admin.ModelAdmin):
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
        services.rejection_reason_save(reason=obj)


@admin.register(BlocklistEntry)
class BlocklistEntryAdmin(admin.ModelAdmin):
    list_display = ["term", "kind", "action", "active", "created_at"]
    list_editable = ["action", "active"]
    list_filter = ["kind", "action", "active"]
    search_fields = ["term"]

    def save_model(self, request, obj, form, change):
        services.blocklist_entry_save(entry=obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ModerationEvent)
class ModerationEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "item", "action", "from_status", "to_status", "actor", "reason"]
    list_filter = ["action", "to_status"]
    search_fields = ["reason", "item__id", "actor__username"]
    list_select_related = ["item", "actor"]
    date_hierarchy = "at"
    list_per_page = 100


@admin.register(UGCMetricDaily)
class UGCMetricDailyAdmin(ReadOnlyAdmin):
    list_display = ["day", "item", "impressions", "clicks", "add_to_carts", "purchases"]
    list_select_related = ["item"]
    date_hierarchy = "day"
    list_per_page = 100
