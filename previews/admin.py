"""Link previews in the merchant console: status, thumbnails, errors, re-fetch."""

from django.contrib import admin
from django.utils.html import format_html

from previews import services
from previews.models import LinkPreview


@admin.register(LinkPreview)
class LinkPreviewAdmin(admin.ModelAdmin):
    list_display = ["thumb", "title_or_url", "site_name", "status", "http_status", "price_label",
                    "fetched_at", "next_refresh_at"]  # fmt: skip
    list_display_links = ["thumb", "title_or_url"]
    list_filter = ["status", "type", "currency"]
    search_fields = ["url", "final_url", "title", "site_name"]
    readonly_fields = [f.name for f in LinkPreview._meta.fields if f.name != "id"] + ["card"]
    fields = ["card", "url", "status", "error", "error_code", "http_status", "title",
              "description", "site_name", "type", "price", "currency", "availability", "brand",
              "sku", "gtin", "final_url", "canonical_url", "image_url", "favicon_url",
              "oembed_provider", "oembed_html", "locale", "fetched_at", "next_refresh_at",
              "etag", "last_modified", "raw"]  # fmt: skip
    actions = ["refetch"]
    list_per_page = 50

    def has_add_permission(self, request):
        return False  # previews are made by pasting a URL (API) or by links; not by hand

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="")
    def thumb(self, obj):
        if not obj.image_small:
            return "–"
        return format_html(
            '<img src="{}" alt="" style="height:40px;width:76px;object-fit:cover;'
            'border-radius:4px">',
            obj.image_small.url,
        )

    @admin.display(description="Preview", ordering="title")
    def title_or_url(self, obj):
        return obj.title or obj.url

    @admin.display(description="Price")
    def price_label(self, obj):
        return f"{obj.price.normalize()} {obj.currency}" if obj.price is not None else "–"

    @admin.display(description="Card")
    def card(self, obj):
        return format_html(
            '<iframe src="/previews/card?url={}" title="Preview card" '
            'style="width:540px;height:420px;border:0" sandbox=""></iframe>',
            obj.url,
        )

    def has_fetch_permission(self, request):
        return request.user.has_perm("previews.add_linkpreview")

    @admin.action(description="Fetch again now", permissions=["fetch"])
    def refetch(self, request, queryset):
        queued = sum(
            services.preview_queue_fetch(preview=preview, force=True) for preview in queryset
        )
        self.message_user(request, f"{queued} preview(s) queued to be fetched again.")
