"""The console for connections and catalog sync.

- *Integrations › Connections*: every connection with its status ("Needs reconnecting" says
  why), account, last call, last error and sync counts; "Connect a platform" starts OAuth
  (or takes a Shopify custom app's token); a connection's page shows its scopes, tokens'
  expiry (never the tokens), settings, Shopify field rules, recent runs and audit, with
  "Sync now", "Reconnect" and "Disconnect".
- *Integrations › Listings*: each product on each destination, its state and the platform's
  messages; `/admin/integrations/listing/product/<id>/` shows one product everywhere.
- *Integrations › Shopify compliance requests*: Shopify's customer data requests and
  erasures, with their status, due date, audit, and a data request's export to download.
Every write goes through `integrations.services` (and `integrations.compliance`).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from catalog.models import Product
from core import admin_base as console
from core.absolute_urls import absolute_url
from core.admin_readonly import NoAddOrDeleteMixin, ReadOnlyAdminMixin
from core.errors import ApplicationError
from integrations import compliance, oauth, platform_settings, selectors, services
from integrations.clients import app_for
from integrations.clients import shopify as shopify_client
from integrations.models import (
    DESTINATIONS,
    ComplianceEvent,
    ComplianceRequest,
    Connection,
    ExternalProduct,
    FieldRule,
    Listing,
    Platform,
    WebhookDelivery,
)
from sales import selectors as sales_selectors

STATUS_CLASS = {
    "active": "ok",
    "needs_reconnect": "bad",
    "pending": "warn",
    "disconnected": "off",
}


def status_badge(connection: Connection):
    return format_html(
        '<span class="sl-badge sl-{}">{}</span>',
        STATUS_CLASS.get(connection.status, "off"),
        connection.get_status_display(),
    )


class ShopForm(forms.Form):
    shop = forms.CharField(
        label="Shop domain",
        max_length=120,
        help_text="Your myshopify.com domain, e.g. acme.myshopify.com.",
    )

    def clean_shop(self):
        shop = shopify_client.normalize_shop(self.cleaned_data["shop"])
        if not shop:
            raise forms.ValidationError(
                "Enter the shop's myshopify.com domain, e.g. acme.myshopify.com."
            )
        return shop


class ShopifyTokenForm(forms.Form):
    shop = forms.CharField(label="Shop domain", max_length=120)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "paste_%s")  # the OAuth form on the same page has id_shop
        super().__init__(*args, **kwargs)

    access_token = forms.CharField(
        label="Admin API access token",
        widget=forms.PasswordInput(render_value=False),
        help_text="Shopify admin › Settings › Apps › Develop apps › your app › API credentials.",
    )
    app_secret = forms.CharField(
        label="API secret key",
        widget=forms.PasswordInput(render_value=False),
        help_text="Same page; Shopify signs the app's webhooks with it.",
    )


def settings_form_class(platform: str):
    fields = {}
    for spec in platform_settings.FIELDS.get(platform, ()):
        if spec.choices:
            fields[spec.key] = forms.ChoiceField(
                label=spec.label, choices=spec.choices, required=False, help_text=spec.help
            )
        else:
            fields[spec.key] = forms.CharField(
                label=spec.label, required=False, help_text=spec.help, max_length=200
            )
    return type("ConnectionSettingsForm", (forms.Form,), fields)


class FieldRulesForm(forms.Form):
    def __init__(self, *args, owners: dict, **kwargs):
        super().__init__(*args, **kwargs)
        for value, label in FieldRule.Field.choices:
            self.fields[value] = forms.ChoiceField(
                label=label, choices=FieldRule.Owner.choices, initial=owners.get(value)
            )


@admin.register(Connection)
class ConnectionAdmin(console.ModelAdmin):
    list_display = [
        "name",
        "platform",
        "status_display",
        "last_call_at",
        "short_error",
        "sync_display",
        "last_run_at",
    ]
    list_filter = ["platform", "status"]
    search_fields = ["account_name", "account_id"]
    actions = ["sync_now"]
    list_per_page = 50

    def get_queryset(self, request):
        return selectors.connections_with_status().order_by("platform", "account_name", "pk")

    @admin.display(description="Account", ordering="account_name")
    def name(self, obj):
        return obj.account_name or obj.account_id or f"#{obj.pk} (choosing the account)"

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj):
        badge = status_badge(obj)
        if obj.status == Connection.Status.NEEDS_RECONNECT:
            return format_html("{}<br><small>{}</small>", badge, obj.status_reason)
        return badge

    @admin.display(description="Last error")
    def short_error(self, obj):
        if not obj.last_error:
            return "–"
        text = obj.last_error if len(obj.last_error) < 90 else obj.last_error[:88] + "…"
        return format_html('<span title="{}">{}</span>', obj.last_error, text)

    @admin.display(description="Sync")
    def sync_display(self, obj):
        summary = selectors.sync_summary(obj)
        if obj.platform in DESTINATIONS:
            return format_html(
                "{} in sync · {} pending · {} failed",
                summary["in_sync"],
                summary["pending"],
                summary["failed"],
            )
        if summary["last_run"]:
            return f"last import {summary['last_run']['status']}"
        return "–"

    @admin.display(description="Last run", ordering="last_run_at")
    def last_run_at(self, obj):
        return obj.last_run_at

    def has_change_permission(self, request, obj=None):
        return False if obj is None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # disconnect instead: the history stays

    @admin.action(description="Sync now", permissions=["sync"])
    def sync_now(self, request, queryset):
        for connection in queryset:
            try:
                kind = services.connection_sync_now(connection_id=connection.pk, actor=request.user)
            except ApplicationError as exc:
                self.message_user(
                    request, f"Not synced {connection}: {exc.message}", messages.ERROR
                )
            else:
                self.message_user(request, f"Sync started for {connection} ({kind}).")

    def has_sync_permission(self, request, obj=None):
        return request.user.has_perm("integrations.sync_connection")

    # -- extra views --------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("connect/", wrap(self.connect_view), name="integrations_connection_connect"),
            path(
                "connect/<str:platform>/",
                wrap(self.start_view),
                name="integrations_connection_start",
            ),
            path(
                "connect-shopify-token/",
                wrap(self.paste_view),
                name="integrations_connection_paste",
            ),
            path("<int:pk>/choose/", wrap(self.choose_view), name="integrations_connection_choose"),
            path(
                "<int:pk>/operate/", wrap(self.operate_view), name="integrations_connection_operate"
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:integrations_connection_connect"))

    def _context(self, request, title, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            **extra,
        }

    def _connect_page(self, request, *, shop_form=None, token_form=None, paste_only=False):
        platforms = [
            {
                "value": value,
                "label": label,
                "configured": app_for(value).configured(),
                "pkce": app_for(value).pkce,
                "redirect_uri": oauth.redirect_uri(value),
            }
            for value, label in Platform.choices
        ]
        context = self._context(
            request,
            "Connect a Shopify custom app" if paste_only else "Connect a platform",
            platforms=platforms,
            shop_form=shop_form or ShopForm(),
            token_form=token_form or ShopifyTokenForm(),
            paste_only=paste_only,
        )
        return TemplateResponse(request, "admin/integrations/connection/connect.html", context)

    def connect_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._connect_page(request)

    def start_view(self, request, platform: str):
        """POST: start the OAuth flow (a new connection, or `connection` to reconnect)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request) or platform not in Platform.values:
            raise PermissionDenied
        app = app_for(platform)
        if not app.configured():
            self.message_user(
                request,
                f"{Platform(platform).label} is not configured: set its app credentials "
                "(see the README).",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:integrations_connection_connect"))
        connection_id = request.POST.get("connection") or None
        shop = ""
        if connection_id:
            connection = get_object_or_404(Connection, pk=connection_id, platform=platform)
            shop = connection.account_id if platform == Platform.SHOPIFY else ""
            connection_id = connection.pk
        elif app.needs_shop:
            form = ShopForm(request.POST)
            if not form.is_valid():
                return self._connect_page(request, shop_form=form)
            shop = form.cleaned_data["shop"]
        started = oauth.begin(
            request.session,
            platform=platform,
            pkce=app.pkce,
            shop=shop,
            connection_id=connection_id,
        )
        url = app.authorize_url(
            state=started["state"],
            redirect_uri=oauth.redirect_uri(platform),
            shop=shop,
            code_challenge=started["challenge"] or None,
        )
        return HttpResponseRedirect(url)

    def paste_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ShopifyTokenForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                connection = services.connection_connect_shopify_token(
                    shop=form.cleaned_data["shop"],
                    access_token=form.cleaned_data["access_token"],
                    app_secret=form.cleaned_data["app_secret"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                if exc.fields:
                    for name, msgs in exc.fields.items():
                        form.add_error(name if name in form.fields else None, msgs)
                else:
                    form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Connected {connection}; the first import has started.")
                return HttpResponseRedirect(
                    reverse("admin:integrations_connection_change", args=[connection.pk])
                )
        return self._connect_page(request, token_form=form, paste_only=True)

    def choose_view(self, request, pk: int):
        if not self.has_add_permission(request):
            raise PermissionDenied
        connection = get_object_or_404(Connection, pk=pk)
        error = ""
        if request.method == "POST":
            try:
                services.connection_choose_account(
                    connection_id=pk,
                    account_id=request.POST.get("account_id", ""),
                    actor=request.user,
                )
            except ApplicationError as exc:
                error = exc.message
            else:
                connection.refresh_from_db()
                self.message_user(request, f"Connected {connection}.")
                return HttpResponseRedirect(
                    reverse("admin:integrations_connection_change", args=[pk])
                )
        context = self._context(
            request,
            f"Choose the {connection.get_platform_display()} account",
            connection=connection,
            error=error,
        )
        return TemplateResponse(request, "admin/integrations/connection/choose.html", context)

    def operate_view(self, request, pk: int):
        """The buttons and forms of a connection's page, each through a service."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        connection = get_object_or_404(Connection, pk=pk)
        operation = request.POST.get("operation", "")
        back = HttpResponseRedirect(reverse("admin:integrations_connection_change", args=[pk]))
        user = request.user
        try:
            if operation == "sync":
                if not user.has_perm("integrations.sync_connection"):
                    raise PermissionDenied
                kind = services.connection_sync_now(connection_id=pk, actor=user)
                self.message_user(
                    request,
                    "Full import started."
                    if kind == "import"
                    else "Every product will be checked and the changes sent now.",
                )
            elif operation == "disconnect":
                if not user.has_perm("integrations.delete_connection"):
                    raise PermissionDenied
                connection = services.connection_disconnect(connection_id=pk, actor=user)
                note = connection.events.order_by("-at", "-pk").first()
                self.message_user(
                    request, f"Disconnected {connection}. {note.reason if note else ''}"
                )
            elif operation == "settings":
                if not user.has_perm("integrations.change_connection"):
                    raise PermissionDenied
                form = settings_form_class(connection.platform)(request.POST)
                form.is_valid()
                services.connection_update_settings(
                    connection_id=pk,
                    values={k: form.data.get(k, "") for k in form.fields},
                    actor=user,
                )
                self.message_user(request, "Settings saved; products will be checked again.")
            elif operation == "rules":
                if not user.has_perm("integrations.change_fieldrule"):
                    raise PermissionDenied
                owners = {
                    name: request.POST[name]
                    for name in FieldRule.Field.values
                    if name in request.POST
                }
                services.connection_set_field_rules(connection_id=pk, owners=owners, actor=user)
                self.message_user(request, "Field rules saved; they apply from the next change.")
            else:
                self.message_user(request, "Unknown operation.", messages.ERROR)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return back

    def change_view(self, request, object_id, form_url="", extra_context=None):
        connection = get_object_or_404(selectors.connections_with_status(), pk=object_id)
        if not self.has_view_permission(request, connection):
            raise PermissionDenied
        settings_form = settings_form_class(connection.platform)(
            initial={k: connection.settings.get(k, "") for k in connection.settings}
        )
        owners = {}
        if connection.platform == Platform.SHOPIFY:
            owners = dict(connection.rules.values_list("field", "owner"))
        user = request.user
        context = self._context(
            request,
            str(connection),
            connection=connection,
            original=connection,
            badge=status_badge(connection),
            summary=selectors.sync_summary(connection),
            settings_form=settings_form if settings_form.fields else None,
            rules_form=FieldRulesForm(owners=owners) if owners else None,
            runs=selectors.recent_runs(connection.pk),
            events=connection.events.select_related("actor").order_by("-at", "-pk")[:20],
            conflicts=ExternalProduct.objects.filter(connection=connection)
            .exclude(conflicts={})
            .select_related("product")[:50]
            if connection.platform == Platform.SHOPIFY
            else [],
            can_sync=user.has_perm("integrations.sync_connection")
            and connection.platform != Platform.TIKTOK,
            can_change=user.has_perm("integrations.change_connection"),
            can_rules=user.has_perm("integrations.change_fieldrule"),
            can_disconnect=user.has_perm("integrations.delete_connection"),
            can_reconnect=user.has_perm("integrations.add_connection")
            and connection.auth_method == Connection.AuthMethod.OAUTH,
            listings_url=reverse("admin:integrations_listing_changelist")
            + f"?connection__id__exact={connection.pk}",
            waiting_deliveries=len(
                sales_selectors.deliveries_waiting(
                    provider=Platform.TIKTOK_SHOP, shop_id=connection.account_id
                )
            )
            if connection.platform == Platform.TIKTOK_SHOP and connection.account_id
            else 0,
        )
        return TemplateResponse(request, "admin/integrations/connection/detail.html", context)


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [*Listing.State.choices, ("problems", "Failed, refused or invalid")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "problems":
            return queryset.filter(
                state__in=[Listing.State.FAILED, Listing.State.REJECTED, Listing.State.INVALID]
            )
        if value:
            return queryset.filter(state=value)
        return queryset


class ListingForm(forms.ModelForm):
    class Meta:
        model = Listing
        fields = ["category"]


@admin.register(Listing)
class ListingAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    form = ListingForm
    list_display = [
        "product_display",
        "connection",
        "state_display",
        "first_message",
        "dirty",
        "last_pushed_at",
        "accepted_at",
    ]
    list_filter = [StateFilter, "connection__platform", "connection", "dirty"]
    search_fields = ["product__title", "product_ref", "external_id", "product__variants__sku"]
    list_select_related = ["product", "connection"]
    readonly_fields = [
        "connection",
        "product",
        "product_ref",
        "state",
        "dirty",
        "external_id",
        "messages_display",
        "attempts",
        "next_attempt_at",
        "last_pushed_at",
        "accepted_at",
        "fingerprint",
    ]
    fields = ["category", *readonly_fields]
    list_per_page = 100

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product", "connection")

    @admin.display(description="Product", ordering="product__title")
    def product_display(self, obj):
        if obj.product is None:
            return format_html("<em>{} (deleted)</em>", obj.product_ref)
        url = reverse("admin:integrations_listing_product", args=[obj.product_id])
        return format_html('<a href="{}">{}</a>', url, obj.product.title)

    @admin.display(description="State", ordering="state")
    def state_display(self, obj):
        return format_html(
            '<span class="sl-badge sl-state-{}">{}</span>', obj.state, obj.get_state_display()
        )

    @admin.display(description="Message")
    def first_message(self, obj):
        if not obj.messages:
            return "–"
        first = obj.messages[0]
        more = f" (+{len(obj.messages) - 1})" if len(obj.messages) > 1 else ""
        return f"{first.get('message', '')}{more}"

    @admin.display(description="Messages")
    def messages_display(self, obj):
        if not obj.messages:
            return "–"
        return format_html(
            "<ul>{}</ul>",
            format_html(
                "".join(["<li>{}</li>"] * len(obj.messages)),
                *[f"[{m.get('source')}] {m.get('message')}" for m in obj.messages],
            ),
        )

    def save_model(self, request, obj, form, change):
        services.listing_set_category(
            listing_id=obj.pk, category=form.cleaned_data["category"], actor=request.user
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "product/<int:product_id>/",
                wrap(self.product_view),
                name="integrations_listing_product",
            ),
            *super().get_urls(),
        ]

    def product_view(self, request, product_id: int):
        """One product on every platform: where it is listed, in what state, and why."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        product = get_object_or_404(Product, pk=product_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{product.title} on the platforms",
            "product": product,
            "listings": selectors.listings_for_product(product_id),
            "sources": ExternalProduct.objects.filter(product=product).select_related("connection"),
        }
        return TemplateResponse(request, "admin/integrations/listing/product.html", context)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, console.ModelAdmin):
    list_display = ["topic", "connection", "webhook_id", "status", "received_at", "processed_at"]
    list_filter = ["status", "topic"]
    list_select_related = ["connection"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    search_fields = ["webhook_id"]


class ListingInline(console.TabularInline):
    """A product's listings, read-only, on the catalog's product page."""

    model = Listing
    fk_name = "product"
    extra = 0
    can_delete = False
    fields = ["connection", "state", "external_id", "summary", "accepted_at"]
    readonly_fields = fields
    verbose_name = "listing on a platform"
    verbose_name_plural = "Listings on platforms"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("connection")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Messages")
    def summary(self, obj):
        return "; ".join(m.get("message", "") for m in obj.messages[:3]) or "–"


class ComplianceEventInline(console.TabularInline):
    model = ComplianceEvent
    extra = 0
    can_delete = False
    fields = ["at", "action", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields
    verbose_name_plural = "History"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ComplianceRequest)
class ComplianceRequestAdmin(console.ModelAdmin):
    """Shopify's compliance requests: read-only, with "Process again" and the export."""

    list_display = ["topic", "shop_domain", "status_display", "received_at", "due_at",
                    "processed_at", "export_link"]  # fmt: skip
    list_filter = ["topic", "status"]
    search_fields = ["shop_domain", "customer_id", "data_request_id", "webhook_id"]
    list_select_related = ["connection"]
    fields = ["topic", "shop_domain", "shop_id", "connection", "webhook_id", "customer_id",
              "email_hash", "order_ids", "data_request_id", "status_display", "summary",
              "error", "attempts", "received_at", "due_at", "processed_at", "export_link",
              "export_deleted_at"]  # fmt: skip
    readonly_fields = fields
    inlines = [ComplianceEventInline]
    actions = ["process_again"]
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # read-only; "Process again" has its own permission

    def has_delete_permission(self, request, obj=None):
        return False  # the record of a privacy request stays

    def has_retry_permission(self, request, obj=None):
        return request.user.has_perm("integrations.change_compliancerequest")

    def changelist_view(self, request, extra_context=None):
        url = absolute_url(reverse("integrations:shopify-compliance-webhook"))
        extra = {
            "subtitle": f"Paste {url} as the three compliance webhook URLs of the Shopify app "
            "(Partner Dashboard › Apps › your app › Configuration › Compliance webhooks).",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj):
        css = {"done": "ok", "ready": "warn", "failed": "bad"}.get(obj.status, "off")
        badge = format_html('<span class="sl-badge sl-{}">{}</span>', css,
                            obj.get_status_display())  # fmt: skip
        if obj.status == ComplianceRequest.Status.FAILED and obj.error:
            return format_html("{}<br><small>{}</small>", badge, obj.error)
        return badge

    @admin.display(description="Export")
    def export_link(self, obj):
        if obj.export:
            url = reverse("admin:integrations_compliancerequest_export", args=[obj.pk])
            return format_html('<a href="{}">Download the export</a>', url)
        if obj.export_deleted_at:
            return f"Deleted {obj.export_deleted_at:%Y-%m-%d}"
        return "–"

    @admin.action(description="Process again", permissions=["retry"])
    def process_again(self, request, queryset):
        for item in queryset.order_by("pk"):
            try:
                compliance.compliance_request_retry(request_id=item.pk, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"Not queued #{item.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Queued #{item.pk} again.")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/export/",
                wrap(self.export_view),
                name="integrations_compliancerequest_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request, pk: int):
        """Download a data request's export (audited; the first download makes it done)."""
        if not request.user.has_perm("integrations.export_compliancerequest"):
            raise PermissionDenied
        try:
            item = compliance.compliance_export_downloaded(request_id=pk, actor=request.user)
        except ApplicationError as exc:
            raise Http404(exc.message) from None
        return FileResponse(
            item.export.open("rb"),
            as_attachment=True,
            filename=f"shopify-data-request-{item.data_request_id or item.pk}.json",
            content_type="application/json",
        )


from integrations import social_admin  # noqa: E402,F401 - social sources (issue 18)
