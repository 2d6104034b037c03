"""Short links in the merchant console: counts, filters, QR codes, rules and allowed domains."""

from datetime import timedelta
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core import admin_base as console
from core.absolute_urls import absolute_url
from core.admin_readonly import ReadOnlyAdminMixin
from core.errors import ApplicationError, as_validation_error
from core.inputs import as_service_fields
from links import selectors, services
from links.models import (
    AllowedDomain,
    AllowedDomainChange,
    Campaign,
    RoutingRule,
    ShortLink,
    SplitArm,
)
from previews import selectors as preview_selectors

# The variant picker lists only the chosen product's variants (catalog's VariantAdmin filters).
VARIANT_CHOICES_JS = [
    "admin/js/vendor/jquery/jquery.js",
    "admin/js/vendor/select2/select2.full.js",
    "admin/js/jquery.init.js",
    "admin/js/autocomplete.js",
    "console/variant_choices.js",
]


class ServiceValidatedForm(forms.ModelForm):
    """Runs the service's validation on the form's instance, so errors show beside fields."""

    validate = None  # the service's validate function, set by subclasses

    def _post_clean(self):
        super()._post_clean()
        self._drop_generic_destination_error()
        if self.errors:
            return
        try:
            type(self).validate(self.instance)
        except ApplicationError as exc:
            self._update_errors(as_validation_error(exc))

    def _drop_generic_destination_error(self) -> None:
        """The database's one-destination constraint only says "choose one", at the top of
        the form. When it is the only error, the service's check says which rule broke
        (nothing chosen, or both) beside the field, so its generic message goes."""
        generic = [
            constraint.violation_error_message
            for constraint in self._meta.model._meta.constraints
            if constraint.name.endswith("_one_destination")
        ]
        errors = self._errors or {}
        if (
            list(errors) == [NON_FIELD_ERRORS]
            and errors[NON_FIELD_ERRORS]
            and all(message in generic for message in errors[NON_FIELD_ERRORS])
        ):
            del self._errors[NON_FIELD_ERRORS]


class ShortLinkForm(ServiceValidatedForm):
    validate = staticmethod(services.link_validate)


class RoutingRuleForm(ServiceValidatedForm):
    validate = staticmethod(services.rule_validate)


class SplitArmForm(ServiceValidatedForm):
    validate = staticmethod(services.split_arm_validate)


class RoutingRuleInline(console.StackedInline):
    model = RoutingRule
    form = RoutingRuleForm
    extra = 0
    autocomplete_fields = ["product", "variant"]
    fieldsets = [
        (None, {"fields": ["position"]}),
        ("When", {"fields": [("countries", "languages"), ("device_os", "in_app"),
                             ("query_param", "query_value"), ("active_from", "active_until")]}),
        ("Send to", {"fields": [("product", "variant"), "url"]}),
    ]  # fmt: skip


class SplitArmInline(console.TabularInline):
    model = SplitArm
    form = SplitArmForm
    extra = 0
    autocomplete_fields = ["product", "variant"]
    fields = ["label", "weight", "product", "variant", "url"]


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return ShortLink.Status.choices

    def queryset(self, request, queryset):
        if self.value():
            return selectors.links_with_status(queryset, self.value())
        return queryset


@admin.register(ShortLink)
class ShortLinkAdmin(console.ModelAdmin):
    form = ShortLinkForm
    # Creator and campaign share a column, and the copy button is small, so that the click
    # columns stay on a laptop's screen (1440 px wide, the console's navigation open).
    list_display = [
        "code", "copy_button", "target", "attribution", "active",
        "total_clicks", "unique_clicks", "bot_hits", "clicks_7d",
    ]  # fmt: skip
    list_filter = [
        StatusFilter,
        "active",
        "creator",
        "campaign",
        ("product", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["code", "url", "notes", "title", "product__title", "creator__handle"]
    list_select_related = ["product", "variant", "creator", "campaign"]
    autocomplete_fields = ["product", "variant", "creator"]
    readonly_fields = ["qr_preview", "short_url", "destination_preview", "created_at", "updated_at"]
    inlines = [RoutingRuleInline, SplitArmInline]
    actions = ["deactivate"]

    class Media:
        js = VARIANT_CHOICES_JS

    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["code", "short_url", "qr_preview", "active"]}),
        ("Destination", {"fields": [("product", "variant"), "url", "title",
                                    "destination_preview"]}),
        ("Attribution", {"fields": ["creator", "campaign",
                                    ("utm_source", "utm_medium", "utm_campaign"),
                                    ("utm_content", "utm_term"), "extra_params"]}),
        ("Schedule", {"fields": [("starts_at", "expires_at"), "fallback_url"]}),
        (None, {"fields": ["notes", ("created_at", "updated_at")]}),
    ]  # fmt: skip

    def get_queryset(self, request):
        week_ago = timezone.now().date() - timedelta(days=6)
        return (
            super()
            .get_queryset(request)
            .annotate(
                _clicks=Coalesce(Sum("daily_stats__clicks"), 0),
                _unique=Coalesce(Sum("daily_stats__unique_clicks"), 0),
                _bots=Coalesce(Sum("daily_stats__bot_hits"), 0),
                _clicks_7d=Coalesce(
                    Sum("daily_stats__clicks", filter=Q(daily_stats__day__gte=week_ago)), 0
                ),
            )
        )

    @admin.display(description="Clicks", ordering="_clicks")
    def total_clicks(self, obj):
        return obj._clicks

    @admin.display(description="Unique", ordering="_unique")
    def unique_clicks(self, obj):
        return obj._unique

    @admin.display(description="Bots", ordering="_bots")
    def bot_hits(self, obj):
        return obj._bots

    @admin.display(description="Last 7 days", ordering="_clicks_7d")
    def clicks_7d(self, obj):
        return obj._clicks_7d

    @admin.display(description="Destination")
    def target(self, obj):
        label = obj.destination_label
        if obj.url and not obj.product_id:  # a URL breaks anywhere rather than widen the list
            return format_html('<span style="overflow-wrap:anywhere">{}</span>', label)
        return label

    @admin.display(description="Creator · campaign", ordering="creator__name")
    def attribution(self, obj):
        creator = str(obj.creator) if obj.creator_id else "–"
        if obj.campaign_id:
            return format_html('{}<span class="cell-sub">{}</span>', creator, obj.campaign)
        return creator

    @admin.display(description="Short URL")
    def short_url(self, obj):
        if not obj.pk:
            return "–"
        return absolute_url(obj.get_absolute_url())

    @admin.display(description="")
    def copy_button(self, obj):
        url = absolute_url(obj.get_absolute_url())
        return format_html(
            '<button type="button" class="button" data-copy="{}" title="Copy {}" '
            'style="padding:4px 6px;font-size:.75rem" '
            'onclick="navigator.clipboard.writeText(this.dataset.copy);'
            "this.textContent='Copied'\">Copy</button>",
            url,
            url,
        )

    @admin.display(description="QR code")
    def qr_preview(self, obj):
        if not obj.pk:
            return "Saved links get a QR code."
        base = f"/p/{obj.code}/qr"
        return format_html(
            '<img src="{}.svg" alt="QR code for {}" width="160" height="160"><br>'
            '<a href="{}.svg?download=1">SVG</a> · <a href="{}.png?download=1">PNG</a>',
            base, obj.code, base, base,
        )  # fmt: skip

    @admin.display(description="Card crawlers show")
    def destination_preview(self, obj):
        """The external destination's preview: its card, or why there is none."""
        if not obj.pk or not obj.url or obj.product_id:
            return "Product links unfurl as the product's card." if obj.product_id else "–"
        own = urlsplit(settings.PUBLIC_BASE_URL or "").hostname
        if own and urlsplit(obj.url).hostname == own:
            return "A page of this shop: crawlers read its own tags."
        preview = preview_selectors.preview_for_url(obj.url)
        if preview is None:
            return "No preview yet: it is made when the link is saved."
        url = reverse("admin:previews_linkpreview_change", args=[preview.pk])
        if preview_selectors.has_card(preview):
            text = f"The destination's card: {preview.card_title or preview.url}"
            if preview.error:
                text += f" (the last fetch failed: {preview.error})"
        else:
            text = (
                f"{preview_selectors.missing_reason(preview)} Crawlers see the link's title "
                "instead; fetch again or write the card on the preview's page."
            )
        return format_html('{} <a href="{}">Open the preview</a>', text, url)

    def save_model(self, request, obj, form, change):
        fields = as_service_fields(form.cleaned_data, only=services.LINK_FIELDS)
        if change:
            link = services.link_update(link_id=obj.pk, **fields)
        else:
            link = services.link_create(**fields)
        _copy_saved(link, obj)  # the admin redirects to, and saves inlines against, `obj`

    def save_related(self, request, form, formsets, change):
        """Inlines are saved as a whole through the services: the rules or arms as they now
        stand, in order."""
        for formset in formsets:
            # What the console's history message reads (formset.save() would set them).
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if not formset.has_changed():
                continue
            rows = [
                f.cleaned_data
                for f in formset.forms
                if f.cleaned_data and not f.cleaned_data.get("DELETE")
            ]
            if formset.model is RoutingRule:
                rows.sort(key=lambda row: row.get("position") or 0)
                services.link_replace_rules(
                    link_id=form.instance.pk,
                    rules=[as_service_fields(r, only=services.RULE_FIELDS) for r in rows],
                )
            else:
                services.link_replace_split_arms(
                    link_id=form.instance.pk,
                    split_arms=[as_service_fields(r, only=services.ARM_FIELDS) for r in rows],
                )

    def has_delete_permission(self, request, obj=None):
        # Links are kept for the reports (and clicks may still be in the buffer):
        # deactivate them instead.
        return False

    @admin.action(description="Deactivate selected links", permissions=["change"])
    def deactivate(self, request, queryset):
        for link in queryset:
            services.link_deactivate(link_id=link.pk)
        self.message_user(request, f"{queryset.count()} link(s) deactivated.")


def _copy_saved(saved, obj) -> None:
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False


class AllowedDomainForm(ServiceValidatedForm):
    validate = staticmethod(services.allowed_domain_validate)

    class Meta:
        model = AllowedDomain
        fields = ["domain", "include_subdomains", "ports", "note"]


@admin.register(AllowedDomain)
class AllowedDomainAdmin(console.ModelAdmin):
    """The open-redirect allowlist. Every change is audited (see Allowed domain changes)."""

    form = AllowedDomainForm
    list_display = ["domain", "include_subdomains", "ports", "note", "created_at"]
    search_fields = ["domain", "note"]

    def save_model(self, request, obj, form, change):
        fields = as_service_fields(form.cleaned_data, only=services.DOMAIN_FIELDS)
        if change:
            saved = services.allowed_domain_update(domain_id=obj.pk, actor=request.user, **fields)
        else:
            saved = services.allowed_domain_create(actor=request.user, **fields)
        _copy_saved(saved, obj)

    def delete_model(self, request, obj):
        services.allowed_domain_delete(domain_id=obj.pk, actor=request.user)

    def delete_queryset(self, request, queryset):
        for domain_id in queryset.values_list("pk", flat=True):
            services.allowed_domain_delete(domain_id=domain_id, actor=request.user)


@admin.register(AllowedDomainChange)
class AllowedDomainChangeAdmin(ReadOnlyAdminMixin, console.ModelAdmin):
    """Read-only: who added, changed or removed which allowed destination domain, and when."""

    list_display = ["at", "domain", "action", "actor", "before", "after", "reason"]
    list_filter = ["action"]
    search_fields = ["domain"]
    list_select_related = ["actor"]
    date_hierarchy = "at"


@admin.register(Campaign)
class CampaignAdmin(console.ModelAdmin):
    list_display = ["name", "slug", "utm_source", "utm_medium", "utm_campaign"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
