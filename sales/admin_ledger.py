"""The ledger in the merchant console (Owner and Finance only): creator balances and their
statements, the last `ledger_verify`, manual adjustments, commissions and their review,
payout runs (create, approve, cancel, CSV export) with totals per currency, each payout's
commissions and audit trail, payout details, ledger transactions. Every write goes through
`sales.payouts` and `sales.commissions`; every page reads through `sales.selectors`."""

import csv
import io
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.widgets import UnfoldAdminFileFieldWidget  # Unfold's file input (its app.js needs it)

from core import admin_base as console
from core.admin_readonly import NoAddOrDeleteMixin, ReadOnlyAdminMixin
from core.errors import ApplicationError, as_validation_error, error_message
from core.jobs import RetryLater
from core.money import CURRENCY_CHOICES, format_money, from_minor, is_exact, to_minor
from creators.models import Creator
from sales import commissions, ledger, payouts, reconciliation, selectors
from sales.models import (
    Commission,
    CommissionEvent,
    CreatorBalance,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    LedgerVerification,
    Payout,
    PayoutCommission,
    PayoutDetails,
    PayoutEvent,
    PayoutRun,
    PayoutRunEvent,
    ProviderTransaction,
    ReconciliationImport,
    SalesChannel,
    TaxForm,
)
from sales.views import month_bounds, statement_response


def money(minor, currency) -> str:
    return format_money(from_minor(minor or 0, currency), currency)


class ReadOnlyAdmin(ReadOnlyAdminMixin, console.ModelAdmin):
    """Records the console shows and nobody adds, edits or deletes."""


class ReadOnlyInline(console.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _admin_context(request, title, **extra):
    return {**admin.site.each_context(request), "title": title, **extra}


# -- balances, statements, verify, adjustments -------------------------------------------------


class AdjustmentForm(forms.Form):
    creator = forms.ModelChoiceField(queryset=Creator.objects.order_by("handle"))
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")
    amount = forms.CharField(
        help_text="In the currency, e.g. 25.00 (a bonus, to available) or -5.00 (a deduction, "
        "owed back and netted from the next payouts)."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="The creator sees it on their statement.")  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        currency, raw = cleaned.get("currency"), (cleaned.get("amount") or "").strip()
        if currency and raw:
            try:
                value = Decimal(raw)
            except InvalidOperation:
                self.add_error("amount", "A number, e.g. 25.00 or -5.00.")
                return cleaned
            if not is_exact(value, currency):
                self.add_error("amount", f"{currency} has fewer decimal places than {raw}.")
            else:
                cleaned["minor"] = to_minor(value, currency)
        return cleaned


@admin.register(CreatorBalance)
class CreatorBalanceAdmin(ReadOnlyAdminMixin, console.ModelAdmin):
    """Balances per creator and currency, with statements, totals and the last verify."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("", view(self.balances_view), name="sales_creatorbalance_changelist"),
            path(
                "statement/<int:creator_id>/<str:currency>/",
                view(self.statement_view),
                name="sales_creatorbalance_statement",
            ),  # fmt: skip
            path("verify/", view(self.verify_view), name="sales_creatorbalance_verify"),
            path("adjust/", view(self.adjust_view), name="sales_creatorbalance_adjust"),
        ]

    def balances_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        currency = request.GET.get("currency", "")
        search = request.GET.get("q", "").strip()
        rows = selectors.creator_balances(currency=currency, search=search)
        page = Paginator(rows, 100).get_page(request.GET.get("p"))
        shown = []
        for row in page:
            cur = row["currency"]
            shown.append({
                **row,
                "cells": [money(row[k], cur) for k in
                          ("pending", "available", "in_payout", "paid", "receivable")],
                "payable_shown": money(row["payable"], cur),
                "statement": reverse("admin:sales_creatorbalance_statement",
                                     args=[row["creator_id"], cur]),
            })  # fmt: skip
        totals = [{**t, **{k: money(t[k], t["currency"]) for k in t if k != "currency"}}
                  for t in selectors.ledger_totals()]  # fmt: skip
        context = _admin_context(
            request, "Creator balances", rows=shown, page=page, totals=totals,
            currency=currency, q=search, verification=selectors.last_verification(),
            currencies=sorted({t["currency"] for t in totals}),
            may_adjust=request.user.has_perm("sales.add_ledgertransaction"),
            may_verify=request.user.has_perm("sales.view_ledgerverification"),
            opts=self.model._meta,
        )  # fmt: skip
        return TemplateResponse(request, "admin/sales/balances.html", context)

    def statement_view(self, request, creator_id, currency):
        if not self.has_view_permission(request):
            raise PermissionDenied
        creator = get_object_or_404(Creator, pk=creator_id)
        try:
            start, end = month_bounds(request.GET.get("month", ""))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            start, end = month_bounds("")
        data = selectors.statement(creator_id=creator.pk, currency=currency, start=start,
                                   end=end)  # fmt: skip
        fmt = "csv" if request.GET.get("format") == "csv" else "html"
        link = selectors.statement_link(creator_id=creator.pk, currency=currency, month=start)
        return statement_response(
            request,
            data,
            fmt,
            creator,
            template="admin/sales/statement.html",
            extra={**_admin_context(request, f"Statement of @{creator.handle}"), "link": link},
        )

    def verify_view(self, request):
        if request.method != "POST" or not request.user.has_perm("sales.view_ledgerverification"):
            raise PermissionDenied
        result = ledger.verification_record(source=f"console:{request.user.get_username()}")
        if result.ok:
            messages.success(request, f"ledger_verify: every check passed "
                             f"({result.result['transactions']} transactions).")  # fmt: skip
        else:
            messages.error(
                request,
                f"ledger_verify found {len(result.result['problems'])} "
                f"problem(s): {'; '.join(result.result['problems'][:5])}",
            )
        return HttpResponseRedirect(reverse("admin:sales_creatorbalance_changelist"))

    def adjust_view(self, request):
        if not request.user.has_perm("sales.add_ledgertransaction"):
            raise PermissionDenied
        form = AdjustmentForm(
            request.POST or None,
            initial={
                "creator": request.GET.get("creator"),
                "currency": request.GET.get("currency"),
            },
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                txn = payouts.ledger_adjust(
                    creator_id=data["creator"].pk, currency=data["currency"],
                    amount=data["minor"], reason=data["reason"], actor=request.user,
                )  # fmt: skip
            except ApplicationError as exc:
                form.add_error(None, as_validation_error(exc))
            else:
                messages.success(request, f"Adjustment #{txn.pk} posted for "
                                 f"@{data['creator'].handle}: {data['amount']} "
                                 f"{data['currency']}.")  # fmt: skip
                return HttpResponseRedirect(reverse("admin:sales_creatorbalance_changelist"))
        return TemplateResponse(request, "admin/sales/form_page.html", _admin_context(
            request, "Manual adjustment", form=form, submit="Post the adjustment",
            intro="Every adjustment is a ledger transaction of its own, with who and why; it "
                  "is never an edit.", opts=self.model._meta,
        ))  # fmt: skip


@admin.register(LedgerVerification)
class LedgerVerificationAdmin(ReadOnlyAdmin):
    list_display = ["ran_at", "ok", "transactions", "problem_count", "seconds", "source"]
    list_filter = ["ok"]
    fields = ["ran_at", "ok", "seconds", "result"]
    readonly_fields = fields

    @admin.display(description="Transactions")
    def transactions(self, obj):
        return obj.result.get("transactions")

    @admin.display(description="Problems")
    def problem_count(self, obj):
        return len(obj.result.get("problems") or [])

    @admin.display(description="Run by")
    def source(self, obj):
        return obj.result.get("source", "")


class EntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = ["account", "side", "amount", "currency", "balance_before", "balance_after",
              "account_version"]  # fmt: skip
    readonly_fields = fields


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["pk", "created_at", "kind", "idempotency_key", "memo", "actor", "order"]
    list_filter = ["kind"]
    search_fields = ["idempotency_key", "memo"]
    list_select_related = ["actor", "order__channel"]
    date_hierarchy = "created_at"
    list_per_page = 100
    inlines = [EntryInline]
    fields = ["idempotency_key", "kind", "memo", "occurred_at", "created_at", "actor", "order",
              "refund", "commission", "payout", "reverses"]  # fmt: skip
    readonly_fields = fields


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "owner", "kind", "currency", "shard", "shown_balance", "version"]
    list_filter = ["owner", "kind", "currency"]
    search_fields = ["creator__handle"]
    list_select_related = ["creator"]
    list_per_page = 100

    @admin.display(description="Balance", ordering="balance")
    def shown_balance(self, obj):
        return obj.display_balance


# -- commissions and their review ----------------------------------------------------------


class CommissionEventInline(ReadOnlyInline):
    model = CommissionEvent
    fields = ["at", "action", "from_status", "to_status", "amount", "actor", "reason"]
    readonly_fields = fields
    verbose_name_plural = "audit trail"


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("release", "Release the hold (approve)"),
                                          ("reduce", "Approve at a lower amount"),
                                          ("reject", "Reject (reverse all of it)")])  # fmt: skip
    new_amount = forms.CharField(required=False, help_text="For a reduction: the new amount, "
                                 "e.g. 4.00.")  # fmt: skip
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Who decided is recorded with it; the creator sees it.",
    )


@admin.register(Commission)
class CommissionAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    list_display = ["pk", "creator", "order_name", "shown_amount", "shown_net", "status",
                    "hold_until", "review_reason"]  # fmt: skip
    list_filter = ["status", "currency"]
    search_fields = ["creator__handle", "order__external_id", "order__name"]
    list_select_related = ["creator", "order"]
    list_per_page = 100
    inlines = [CommissionEventInline]
    fields = ["creator", "order", "line", "currency", "base", "amount", "reversed", "status",
              "hold_days", "hold_until", "released_at", "review_reason", "rule",
              "review_link"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Order", ordering="order__placed_at")
    def order_name(self, obj):
        return obj.order.name or obj.order.external_id

    @admin.display(description="Amount", ordering="amount")
    def shown_amount(self, obj):
        return money(obj.amount, obj.currency)

    @admin.display(description="Net")
    def shown_net(self, obj):
        return money(obj.net, obj.currency)

    @admin.display(description="Review")
    def review_link(self, obj):
        if obj.status != Commission.Status.HELD:
            return "Not held for review."
        return format_html(
            '<a class="button" href="{}">Review this commission</a>',
            reverse("admin:sales_commission_review", args=[obj.pk]),
        )

    def get_urls(self):
        return [path("<int:pk>/review/", self.admin_site.admin_view(self.review_view),
                     name="sales_commission_review"), *super().get_urls()]  # fmt: skip

    def review_view(self, request, pk):
        if not self.has_change_permission(request):
            raise PermissionDenied
        commission = get_object_or_404(Commission, pk=pk)
        form = ReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if data["decision"] == "release":
                    commissions.commission_review_release(commission_id=pk, actor=request.user,
                                                          note=data["reason"])  # fmt: skip
                elif data["decision"] == "reject":
                    commissions.commission_review_reject(commission_id=pk, actor=request.user,
                                                         reason=data["reason"])  # fmt: skip
                else:
                    try:
                        new = to_minor(Decimal(data["new_amount"] or "x"), commission.currency)
                    except (InvalidOperation, ValueError):
                        raise ApplicationError(
                            f"new_amount: an amount in {commission.currency}, e.g. 4.00.",
                            fields={"new_amount": "An amount in the commission's currency."},
                        ) from None
                    commissions.commission_review_reduce(
                        commission_id=pk, new_amount=new, actor=request.user,
                        reason=data["reason"],
                    )  # fmt: skip
            except ApplicationError as exc:
                form.add_error(None, as_validation_error(exc))
            else:
                messages.success(request, f"Commission #{pk}: {data['decision']} recorded.")
                return HttpResponseRedirect(reverse("admin:sales_commission_change", args=[pk]))
        intro = (f"@{commission.creator.handle}, {money(commission.net, commission.currency)} "
                 f"on order {commission.order.name or commission.order.external_id}. Held "
                 f"because: {commission.review_reason or '–'}")  # fmt: skip
        return TemplateResponse(request, "admin/sales/form_page.html", _admin_context(
            request, f"Review commission #{pk}", form=form, intro=intro,
            submit="Record the decision", opts=self.model._meta,
        ))  # fmt: skip

    @admin.action(description="Release the hold of the selected held commissions",
                  permissions=["change"])  # fmt: skip
    def release_holds(self, request, queryset):
        done, refused = [], []
        for commission in queryset.order_by("pk"):
            try:
                commissions.commission_review_release(
                    commission_id=commission.pk, actor=request.user,
                    note=f"Released in the console by {request.user.get_username()}.",
                )  # fmt: skip
                done.append(f"#{commission.pk}")
            except ApplicationError as exc:
                refused.append(f"#{commission.pk}: {exc.message}")
        if done:
            self.message_user(request, f"Released {len(done)}: {', '.join(done)}")
        for line in refused:
            self.message_user(request, f"Not released {line}", level=messages.WARNING)

    actions = ["release_holds"]


# -- payout details --------------------------------------------------------------------------


class PayoutDetailsForm(forms.ModelForm):
    method = forms.ChoiceField(choices=PayoutDetails.Method.choices)
    account = forms.CharField(max_length=500, help_text="Stripe: acct_…; PayPal: the email; "
                              "by hand: the bank details to pay.")  # fmt: skip
    tax_form_received = forms.BooleanField(required=False)
    country = forms.CharField(max_length=2, help_text="ISO 3166 code, e.g. FR.")

    class Meta:
        model = PayoutDetails
        fields = ["creator"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name, value in self.instance.data.items():
                if name in self.fields:
                    self.initial[name] = value
            self.fields["creator"].disabled = True

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                payouts.payout_details_check(method=cleaned["method"], account=cleaned["account"],
                                             country=cleaned["country"])  # fmt: skip
            except ApplicationError as exc:
                raise as_validation_error(exc) from None
        return cleaned


@admin.register(PayoutDetails)
class PayoutDetailsAdmin(console.ModelAdmin):
    form = PayoutDetailsForm
    list_display = ["creator", "method", "masked_account", "country", "tax_form", "complete",
                    "updated_at"]  # fmt: skip
    list_filter = ["complete"]
    search_fields = ["creator__handle", "creator__name"]
    list_select_related = ["creator"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Method")
    def method(self, obj):
        return PayoutDetails.Method(obj.data["method"]).label if obj.data.get("method") else "–"

    @admin.display(description="Account")
    def masked_account(self, obj):
        return obj.masked_account or "–"

    @admin.display(description="Country")
    def country(self, obj):
        return obj.data.get("country") or "–"

    @admin.display(description="Tax form", boolean=True)
    def tax_form(self, obj):
        return bool(obj.data.get("tax_form_received"))

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        creator = data.get("creator") or obj.creator
        saved = payouts.payout_details_set(
            creator_id=creator.pk, method=data["method"], account=data["account"],
            tax_form_received=data["tax_form_received"], country=data["country"],
            actor=request.user,
        )  # fmt: skip
        obj.pk, obj.creator_id = saved.pk, saved.creator_id
        obj.refresh_from_db()


@admin.register(TaxForm)
class TaxFormAdmin(ReadOnlyAdmin):
    """Creators' tax forms, uploaded in the portal. Whoever may view them (Owner, Finance)
    may download them; the file is never shown inline (it came from outside)."""

    list_display = ["__str__", "creator", "kind", "shown_size", "uploaded_at", "download"]
    list_filter = ["kind"]
    search_fields = ["creator__handle", "creator__name"]
    list_select_related = ["creator"]
    fields = ["creator", "kind", "content_type", "shown_size", "sha256", "uploaded_at",
              "uploaded_by", "download"]  # fmt: skip
    readonly_fields = fields

    def get_urls(self):
        download = self.admin_site.admin_view(self.download_view)
        return [
            path("<int:pk>/download/", download, name="sales_taxform_download"),
            *super().get_urls(),
        ]

    def download_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        found = get_object_or_404(TaxForm, pk=pk)
        response = FileResponse(
            found.file.open("rb"),
            as_attachment=True,
            filename=found.download_name,
            content_type=found.content_type,
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @admin.display(description="Size")
    def shown_size(self, obj):
        return filesizeformat(obj.size)

    @admin.display(description="File")
    def download(self, obj):
        url = reverse("admin:sales_taxform_download", args=[obj.pk])
        return format_html('<a href="{}">Download</a>', url)


# -- payout runs and payouts -------------------------------------------------------------------


class PayoutRunForm(forms.ModelForm):
    class Meta:
        model = PayoutRun
        fields = ["currency", "note"]


class PayoutInline(ReadOnlyInline):
    model = Payout
    fields = ["payout_link", "creator", "method", "shown_gross", "shown_netted", "shown_amount",
              "status", "provider_ref", "failure_reason"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Payout")
    def payout_link(self, obj):
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:sales_payout_change", args=[obj.pk]), obj.pk
        )

    @admin.display(description="Taken from available")
    def shown_gross(self, obj):
        return money(obj.gross, obj.currency)

    @admin.display(description="Clawbacks netted")
    def shown_netted(self, obj):
        return money(obj.netted, obj.currency)

    @admin.display(description="Sent")
    def shown_amount(self, obj):
        return obj.display_amount


class RunEventInline(ReadOnlyInline):
    model = PayoutRunEvent
    fields = ["at", "action", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields
    verbose_name_plural = "audit trail of the run"


@admin.register(PayoutRun)
class PayoutRunAdmin(console.ModelAdmin):
    form = PayoutRunForm
    list_display = ["__str__", "status", "currency", "schedule", "payout_count", "shown_total",
                    "shown_paid", "skipped_count", "created_by", "approved_by",
                    "created_at"]  # fmt: skip
    list_filter = ["status", "currency", "schedule"]
    list_per_page = 50
    inlines = [PayoutInline, RunEventInline]
    change_form_template = "admin/sales/payoutrun_change_form.html"
    change_list_template = "admin/sales/payoutrun_change_list.html"

    def get_queryset(self, request):
        return selectors.payout_runs_for_list()

    def get_fields(self, request, obj=None):
        return ["status", "currency", "schedule", "note", "created_by", "created_at",
                "approved_by", "approved_at", "completed_at", "skipped_list",
                "payout_audit"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description="Payouts", ordering="payout_count")
    def payout_count(self, obj):
        return obj.payout_count

    @admin.display(description="Total", ordering="total")
    def shown_total(self, obj):
        return money(obj.total, obj.currency)

    @admin.display(description="Paid")
    def shown_paid(self, obj):
        return money(obj.paid_total, obj.currency)

    @admin.display(description="Listed, not paid")
    def skipped_count(self, obj):
        return len(obj.skipped) or "–"

    @admin.display(description="Creators listed, not paid")
    def skipped_list(self, obj):
        if not obj.skipped:
            return "Nobody."
        add = reverse("admin:sales_payoutdetails_add")
        return format_html(
            "<table><tr><th>Creator</th><th>Would be paid</th><th>Why not</th></tr>{}</table>",
            format_html_join("", '<tr><td><a href="{}">@{}</a></td><td>{}</td><td>{}</td></tr>',
                             ((f"{add}?creator={s['creator_id']}", s["handle"],
                               money(s["amount"], obj.currency), s["reason"])
                              for s in obj.skipped)),
        )  # fmt: skip

    @admin.display(description="Audit trail of its payouts")
    def payout_audit(self, obj):
        events = PayoutEvent.objects.filter(payout__run=obj).select_related("actor", "payout")
        return format_html(
            "<table><tr><th>When</th><th>Payout</th><th>What</th><th>From → to</th><th>Who</th>"
            "<th>Why</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>#{}</td><td>{}</td><td>{} → {}</td>"
                             "<td>{}</td><td>{}</td></tr>",
                             ((e.at, e.payout_id, e.action, e.from_status or "∅", e.to_status,
                               e.actor or e.source or "–", e.reason) for e in events)),
        )  # fmt: skip

    def add_view(self, request, form_url="", extra_context=None):
        """A new run: the currency (and a note); the service makes it, or says why not."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PayoutRunForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                run = payouts.payout_run_create(currency=form.cleaned_data["currency"],
                                                note=form.cleaned_data.get("note", ""),
                                                actor=request.user)  # fmt: skip
            except (ApplicationError, RetryLater) as exc:
                form.add_error(None, error_message(exc))
            else:
                if run is None:
                    self.message_user(request, "Nobody has anything available in "
                                      f"{form.cleaned_data['currency']}: no run was made.",
                                      level=messages.WARNING)  # fmt: skip
                    return HttpResponseRedirect(reverse("admin:sales_payoutrun_changelist"))
                self.message_user(request, f"{run} made: another person (Owner or Finance) "
                                  "approves it before anything is sent.")  # fmt: skip
                return HttpResponseRedirect(reverse("admin:sales_payoutrun_change",
                                                    args=[run.pk]))  # fmt: skip
        return TemplateResponse(request, "admin/sales/form_page.html", _admin_context(
            request, "New payout run", form=form, submit="Make the run", opts=self.model._meta,
            intro="Every creator whose available balance minus what they owe back reaches the "
                  "minimum gets one payout; those without complete payout details are listed, "
                  "not paid. Nothing is sent before another person approves the run.",
        ))  # fmt: skip

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if hasattr(response, "context_data") and "cl" in response.context_data:
            runs = response.context_data["cl"].queryset.order_by().values("pk")
            response.context_data["currency_totals"] = [
                {**t, **{k: money(t[k], t["currency"])
                         for k in ("total", "in_flight", "paid", "failed")}}
                for t in selectors.payout_run_totals(runs)
            ]  # fmt: skip
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="",
                           obj=None):  # fmt: skip
        if obj is not None:
            context["refusal"] = payouts.may_approve(obj, request.user)
            context["run"] = obj
            context["may_change"] = self.has_change_permission(request, obj)
            context.update(show_save=False, show_save_and_continue=False,
                           show_save_and_add_another=False, show_delete=False)  # fmt: skip
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/approve/", view(self.approve_view), name="sales_payoutrun_approve"),
            path("<int:pk>/cancel/", view(self.cancel_view), name="sales_payoutrun_cancel"),
            path("<int:pk>/export/", view(self.export_view), name="sales_payoutrun_export"),
            *super().get_urls(),
        ]

    def approve_view(self, request, pk):
        if request.method != "POST":
            raise PermissionDenied
        try:
            payouts.payout_run_approve(run_id=pk, actor=request.user,
                                       note=request.POST.get("note", ""))  # fmt: skip
            self.message_user(request, f"Payout run #{pk} approved: its payouts are being sent.")
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
        return HttpResponseRedirect(reverse("admin:sales_payoutrun_change", args=[pk]))

    def cancel_view(self, request, pk):
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        try:
            payouts.payout_run_cancel(run_id=pk, actor=request.user,
                                      reason=request.POST.get("reason", ""))  # fmt: skip
            self.message_user(request, f"Payout run #{pk} cancelled: the money is available "
                              "again.")  # fmt: skip
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
        return HttpResponseRedirect(reverse("admin:sales_payoutrun_change", args=[pk]))

    def export_view(self, request, pk):
        """The run's payouts as CSV, with the full payout details, for paying by hand."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(PayoutRun, pk=pk)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["payout", "reference", "creator", "name", "method", "account",
                         "country", "amount", "currency", "status"])  # fmt: skip
        for payout in run.payouts.select_related("creator").order_by("pk"):
            data = payout.destination_data
            writer.writerow([payout.pk, payout.key, payout.creator.handle, payout.creator.name,
                             payout.method, data.get("account", ""), data.get("country", ""),
                             str(from_minor(payout.amount, payout.currency)), payout.currency,
                             payout.status])  # fmt: skip
        PayoutRunEvent.objects.create(
            run=run,
            action="export",
            from_status=run.status,
            to_status=run.status,
            actor=request.user,
            reason="CSV exported (payout details included).",
        )
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="payout-run-{run.pk}.csv"'
        return response


class PayoutCommissionInline(ReadOnlyInline):
    model = PayoutCommission
    fields = ["commission_link", "order", "sku", "shown_amount", "status_now"]
    readonly_fields = fields
    verbose_name_plural = "commissions this payout covers"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("commission__order",
                                                            "commission__line")  # fmt: skip

    @admin.display(description="Commission")
    def commission_link(self, obj):
        return format_html('<a href="{}">#{}</a>', reverse("admin:sales_commission_change",
                                                           args=[obj.commission_id]),
                           obj.commission_id)  # fmt: skip

    @admin.display(description="Order")
    def order(self, obj):
        return obj.commission.order.name or obj.commission.order.external_id

    @admin.display(description="SKU")
    def sku(self, obj):
        return obj.commission.line.sku if obj.commission.line_id else "(whole order)"

    @admin.display(description="Net when paid")
    def shown_amount(self, obj):
        return money(obj.amount, obj.commission.currency)

    @admin.display(description="Now")
    def status_now(self, obj):
        return obj.commission.get_status_display()


class PayoutEventInline(ReadOnlyInline):
    model = PayoutEvent
    fields = ["at", "action", "from_status", "to_status", "source", "actor", "reason"]
    readonly_fields = fields
    verbose_name_plural = "audit trail"


class ManualForm(forms.Form):
    outcome = forms.ChoiceField(choices=[("paid", "Paid by hand"), ("failed", "Failed")])
    text = forms.CharField(label="Reference (paid) or reason (failed)", max_length=500)


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "run", "creator", "method", "display_amount", "status",
                    "provider_ref", "sent_at", "paid_at"]  # fmt: skip
    list_filter = ["status", "method", "currency"]
    search_fields = ["creator__handle", "provider_ref", "key"]
    list_select_related = ["run", "creator"]
    list_per_page = 100
    inlines = [PayoutCommissionInline, PayoutEventInline]
    fields = ["run", "creator", "currency", "method", "masked_destination", "shown_gross",
              "shown_netted", "display_amount", "status", "key", "provider_ref",
              "provider_batch", "failure_reason", "attempts", "created_at", "sending_at",
              "sent_at", "paid_at", "failed_at", "manual_actions"]  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.payout_detail()

    @admin.display(description="Paid to")
    def masked_destination(self, obj):
        data = obj.destination_data
        account = str(data.get("account", ""))
        return f"{account[:3]}…{account[-3:]} ({data.get('country', '')})" if account else "–"

    @admin.display(description="Taken from available")
    def shown_gross(self, obj):
        return money(obj.gross, obj.currency)

    @admin.display(description="Clawbacks netted")
    def shown_netted(self, obj):
        return money(obj.netted, obj.currency)

    @admin.display(description="Paid by hand")
    def manual_actions(self, obj):
        if obj.method != Payout.Method.MANUAL or obj.status not in (Payout.Status.SENT,):
            return "–"
        return format_html(
            '<a class="button" href="{}">Record the outcome</a>',
            reverse("admin:sales_payout_manual", args=[obj.pk]),
        )

    def get_urls(self):
        return [path("<int:pk>/manual/", self.admin_site.admin_view(self.manual_view),
                     name="sales_payout_manual"), *super().get_urls()]  # fmt: skip

    def manual_view(self, request, pk):
        if not request.user.has_perm("sales.change_payout"):
            raise PermissionDenied
        payout = get_object_or_404(Payout, pk=pk)
        form = ManualForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if data["outcome"] == "paid":
                    payouts.payout_confirm(payout_id=pk, source="manual", reference=data["text"],
                                           actor=request.user)  # fmt: skip
                else:
                    payouts.payout_fail(payout_id=pk, reason=data["text"], source="manual",
                                        actor=request.user)  # fmt: skip
            except ApplicationError as exc:
                form.add_error(None, as_validation_error(exc))
            else:
                self.message_user(request, f"Payout #{pk}: {data['outcome']}.")
                return HttpResponseRedirect(reverse("admin:sales_payout_change", args=[pk]))
        return TemplateResponse(request, "admin/sales/form_page.html", _admin_context(
            request, f"Payout #{pk}: {payout.display_amount} to @{payout.creator.handle}",
            form=form, submit="Record", opts=self.model._meta,
            intro="Paid: give the bank's or the transfer's reference. Failed: say why; the "
                  "money goes back to the creator's available balance.",
        ))  # fmt: skip


# -- reconciliation --------------------------------------------------------------------------


class ImportForm(forms.Form):
    channel = forms.ModelChoiceField(queryset=SalesChannel.objects.order_by("name"))
    source = forms.ChoiceField(choices=ReconciliationImport.Source.choices)
    file = forms.FileField(
        widget=UnfoldAdminFileFieldWidget, help_text="The provider's CSV export, as downloaded."
    )


@admin.register(ReconciliationImport)
class ReconciliationImportAdmin(console.ModelAdmin):
    list_display = ["__str__", "channel", "source", "rows", "new_rows", "period_start",
                    "period_end", "imported_by", "imported_at", "report_link"]  # fmt: skip
    list_filter = ["source", "channel"]
    list_select_related = ["channel", "imported_by"]
    readonly_fields = ["channel", "source", "filename", "sha256", "rows", "new_rows",
                       "period_start", "period_end", "imported_by", "imported_at"]  # fmt: skip

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Report")
    def report_link(self, obj):
        return format_html('<a href="{}">Reconciliation of {}</a>',
                           reverse("admin:sales_reconciliation_report", args=[obj.channel_id]),
                           obj.channel.name)  # fmt: skip

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "report/<int:channel_id>/",
                view(self.report_view),
                name="sales_reconciliation_report",
            ),  # fmt: skip
            path(
                "report/<int:channel_id>/resolve/",
                view(self.resolve_view),
                name="sales_reconciliation_resolve",
            ),  # fmt: skip
            path(
                "report/<int:channel_id>/fetch/",
                view(self.fetch_view),
                name="sales_reconciliation_fetch",
            ),  # fmt: skip
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                made, created = reconciliation.reconciliation_import(
                    channel_id=form.cleaned_data["channel"].pk,
                    source=form.cleaned_data["source"], filename=upload.name,
                    content=upload.read(), actor=request.user,
                )  # fmt: skip
            except ApplicationError as exc:
                form.add_error(None, as_validation_error(exc))
            else:
                if created:
                    self.message_user(request, f"Imported {made.rows} line(s), {made.new_rows} "
                                      "new.")  # fmt: skip
                else:
                    self.message_user(request, f"This file was imported already on "
                                      f"{made.imported_at:%Y-%m-%d %H:%M}: nothing changed.",
                                      level=messages.WARNING)  # fmt: skip
                return HttpResponseRedirect(reverse("admin:sales_reconciliation_report",
                                                    args=[made.channel_id]))  # fmt: skip
        return TemplateResponse(request, "admin/sales/form_page.html", _admin_context(
            request, "Import a provider's statement", form=form, submit="Import",
            multipart=True, opts=self.model._meta,
            intro="Shopify Payments payout transactions, Stripe's itemized balance change "
                  "report or a TikTok Shop settlement statement, as CSV. Importing the same "
                  "file again changes nothing.",
        ))  # fmt: skip

    def report_view(self, request, channel_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        channel = get_object_or_404(SalesChannel, pk=channel_id)
        report = selectors.reconciliation_report(channel.pk)
        return TemplateResponse(request, "admin/sales/reconciliation_report.html", _admin_context(
            request, f"Reconciliation of {channel.name}", channel=channel, report=report,
            may_resolve=request.user.has_perm("sales.change_providertransaction"),
            may_fetch=channel.provider == "stripe" and bool(channel.api_key)
            and self.has_add_permission(request),
            may_dismiss=request.user.has_perm("sales.add_reconciliationdismissal"),
            opts=self.model._meta,
        ))  # fmt: skip

    def fetch_view(self, request, channel_id):
        """A month of a Stripe channel's balance transactions, from Stripe's API."""
        if request.method != "POST" or not self.has_add_permission(request):
            raise PermissionDenied
        try:
            start, end = month_bounds(request.POST.get("month", ""))
            made, created = reconciliation.reconciliation_fetch_stripe(
                channel_id=channel_id, start=start, end=end, actor=request.user
            )
        except ApplicationError as exc:
            self.message_user(request, error_message(exc), level=messages.ERROR)
        else:
            self.message_user(request, f"Fetched {made.rows} line(s) from Stripe, "
                              f"{made.new_rows if created else 0} new.")  # fmt: skip
        return HttpResponseRedirect(reverse("admin:sales_reconciliation_report",
                                            args=[channel_id]))  # fmt: skip

    def resolve_view(self, request, channel_id):
        if request.method != "POST":
            raise PermissionDenied
        action, data = request.POST.get("action", ""), request.POST
        needed = "sales.add_reconciliationdismissal" if action == "dismiss" else \
            "sales.change_providertransaction"  # fmt: skip
        if not request.user.has_perm(needed):
            raise PermissionDenied
        reason = data.get("reason", "")
        try:
            if action == "dismiss":
                target = {f"{data.get('target')}_id": int(data.get("target_id", "0") or 0)}
                reconciliation.reconciliation_dismiss(channel_id=channel_id, actor=request.user,
                                                      reason=reason, **target)  # fmt: skip
            else:
                line_id = int(data.get("line", "0") or 0)
                if action == "ignore":
                    reconciliation.reconciliation_ignore(
                        transaction_id=line_id, actor=request.user, reason=reason
                    )
                elif action == "create_refund":
                    reconciliation.reconciliation_create_refund(
                        transaction_id=line_id, actor=request.user, reason=reason
                    )
                elif action == "link":
                    target, raw = data.get("target", ""), data.get("target_id", "").strip()
                    if target not in ("order", "refund", "payout") or not raw.isdigit():
                        raise ApplicationError("Link to an order, refund or payout: choose one "
                                               "and give its number (#).",
                                               fields={"target_id": "A number."})  # fmt: skip
                    reconciliation.reconciliation_link(
                        transaction_id=line_id, actor=request.user, reason=reason,
                        **{f"{target}_id": int(raw)},
                    )  # fmt: skip
                else:
                    raise ApplicationError(f"Unknown action {action!r}.")
        except (ApplicationError, ValueError) as exc:
            self.message_user(request, error_message(exc), level=messages.ERROR)
        else:
            self.message_user(request, f"Resolved ({action.replace('_', ' ')}).")
        return HttpResponseRedirect(reverse("admin:sales_reconciliation_report",
                                            args=[channel_id]))  # fmt: skip


@admin.register(ProviderTransaction)
class ProviderTransactionAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "channel", "kind", "external_id", "display_amount", "status",
                    "problem", "order", "refund", "payout", "resolved_by"]  # fmt: skip
    list_filter = ["status", "kind", "channel", "currency"]
    search_fields = ["external_id", "order_ref", "refund_ref", "transfer_ref"]
    list_select_related = ["channel", "order__channel", "refund", "payout", "resolved_by"]
    list_per_page = 100
