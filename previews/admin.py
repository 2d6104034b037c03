"""Link previews in the merchant console: "Preview a URL", status, thumbnails, why a
preview failed, the merchant's own title, description and image, and fetching again."""

from collections import Counter
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from unfold.widgets import UnfoldAdminFileFieldWidget  # Unfold's file input (its app.js needs it)

from core import admin_base as console
from core.admin_filters import CurrencyInUseFilter
from core.errors import ApplicationError
from core.jobs import runs_inline
from core.money import format_money, is_currency
from previews import selectors, services
from previews.fetch import BlockedURL, InvalidURL
from previews.models import LinkPreview

# The form fields of the override form, by the field names the service reports.
OVERRIDE_FORM_FIELDS = {
    "title": "title_override",
    "description": "description_override",
    "image": "image_upload",
}


class PreviewURLForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=2048,
        widget=forms.URLInput(attrs={"size": 80, "placeholder": "https://", "autofocus": True}),
        help_text="A page on another site (http or https). Shoploop fetches it safely and "
        "makes its card: title, description, image and price.",
    )


class LinkPreviewForm(forms.ModelForm):
    """The merchant's card: what it shows instead of what was scraped."""

    image_upload = forms.FileField(
        widget=UnfoldAdminFileFieldWidget,
        label="New image",
        required=False,
        help_text="JPEG, PNG, WebP or GIF; re-encoded and cropped to 1200×630 and 600×315.",
    )
    clear_image = forms.BooleanField(label="Show the page's own image again", required=False)

    class Meta:
        model = LinkPreview
        fields = ["title_override", "description_override"]
        widgets = {"description_override": forms.Textarea(attrs={"rows": 3, "cols": 80})}
        help_texts = {
            "title_override": "Empty: the page's own title. A refresh never changes this.",
            "description_override": "Empty: the page's own description.",
        }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            services.preview_override_check(
                title=data.get("title_override"),
                description=data.get("description_override"),
                image=data.get("image_upload"),
            )
        except ApplicationError as exc:
            raise ValidationError(
                {OVERRIDE_FORM_FIELDS.get(name, None): msgs for name, msgs in exc.fields.items()}
            ) from exc
        return data


def outcome(preview: LinkPreview) -> tuple[int, str]:
    """The message level and text saying where a preview stands after a request or fetch."""
    name = preview.card_title or preview.url
    if preview.status == LinkPreview.Status.OK:
        if preview.error:
            return messages.WARNING, f"The last fetch of {preview.url} failed: {preview.error}"
        return messages.SUCCESS, f"Preview of {preview.url} made: {name}."
    if preview.status == LinkPreview.Status.PENDING:
        return messages.INFO, f"Queued: {preview.url} is being fetched; reload in a moment."
    reason = selectors.missing_reason(preview).removeprefix("No preview: ")
    return messages.ERROR, f"No preview of {preview.url}: {reason}"


@admin.register(LinkPreview)
class LinkPreviewAdmin(console.ModelAdmin):
    form = LinkPreviewForm
    list_display = ["thumb", "title_or_url", "site_name", "status", "problem", "http_status",
                    "price_label", "fetched_at", "next_refresh_at"]  # fmt: skip
    list_display_links = ["thumb", "title_or_url"]
    list_filter = ["status", "type", CurrencyInUseFilter]
    search_fields = ["url", "final_url", "title", "title_override", "site_name"]
    list_per_page = 50
    actions = ["refetch"]
    SCRAPED = ["url", "status", "error", "error_code", "http_status", "title", "description",
               "site_name", "type", "price", "currency", "availability", "brand", "sku",
               "gtin", "final_url", "canonical_url", "image_url", "favicon_url",
               "oembed_provider", "oembed_html", "locale", "fetched_at", "next_refresh_at",
               "etag", "last_modified", "raw"]  # fmt: skip
    readonly_fields = [*SCRAPED, "card", "state", "own_image", "overridden_by", "overridden_at"]

    def get_fieldsets(self, request, obj=None):
        own = ["title_override", "description_override", "own_image"]
        if self.has_change_permission(request, obj):
            own += ["image_upload", "clear_image"]
        own += ["overridden_by", "overridden_at"]
        return [
            (None, {"fields": ["card", "state"]}),
            ("What the card shows (yours, before what the page says)", {"fields": own}),
            ("What the page says (scraped)", {"fields": self.SCRAPED}),
        ]

    def get_urls(self):
        fetch = self.admin_site.admin_view(require_POST(self.fetch_view))
        return [
            path("<int:preview_id>/fetch/", fetch, name="previews_linkpreview_fetch"),
            *super().get_urls(),
        ]

    def has_delete_permission(self, request, obj=None):
        return False  # links and cards refer to previews by URL; a refresh replaces data

    def has_fetch_permission(self, request):
        return request.user.has_perm("previews.add_linkpreview")

    # --- Preview a URL ---------------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        """The "Preview a URL" page: the same checks as the API, then the preview's page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PreviewURLForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                preview, _ = services.preview_request(url=form.cleaned_data["url"], strict=True)
            except (InvalidURL, BlockedURL) as exc:
                form.add_error("url", services.refusal_message(exc))
            else:
                level, text = outcome(preview)
                self.message_user(request, text, level)
                return redirect("admin:previews_linkpreview_change", preview.pk)
        context = {
            **self.admin_site.each_context(request),
            **(extra_context or {}),
            "title": "Preview a URL",
            "form": form,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/previews/linkpreview/add.html", context)

    # --- the merchant's card ---------------------------------------------------------

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        services.preview_override(
            preview_id=obj.pk,
            actor=request.user,
            title=data.get("title_override", ""),
            description=data.get("description_override", ""),
            image=data.get("image_upload"),
            clear_image=data.get("clear_image", False),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_fetch": self.has_fetch_permission(request),
            "fetch_url": reverse("admin:previews_linkpreview_fetch", args=[object_id])
            if str(object_id).isdigit()
            else "",
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- fetching again --------------------------------------------------------------

    def fetch_view(self, request, preview_id: int):
        """The change page's "Fetch again now" button."""
        if not self.has_fetch_permission(request):
            raise PermissionDenied
        preview = get_object_or_404(LinkPreview, pk=preview_id)
        services.preview_queue_fetch(preview_id=preview.pk, force=True)
        preview.refresh_from_db()
        if runs_inline():
            level, text = outcome(preview)
            self.message_user(request, text, level)
        else:
            self.message_user(request, "Queued to be fetched again; reload in a moment.")
        return redirect("admin:previews_linkpreview_change", preview.pk)

    @admin.action(description="Fetch again now", permissions=["fetch"])
    def refetch(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        queued = sum(services.preview_queue_fetch(preview_id=pk, force=True) for pk in ids)
        if not runs_inline():
            self.message_user(request, f"{queued} preview(s) queued to be fetched again.")
            return
        # In-process the fetches have run: say how they went, and why the failed ones failed.
        fetched = LinkPreview.objects.filter(pk__in=ids).order_by("pk")
        counts = Counter(preview.get_status_display() for preview in fetched)
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        self.message_user(request, f"Fetched {len(ids)} preview(s) again: {summary}.")
        for preview in fetched:
            level, text = outcome(preview)
            if level in (messages.ERROR, messages.WARNING):
                self.message_user(request, text, level)

    # --- columns and read-only fields ------------------------------------------------

    @admin.display(description="")
    def thumb(self, obj):
        image = obj.card_image_small
        if not image:
            return "–"
        return format_html(
            '<img src="{}" alt="" style="height:40px;width:76px;object-fit:cover;'
            'border-radius:4px">',
            image.url,
        )

    @admin.display(description="Preview", ordering="title")
    def title_or_url(self, obj):
        return obj.card_title or obj.url

    @admin.display(description="Why")
    def problem(self, obj):
        if obj.status == LinkPreview.Status.OK:
            return f"Last fetch failed: {obj.error}" if obj.error else "–"
        if obj.status == LinkPreview.Status.PENDING:
            return "–"
        return selectors.missing_reason(obj).removeprefix("No preview: ")

    @admin.display(description="Price")
    def price_label(self, obj):
        if obj.price is None:
            return "–"
        if is_currency(obj.currency or ""):
            return format_money(obj.price, obj.currency, unambiguous=True)
        return f"{obj.price.normalize()} {obj.currency}".strip()

    @admin.display(description="Card")
    def card(self, obj):
        return format_html(
            '<iframe src="{}?{}" title="Preview card" '
            'style="width:540px;height:420px;border:0" sandbox=""></iframe>',
            reverse("previews:card"),
            # `v` changes with the preview, so the browser never shows a card it cached.
            urlencode({"url": obj.url, "v": f"{obj.updated_at.timestamp():.6f}"}),
        )

    @admin.display(description="Status")
    def state(self, obj):
        if obj.status == LinkPreview.Status.OK:
            if obj.error:
                return f"OK, from an earlier fetch; the last one failed: {obj.error}"
            return "OK"
        if obj.status == LinkPreview.Status.PENDING:
            return "Pending: being fetched."
        reason = selectors.missing_reason(obj).removeprefix("No preview: ")
        return f"{obj.get_status_display()}: {reason}"

    @admin.display(description="Image shown")
    def own_image(self, obj):
        if obj.image_override_small:
            return format_html(
                '<img src="{}" alt="Your image" style="width:300px;border-radius:4px">',
                obj.image_override_small.url,
            )
        return "The page's own image."
