"""Sales in the merchant console: channels, deliveries (with replay), orders (with their lines,
refunds, deliveries and audit), unmapped lines, reservations. Every write goes through
`sales.services`."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from core import admin_base as console
from core.absolute_urls import absolute_url
from core.admin_filters import CurrencyInUseFilter
from core.admin_readonly import NoAddOrDeleteMixin
from core.errors import ApplicationError, as_validation_error, error_message
from core.money import format_money
from sales import selectors, services
from sales.models import (
    Order,
    OrderEvent,
    OrderLine,
    Provider,
    Refund,
    Reservation,
    SalesChannel,
    UnmappedLine,
    WebhookDelivery,
)

SETUP = {
    Provider.SHOPIFY: "Shopify admin › Settings › Notifications › Webhooks (or your app's "
    "webhook subscriptions): add orders/create, orders/updated, orders/paid, orders/cancelled, "
    "orders/fulfilled and refunds/create in JSON to this URL. The secret is the app's client "
    "secret (or the key shown under the store's webhooks).",
    Provider.STRIPE: "Stripe Dashboard › Developers › Webhooks › Add endpoint: this URL, events "
    "checkout.session.completed, checkout.session.expired, checkout.session.async_payment_"
    "succeeded/failed, payment_intent.succeeded, payment_intent.canceled, charge.succeeded, "
    "charge.refunded, refund.created. The secret is the endpoint's signing secret (whsec_…); "
    "the API key (sk_…) lets the Buy button create Checkout Sessions.",
    Provider.TIKTOK_SHOP: "TikTok Shop Partner Center › App › Webhooks: this URL for order "
    "status change (1), cancellation status change (11) and return status change (12). The "
    "secret is the app secret; also set the app key and shop id. The job re-fetches each order "
    "from the API with the token of the shop's TikTok Shop connection (Integrations › "
    "Connections) when there is one, else with the access token and shop cipher set here.",
    Provider.STANDARD: "In your checkout's Standard Webhooks sender: this URL and a whsec_ "
    "secret; send order.created/updated/paid/fulfilled/cancelled and refund.created with the "
    "order shape the README describes.",
}


class SalesChannelForm(forms.ModelForm):
    new_secret = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False),
        label="Set or rotate the webhook secret",
        help_text="Shown once, never again. Rotating keeps the old secret valid until you "
        "retire it, so deliveries signed with either are accepted meanwhile.",
    )  # fmt: skip
    new_api_key = forms.CharField(required=False, strip=True, label="Stripe API key (sk_…)",
                                  widget=forms.PasswordInput(render_value=False))  # fmt: skip
    new_access_token = forms.CharField(required=False, strip=True,
                                       label="TikTok Shop access token",
                                       widget=forms.PasswordInput(render_value=False))  # fmt: skip

    class Meta:
        model = SalesChannel
        fields = ["provider", "name", "currency", "active", "checkout", "shop_domain",
                  "stripe_account", "app_key", "shop_id", "shop_cipher"]  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and not cleaned.get("new_secret"):
            self.add_error("new_secret", "A new channel needs its webhook secret.")
        if cleaned.get("new_secret"):
            try:
                services.check_secret(cleaned.get("provider") or self.instance.provider,
                                      cleaned["new_secret"])  # fmt: skip
            except ApplicationError as exc:
                self.add_error("new_secret", as_validation_error(exc).messages)
        return cleaned


@admin.register(SalesChannel)
class SalesChannelAdmin(console.ModelAdmin):
    form = SalesChannelForm
    list_display = ["name", "provider", "currency", "active", "checkout", "secrets_state",
                    "last_delivery"]  # fmt: skip
    list_filter = ["provider", "active"]
    search_fields = ["name", "shop_domain", "app_key", "shop_id"]
    readonly_fields = ["webhook_url", "setup", "secrets_state", "secret_rotated_at",
                       "recent_deliveries"]  # fmt: skip
    actions = ["retire_previous_secret"]

    def get_queryset(self, request):
        from django.db.models import Max

        return super().get_queryset(request).annotate(_last=Max("deliveries__received_at"))

    def get_fieldsets(self, request, obj=None):
        main = ["provider", "name", "currency", "active", "checkout"]
        if obj is not None:
            main = ["webhook_url", "setup", *main]
        return [
            (None, {"fields": main}),
            (
                "Provider ids",
                {"fields": ["shop_domain", "stripe_account", "app_key", "shop_id", "shop_cipher"]},
            ),  # fmt: skip
            (
                "Secrets (encrypted; shown only as set or not)",
                {
                    "fields": [
                        *(["secrets_state", "secret_rotated_at"] if obj else []),
                        "new_secret",
                        "new_api_key",
                        "new_access_token",
                    ]
                },
            ),  # fmt: skip
            *([("Last deliveries", {"fields": ["recent_deliveries"]})] if obj else []),
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("provider")
        return fields

    @admin.display(description="Webhook URL to paste into the provider")
    def webhook_url(self, obj):
        url = absolute_url(obj.webhook_path())
        return format_html('<code class="webhook-url">{}</code>', url)

    @admin.display(description="Set-up")
    def setup(self, obj):
        return SETUP.get(obj.provider, "")

    @admin.display(description="Secrets")
    def secrets_state(self, obj):
        state = "set" if obj.secret else "missing"
        if obj.previous_secret:
            state += " (+ previous, until retired)"
        extra = []
        if obj.provider == Provider.STRIPE:
            extra.append(f"API key {'set' if obj.api_key else 'missing'}")
        if obj.provider == Provider.TIKTOK_SHOP:
            extra.append(f"access token {'set' if obj.access_token else 'missing'}")
        return "; ".join([f"webhook secret {state}", *extra])

    @admin.display(description="Last delivery", ordering="_last")
    def last_delivery(self, obj):
        return obj._last or "–"

    @admin.display(description="Last deliveries")
    def recent_deliveries(self, obj):
        rows = selectors.last_deliveries(obj.pk)
        if not rows:
            return "None yet."
        return format_html(
            "<table><tr><th>Received</th><th>Topic</th><th>Signature</th><th>Status</th>"
            "<th>Reason</th></tr>{}</table>",
            format_html_join("", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td>'
                             "<td>{}</td><td>{}</td></tr>",
                             ((reverse("admin:sales_webhookdelivery_change", args=[d.pk]),
                               d.received_at, d.topic or "–", d.get_signature_display(),
                               d.get_status_display(), Truncator(d.reason).chars(80))
                              for d in rows)),
        )  # fmt: skip

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data.get(name) for name in services.CHANNEL_FIELDS
                if name in form.cleaned_data}  # fmt: skip
        secrets = {"api_key": form.cleaned_data.get("new_api_key") or "",
                   "access_token": form.cleaned_data.get("new_access_token") or ""}  # fmt: skip
        new_secret = form.cleaned_data.get("new_secret") or ""
        try:
            if change:
                channel = services.channel_update(channel_id=obj.pk, **data, **secrets)
                if new_secret and new_secret != channel.secret:
                    channel = services.channel_rotate_secret(channel_id=obj.pk,
                                                             new_secret=new_secret)  # fmt: skip
            else:
                channel = services.channel_create(
                    provider=form.cleaned_data["provider"], secret=new_secret,
                    **{k: v for k, v in data.items() if k != "provider"},
                    **{k: v for k, v in secrets.items() if v},
                )  # fmt: skip
        except ApplicationError as exc:
            messages.error(request, exc.message)
            raise
        obj.pk = channel.pk
        obj.refresh_from_db()

    @admin.action(description="Retire the previous webhook secret", permissions=["change"])
    def retire_previous_secret(self, request, queryset):
        for channel in queryset:
            services.channel_retire_previous_secret(channel_id=channel.pk)
        self.message_user(request, f"Previous secret retired on {queryset.count()} channel(s).")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    list_display = ["received_at", "channel", "provider", "topic", "short_id", "signature",
                    "status", "short_reason", "order_link", "replays"]  # fmt: skip
    list_filter = ["provider", "status", "signature", "accepted", "channel"]
    search_fields = ["delivery_id", "event_id", "topic"]
    list_select_related = ["channel", "order"]
    date_hierarchy = "received_at"
    actions = ["replay"]
    list_per_page = 50
    fields = ["channel", "provider", "delivery_id", "event_id", "topic", "signature", "accepted",
              "status", "reason", "received_at", "processed_at", "attempts", "replays",
              "order_link", "body_size", "body_truncated", "headers", "body_text"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Id")
    def short_id(self, obj):
        return Truncator(obj.delivery_id).chars(24) or "–"

    @admin.display(description="Reason")
    def short_reason(self, obj):
        return Truncator(obj.reason).chars(80)

    @admin.display(description="Order")
    def order_link(self, obj):
        if obj.order_id is None:
            return "–"
        return format_html('<a href="{}">{}</a>',
                           reverse("admin:sales_order_change", args=[obj.order_id]),
                           obj.order.name or obj.order.external_id)  # fmt: skip

    @admin.display(description="Body (as received; text)")
    def body_text(self, obj):
        if obj.erased_at is not None:
            return f"Erased on {obj.erased_at:%Y-%m-%d %H:%M} UTC: it held a customer's data."
        text = bytes(obj.body).decode("utf-8", errors="replace")
        return format_html("<pre style='white-space:pre-wrap;max-height:30em;overflow:auto'>{}"
                           "</pre>", Truncator(text).chars(20000))  # fmt: skip

    @admin.action(description="Replay: process the selected deliveries again",
                  permissions=["change"])  # fmt: skip
    def replay(self, request, queryset):
        done, refused = [], []
        for delivery in queryset.order_by("pk"):
            try:
                services.delivery_replay(delivery_id=delivery.pk, actor=request.user)
                done.append(f"#{delivery.pk}")
            except ApplicationError as exc:
                refused.append(f"#{delivery.pk}: {exc.message}")
        if done:
            self.message_user(request, f"Replayed {len(done)}: {', '.join(done)}")
        for line in refused:
            self.message_user(request, f"Not replayed {line}", level=messages.WARNING)


# --- money as people read it (issue 10): `US$59.00`, not `59.0000` ---
def money_display(field: str, description: str, currency=lambda obj: obj.currency):
    """A read-only column or field showing a decimal amount in its currency's minor units."""

    def show(self, obj):
        value = getattr(obj, field)
        return "–" if value is None else format_money(value, currency(obj), unambiguous=True)

    show.short_description = description
    show.admin_order_field = field
    show.__name__ = f"{field}_money"
    return show


def _order_currency(row):
    return row.order.currency


# --- end money ---


class ReadOnlyInline(console.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ["sku", "title", "variant", "quantity", "unit_price_money", "discount_money",
              "tax_money", "total_money", "stock_committed", "stock_shipped",
              "shortfall"]  # fmt: skip
    readonly_fields = fields
    unit_price_money = money_display("unit_price", "Unit price", _order_currency)
    discount_money = money_display("discount", "Discount", _order_currency)
    tax_money = money_display("tax", "Tax", _order_currency)
    total_money = money_display("total", "Total", _order_currency)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ["external_id", "total_money", "shipping_money", "reason", "refunded_at",
              "refund_lines"]  # fmt: skip
    readonly_fields = fields
    total_money = money_display("total", "Total", _order_currency)
    shipping_money = money_display("shipping", "Shipping", _order_currency)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")

    @admin.display(description="Lines")
    def refund_lines(self, obj):
        currency = obj.order.currency
        return ", ".join(
            f"{line.sku or '?'} ×{line.quantity}: "
            f"{format_money(line.amount, currency, unambiguous=True)}"
            for line in obj.lines.all()
        ) or "–"  # fmt: skip


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ["at", "action", "from_status", "to_status", "actor", "reason", "delivery"]
    readonly_fields = fields
    verbose_name_plural = "audit trail"


class DeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    fk_name = "order"
    fields = ["received_at", "topic", "delivery_id", "status", "reason"]
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "deliveries that built this order"


class UnmappedFilter(admin.SimpleListFilter):
    title = "lines"
    parameter_name = "lines"

    def lookups(self, request, model_admin):
        return [("unmapped", "With unmapped lines"), ("mapped", "All lines mapped")]

    def queryset(self, request, queryset):
        unmapped = Q(lines__variant__isnull=True)
        if self.value() == "unmapped":
            return queryset.filter(unmapped).distinct()
        if self.value() == "mapped":
            return queryset.exclude(unmapped)
        return queryset


@admin.register(Order)
class OrderAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    list_display = ["__str__", "channel", "status", "amount", "placed_at", "click",
                    "needs"]  # fmt: skip
    list_filter = ["status", "channel", "oversold", UnmappedFilter, CurrencyInUseFilter]
    search_fields = ["external_id", "name", "click_id", "visitor_click_id"]
    date_hierarchy = "placed_at"
    list_per_page = 50
    inlines = [OrderLineInline, RefundInline, DeliveryInline, OrderEventInline]
    # Hook: apps above sales add panels to the order page here (attribution adds who the
    # order is credited to and why, from `attribution/admin.py`).
    extra_inlines: list = []
    actions = ["remap_lines", "settle_stock"]

    def get_inlines(self, request, obj):
        return [*self.inlines, *self.extra_inlines]

    fieldsets = [
        (None, {"fields": ["oversold_notice", "channel", "external_id", "name", "status",
                           "placed_at", "paid_at", "cancelled_at", "fulfilled_at",
                           "delivered_at"]}),
        ("Amounts", {"fields": ["currency", "subtotal_money", "discounts_money",
                                "shipping_money", "tax_money", "total_money"]}),
        ("Attribution", {"fields": ["click_id", "visitor_click_id", "landing_url",
                                    "referring_site", "discount_codes", "reservation"]}),
        ("Customer (hashed)", {"fields": ["customer_email_hash", "country",
                                          "payment_fingerprint_hash", "redacted_at"]}),
        ("Provider", {"fields": ["provider_updated_at", "provider_version"]}),
    ]  # fmt: skip

    def get_queryset(self, request):
        return selectors.orders_for_list()

    def get_readonly_fields(self, request, obj=None):
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    subtotal_money = money_display("subtotal", "Subtotal")
    discounts_money = money_display("discounts", "Discounts")
    shipping_money = money_display("shipping", "Shipping")
    tax_money = money_display("tax", "Tax")
    total_money = money_display("total", "Total")

    @admin.display(description="Total", ordering="total")
    def amount(self, obj):
        return format_money(obj.total, obj.currency, unambiguous=True)

    @admin.display(description="Click", ordering="click_id")
    def click(self, obj):
        """The click id, shortened for the list (the order page shows it whole)."""
        if not obj.click_id:
            return "–"
        return format_html('<span title="{}">{}…</span>', obj.click_id, obj.click_id[:8])

    @admin.display(description="Needs", ordering="unmapped_count")
    def needs(self, obj):
        """What the merchant must do about the order: unmapped lines, oversold stock."""
        notes = []
        if obj.unmapped_count:
            notes.append(f"{obj.unmapped_count} unmapped line(s)")
        if obj.oversold:
            notes.append("oversold")
        return ", ".join(notes) or "–"

    @admin.display(description="Stock")
    def oversold_notice(self, obj):
        if not obj.oversold:
            return "Covered."
        short = [f"{line.sku} ×{line.shortfall}" for line in obj.lines.all() if line.shortfall]
        return format_html(
            '<strong style="color:#b42318">Oversold: {}.</strong> This order was sold on '
            "{} with too little stock here. Restock those SKUs (Catalog › Variants, stock on "
            "hand) and use “Commit stock again”, or cancel and refund the order on the "
            "channel (its webhook cancels it here and releases the stock).",
            ", ".join(short), obj.channel.name,
        )  # fmt: skip

    @admin.action(description="Map lines to variants by SKU again", permissions=["change"])
    def remap_lines(self, request, queryset):
        mapped = 0
        for order in queryset.order_by("pk"):
            mapped += services.order_lines_remap(order_id=order.pk, actor=request.user)
        self.message_user(request, f"{mapped} line(s) now map to variants.")

    @admin.action(description="Commit stock again (after a restock)", permissions=["change"])
    def settle_stock(self, request, queryset):
        covered, short = [], []
        for order in queryset.order_by("pk"):
            try:
                order = services.order_settle_stock(order_id=order.pk, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, error_message(exc), level=messages.ERROR)
                continue
            (short if order.oversold else covered).append(order.name or order.external_id)
        if covered:
            self.message_user(request, f"Stock covers: {', '.join(covered)}")
        if short:
            self.message_user(request, f"Still oversold: {', '.join(short)}",
                              level=messages.WARNING)  # fmt: skip


@admin.register(UnmappedLine)
class UnmappedLineAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    """Lines whose SKU matches no variant: add a variant with that SKU, then map again."""

    list_display = ["sku", "title", "quantity", "order_link", "channel", "add_variant"]
    search_fields = ["sku", "title", "order__external_id"]
    list_select_related = ["order__channel"]
    list_filter = ["order__channel"]
    actions = ["remap"]
    list_per_page = 100

    def get_queryset(self, request):
        return super().get_queryset(request).filter(variant__isnull=True).exclude(sku="")

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="Order")
    def order_link(self, obj):
        return format_html('<a href="{}">{}</a>',
                           reverse("admin:sales_order_change", args=[obj.order_id]),
                           obj.order.name or obj.order.external_id)  # fmt: skip

    @admin.display(description="Channel")
    def channel(self, obj):
        return obj.order.channel.name

    @admin.display(description="Fix")
    def add_variant(self, obj):
        return format_html(
            '<a href="{}?sku={}">Find variant {}</a>',
            reverse("admin:catalog_variant_changelist"),
            obj.sku,
            obj.sku,
        )

    @admin.action(description="Map the selected SKUs again (after adding the variants)",
                  permissions=["change"])  # fmt: skip
    def remap(self, request, queryset):
        skus = sorted(set(queryset.values_list("sku", flat=True)))
        mapped = sum(services.order_lines_remap(sku=sku, actor=request.user) for sku in skus)
        still = list(selectors.unmapped_skus().filter(sku__in=skus).values_list("sku", flat=True))
        self.message_user(request, f"{mapped} line(s) now map to variants.")
        if still:
            self.message_user(
                request,
                f"No variant has SKU {', '.join(still)} yet: add it in "
                "Catalog › Products, then map again.",
                level=messages.WARNING,
            )


@admin.register(Reservation)
class ReservationAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    list_display = ["key", "variant", "quantity", "status", "expires_at",
                    "checkout_session_id", "created_at"]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["key", "checkout_session_id", "variant__sku", "click_id"]
    list_select_related = ["variant"]
    readonly_fields = ["key", "channel", "variant", "quantity", "unit_price_money", "currency",
                       "status", "expires_at", "checkout_session_id", "checkout_url",
                       "click_id", "visitor_click_id", "landing_url", "referring_site",
                       "created_at", "updated_at"]  # fmt: skip
    actions = ["release"]
    unit_price_money = money_display("unit_price", "Unit price")

    @admin.action(description="Release the selected active reservations", permissions=["change"])
    def release(self, request, queryset):
        released = 0
        for reservation in queryset.filter(status=Reservation.Status.ACTIVE).order_by("pk"):
            services.reservation_release(
                reservation_id=reservation.pk, reason=f"Released in the console by {request.user}."
            )
            released += 1
        self.message_user(request, f"Released {released} reservation(s).")


from sales import admin_ledger  # noqa: E402,F401 - issue 14: the ledger's console pages

# isort: split
from sales import admin_fulfilment  # noqa: E402,F401 - issue 19: parcels, low stock, alerts
