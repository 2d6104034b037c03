"""Fulfilment and stock defence in the console (issue 19): ship a parcel from an order's page,
upload a CSV of parcels, see each parcel's push to its channel (and the platform's message
when it refused), mark parcels delivered; the low-stock list with days of cover (and its
CSV); the stock alerts with their evidence and the throttles on networks. Every write goes
through `sales.fulfilment` / `sales.defence`."""

import csv
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.widgets import UnfoldAdminFileFieldWidget  # Unfold's file input (its app.js needs it)

from core import admin_base as console
from core.admin_readonly import NoAddOrDeleteMixin
from core.errors import ApplicationError, error_message
from sales import carriers, cover, defence, fulfilment
from sales.admin import OrderAdmin, ReadOnlyInline
from sales.fulfilment_models import Fulfilment, ReservationThrottle, StockAlert
from sales.models import Order


def _context(request, title, **extra):
    return {**admin.site.each_context(request), "title": title, **extra}


class FulfilmentInline(ReadOnlyInline):
    model = Fulfilment
    fields = ["shipped_at", "carrier", "tracking", "contents", "status", "delivered_at",
              "push"]  # fmt: skip
    readonly_fields = fields
    verbose_name_plural = "parcels"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lines__line")

    @admin.display(description="Tracking")
    def tracking(self, obj):
        if obj.tracking_url:
            return format_html('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>',
                               obj.tracking_url, obj.tracking_number)  # fmt: skip
        return obj.tracking_number

    @admin.display(description="Contents")
    def contents(self, obj):
        return ", ".join(f"{x.quantity} × {x.line.sku or x.line.title}" for x in obj.lines.all())

    @admin.display(description="Channel")
    def push(self, obj):
        return _push_text(obj)


def _push_text(obj):
    if obj.push_state == Fulfilment.Push.REFUSED:
        return format_html('<strong style="color:#b42318">Refused: {}</strong>', obj.push_message)
    if obj.push_state == Fulfilment.Push.FAILED:
        return format_html("Failed ({} attempts), retried at {}: {}", obj.push_attempts,
                           obj.push_next_at, obj.push_message)  # fmt: skip
    if obj.push_state == Fulfilment.Push.PUSHED:
        return format_html("Accepted ({})", obj.external_id or "no id")
    return obj.get_push_state_display()


OrderAdmin.extra_inlines.append(FulfilmentInline)


@admin.display(description="Parcels")
def ship_link(self, obj):
    done = fulfilment.shipped_quantities(obj.pk)
    left = sum(max(0, line.quantity - done.get(line.pk, 0)) for line in obj.lines.all())
    page = reverse("sales:order-status", args=[obj.status_token]) if obj.status_token else ""
    parts = []
    if left and obj.status in fulfilment.FULFILLABLE:
        parts.append(format_html('<a class="button" href="{}">Ship a parcel</a> ({} unit(s) to '
                                 "ship)", reverse("admin:sales_fulfilment_ship", args=[obj.pk]),
                                 left))  # fmt: skip
    else:
        parts.append(format_html("{} unit(s) to ship.", left))
    if page:
        parts.append(format_html(' · <a href="{}" target="_blank">Shopper\'s order page</a>',
                                 page))  # fmt: skip
    return format_html_join("", "{}", ((p,) for p in parts))


OrderAdmin.ship_link = ship_link
OrderAdmin.fieldsets[0][1]["fields"].insert(0, "ship_link")


class ShipForm(forms.Form):
    carrier = forms.ChoiceField(choices=carriers.CARRIER_CHOICES)
    tracking_number = forms.CharField(max_length=100)
    tracking_url = forms.URLField(required=False, max_length=500, assume_scheme="https",
                                  help_text="Empty: the carrier's own tracking page.")  # fmt: skip

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.order_lines = []
        for line, left in lines:
            name = f"line_{line.pk}"
            self.fields[name] = forms.IntegerField(
                min_value=0, max_value=left, initial=left, required=False,
                label=f"{line.sku or line.title} ({left} of {line.quantity} left)",
            )  # fmt: skip
            self.order_lines.append((line, name))

    def parcel_lines(self):
        chosen = [
            fulfilment.ParcelLine(quantity=self.cleaned_data[name], line_id=line.pk)
            for line, name in self.order_lines
            if self.cleaned_data.get(name)
        ]
        if not chosen:
            raise ApplicationError("Put at least one unit in the parcel.")
        return chosen


class UploadForm(forms.Form):
    file = forms.FileField(
        widget=UnfoldAdminFileFieldWidget,
        help_text="CSV with the header order,sku,quantity,carrier,tracking. Rows with the "
        "same order and tracking number are one parcel.",
    )


@admin.register(Fulfilment)
class FulfilmentAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    list_display = ["__str__", "order_link", "status", "shipped_at", "delivered_at",
                    "push_state", "push_result", "source"]  # fmt: skip
    list_filter = ["status", "push_state", "source", "carrier"]
    search_fields = ["tracking_number", "order__name", "order__external_id", "external_id"]
    list_select_related = ["order"]
    readonly_fields = [f.name for f in Fulfilment._meta.fields]
    actions = ["mark_delivered", "push_again"]
    list_per_page = 100

    @admin.display(description="Order")
    def order_link(self, obj):
        return format_html('<a href="{}">{}</a>',
                           reverse("admin:sales_order_change", args=[obj.order_id]),
                           obj.order.name or obj.order.external_id)  # fmt: skip

    @admin.display(description="Channel said")
    def push_result(self, obj):
        return _push_text(obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("ship/<int:order_id>/", view(self.ship_view), name="sales_fulfilment_ship"),
            path("upload/", view(self.upload_view), name="sales_fulfilment_upload"),
            path("low-stock/", view(self.low_stock_view), name="sales_fulfilment_low_stock"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"title": "Parcels"}
        if request.user.has_perm("sales.add_fulfilment"):
            messages.info(request, format_html(
                'Ship many at once: <a href="{}">upload a CSV of parcels</a>. Stock to '
                'reorder: <a href="{}">low stock</a>.', reverse("admin:sales_fulfilment_upload"),
                reverse("admin:sales_fulfilment_low_stock")))  # fmt: skip
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def ship_view(self, request, order_id):
        if not request.user.has_perm("sales.add_fulfilment"):
            raise PermissionDenied
        order = get_object_or_404(Order.objects.select_related("channel"), pk=order_id)
        done = fulfilment.shipped_quantities(order.pk)
        lines = [(x, x.quantity - done.get(x.pk, 0)) for x in order.lines.order_by("pk")]
        form = ShipForm(request.POST or None, lines=[(x, n) for x, n in lines if n > 0])
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                parcel = fulfilment.fulfilment_create(
                    order_id=order.pk, carrier=data["carrier"],
                    tracking_number=data["tracking_number"], lines=form.parcel_lines(),
                    tracking_url=data["tracking_url"], source=Fulfilment.Source.CONSOLE,
                    actor=request.user,
                )  # fmt: skip
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                note = (" It is sent to the channel now." if parcel.push_state ==
                        Fulfilment.Push.PENDING else "")  # fmt: skip
                messages.success(request, f"Parcel {parcel} recorded.{note}")
                return HttpResponseRedirect(reverse("admin:sales_order_change", args=[order.pk]))
        return TemplateResponse(request, "admin/sales/form_page.html", _context(
            request, f"Ship a parcel of order {order.name or order.external_id}", form=form,
            submit="Record the parcel", opts=self.model._meta,
            intro="Choose how many units of each line are in this parcel; lines can ship in "
                  "several parcels. Orders from Shopify or TikTok Shop get the tracking number "
                  "on the channel too.",
        ))  # fmt: skip

    def upload_view(self, request):
        if not request.user.has_perm("sales.add_fulfilment"):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > 2 * 1024 * 1024:
                form.add_error("file", "At most 2 MB.")
            else:
                try:
                    made = fulfilment.fulfilments_import_csv(data=upload.read(),
                                                             actor=request.user)  # fmt: skip
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, f"{len(made)} parcel(s) recorded.")
                    return HttpResponseRedirect(reverse("admin:sales_fulfilment_changelist"))
        return TemplateResponse(request, "admin/sales/form_page.html", _context(
            request, "Upload parcels (CSV)", form=form, submit="Record the parcels",
            multipart=True, opts=self.model._meta,
            intro="All or nothing: a row that cannot ship is named with its line number and "
                  "nothing is recorded.",
        ))  # fmt: skip

    def low_stock_view(self, request):
        if not request.user.has_perm("catalog.view_product"):
            raise PermissionDenied
        rows = cover.low_stock()
        if request.GET.get("format") == "csv":
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="low-stock.csv"'
            writer = csv.writer(response)
            writer.writerow(cover.CSV_HEADER)
            for row in rows:
                writer.writerow(row.as_row())
            return response
        return TemplateResponse(request, "admin/sales/low_stock.html", _context(
            request, "Low stock: days of cover", rows=rows, opts=self.model._meta,
        ))  # fmt: skip

    @admin.action(description="Mark the selected parcels delivered (now)",
                  permissions=["change"])  # fmt: skip
    def mark_delivered(self, request, queryset):
        done = 0
        for parcel in queryset.filter(delivered_at=None).order_by("pk"):
            fulfilment.fulfilment_deliver(
                fulfilment_id=parcel.pk, reason=f"Marked delivered by {request.user}.",
                actor=request.user,
            )  # fmt: skip
            done += 1
        self.message_user(request, f"{done} parcel(s) delivered.")

    @admin.action(description="Send to the channel again", permissions=["change"])
    def push_again(self, request, queryset):
        for parcel in queryset.order_by("pk"):
            try:
                fulfilment.fulfilment_push_again(fulfilment_id=parcel.pk, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, error_message(exc), level=messages.WARNING)


def _evidence(self, obj):
    return format_html("<pre>{}</pre>", json.dumps(obj.evidence, indent=2, default=str))


@admin.register(StockAlert)
class StockAlertAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    list_display = ["created_at", "kind", "message", "network", "throttle_state",
                    "acknowledged_at"]  # fmt: skip
    list_filter = ["kind", ("acknowledged_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["kind", "product", "network", "message", "evidence_pretty", "throttle",
                       "created_at", "acknowledged_at"]  # fmt: skip
    fields = readonly_fields
    actions = ["acknowledge"]
    evidence_pretty = admin.display(description="Evidence")(_evidence)

    @admin.display(description="Throttle")
    def throttle_state(self, obj):
        if obj.throttle is None:
            return "–"
        return "active" if obj.throttle.active else "ended"

    @admin.action(description="Acknowledge", permissions=["change"])
    def acknowledge(self, request, queryset):
        for alert in queryset.order_by("pk"):
            defence.alert_acknowledge(alert_id=alert.pk, actor=request.user)
        self.message_user(request, "Acknowledged.")


@admin.register(ReservationThrottle)
class ReservationThrottleAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    list_display = ["network", "max_active", "ttl_seconds", "created_at", "expires_at",
                    "lifted_at", "reason"]  # fmt: skip
    search_fields = ["network"]
    readonly_fields = ["network", "max_active", "ttl_seconds", "reason", "evidence_pretty",
                       "created_at", "expires_at", "lifted_at"]  # fmt: skip
    fields = readonly_fields
    actions = ["lift"]
    evidence_pretty = admin.display(description="Evidence")(_evidence)

    @admin.action(description="Lift the selected throttles", permissions=["change"])
    def lift(self, request, queryset):
        for throttle in queryset.order_by("pk"):
            defence.throttle_lift(throttle_id=throttle.pk, actor=request.user)
        self.message_user(request, "Lifted.")
