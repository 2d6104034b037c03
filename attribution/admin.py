"""Attribution in the merchant console: the order page's attribution panel, attributions
(re-run), the fraud review queue (approve, reduce, reject through `sales.commissions`) and
the conversions outbox (retry) with its destinations. Every write goes through services."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from attribution import services
from attribution.models import (
    Attribution,
    AttributionRevision,
    ConversionDestination,
    ConversionEvent,
    FraudSignal,
    HeldCommission,
)
from core import admin_base as console
from core.admin_readonly import NoAddOrDeleteMixin, ReadOnlyAdminMixin
from core.errors import ApplicationError, error_message
from core.money import format_money, from_minor, to_minor
from sales import commissions
from sales.admin import OrderAdmin


def _money(minor, currency):
    return format_money(from_minor(minor, currency), currency) if currency else minor


def candidates_table(candidates):
    if not candidates:
        return "No code, click or content touch."
    return format_html(
        "<table><tr><th>Touch</th><th>Creator</th><th>Eligible</th><th>Why not / beaten by"
        "</th></tr>{}</table>",
        format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    c.get("detail") or c["kind"],
                    f"@{c['handle']}" if c.get("handle") else "–",
                    "yes" if c.get("eligible") else "no",
                    c.get("reason")
                    or (f"beaten by {c['beaten_by']}" if c.get("beaten_by") else ""),
                )
                for c in candidates
            ),
        ),
    )


class AttributionPanel(console.StackedInline):
    """The order page's attribution panel."""

    model = Attribution
    can_delete = False
    extra = 0
    max_num = 0
    verbose_name = verbose_name_plural = "attribution"
    fields = [
        "explanation",
        "credited",
        "rule",
        "policy_text",
        "touches",
        "commission",
        "signals_text",
        "history",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Credited to")
    def credited(self, obj):
        if not obj.creator_id:
            return "Nobody"
        return format_html(
            '<a href="{}">@{}</a>',
            reverse("admin:creators_creator_change", args=[obj.creator_id]),
            obj.creator.handle,
        )

    @admin.display(description="Policy")
    def policy_text(self, obj):
        p = obj.policy or {}
        return (
            f"v{p.get('version', '?')}: {p.get('touch', 'last')} touch, "
            f"{p.get('window_days', '?')}-day window"
            + (", lifetime lock" if p.get("lifetime_lock") else "")
        )

    @admin.display(description="Touches considered")
    def touches(self, obj):
        return candidates_table(obj.candidates)

    @admin.display(description="Commission")
    def commission(self, obj):
        total = _money(obj.commission_total, obj.commission_currency)
        return f"{total}. {obj.commission_note}"

    @admin.display(description="Fraud signals")
    def signals_text(self, obj):
        signals = [s for s in obj.signals.all() if s.version == obj.version]
        if not signals:
            return "None."
        return format_html(
            '{}<p>Held for review: <a href="{}">fraud review queue</a>.</p>',
            format_html_join(
                "",
                "<p><strong>{}</strong>: {} <code>{}</code></p>",
                ((s.get_kind_display(), s.merchant_text, s.evidence) for s in signals),
            ),
            reverse("admin:attribution_heldcommission_changelist"),
        )

    @admin.display(description="History")
    def history(self, obj):
        return format_html_join(
            "",
            "<p>v{} {}: {} ({})</p>",
            (
                (r.version, r.decided_at.strftime("%Y-%m-%d %H:%M"), r.explanation, r.reason)
                for r in obj.revisions.all()
            ),
        )


OrderAdmin.extra_inlines.append(AttributionPanel)


@admin.register(Attribution)
class AttributionAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    list_display = [
        "order_link",
        "creator",
        "rule",
        "commission",
        "version",
        "decided_at",
        "flagged",
    ]
    list_filter = ["rule", "customer_returning"]
    search_fields = ["order__external_id", "order__name", "creator__handle", "discount_code"]
    list_select_related = ["order", "creator"]
    list_per_page = 50
    actions = ["rerun"]
    fields = [
        "order_link",
        "creator",
        "rule",
        "explanation",
        "creator_explanation",
        "touches",
        "late_click_id",
        "commission",
        "review_reason",
        "version",
        "decided_at",
    ]
    readonly_fields = fields

    @admin.display(description="Order")
    def order_link(self, obj):
        return format_html(
            '<a href="{}">#{}</a>',
            reverse("admin:sales_order_change", args=[obj.order_id]),
            obj.order_id,
        )

    @admin.display(description="Commission", ordering="commission_total")
    def commission(self, obj):
        return _money(obj.commission_total, obj.commission_currency)

    @admin.display(description="Flagged", boolean=True)
    def flagged(self, obj):
        return bool(obj.review_reason)

    @admin.display(description="Touches considered")
    def touches(self, obj):
        return candidates_table(obj.candidates)

    @admin.action(
        description="Re-run the decision (a late click, a fixed mapping)", permissions=["change"]
    )
    def rerun(self, request, queryset):
        changed = 0
        for attribution in queryset.order_by("pk"):
            before = attribution.version
            after = services.attribution_decide(
                order_id=attribution.order_id,
                actor=request.user,
                reason=f"Re-run in the console by {request.user}.",
            )
            changed += after.version != before
        self.message_user(request, f"{queryset.count()} decision(s) re-run, {changed} changed.")


@admin.register(AttributionRevision)
class AttributionRevisionAdmin(ReadOnlyAdminMixin, console.ModelAdmin):
    list_display = ["attribution", "version", "rule", "creator", "decided_at", "reason"]
    list_select_related = ["attribution", "creator"]
    readonly_fields = [
        "attribution",
        "version",
        "rule",
        "creator",
        "explanation",
        "reason",
        "decided_at",
        "actor",
    ]
    fields = readonly_fields


@admin.register(FraudSignal)
class FraudSignalAdmin(ReadOnlyAdminMixin, console.ModelAdmin):
    list_display = ["created_at", "kind", "order", "creator", "merchant_text"]
    list_filter = ["kind"]
    list_select_related = ["order", "creator"]
    readonly_fields = [
        "kind",
        "order",
        "creator",
        "merchant_text",
        "creator_text",
        "evidence",
        "created_at",
    ]
    fields = readonly_fields


class DecisionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="The creator sees it."
    )
    new_amount = forms.DecimalField(
        required=False, min_value=0, help_text="For a reduction: the amount to keep."
    )


@admin.register(HeldCommission)
class ReviewQueueAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    """Commissions held by a fraud signal: approve, reduce or reject, with a reason."""

    list_display = ["order_link", "creator", "amount_text", "review_reason", "created_at"]
    list_select_related = ["order", "creator"]
    list_per_page = 50
    actions = ["approve", "reduce", "reject"]
    fields = ["order_link", "creator", "amount_text", "review_reason", "rule_text", "status"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status="held")

    @admin.display(description="Order")
    def order_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:sales_order_change", args=[obj.order_id]),
            obj.order.name or obj.order.external_id,
        )

    @admin.display(description="Amount")
    def amount_text(self, obj):
        return _money(obj.net, obj.currency)

    @admin.display(description="Rule")
    def rule_text(self, obj):
        return (obj.rule or {}).get("description", "")

    def _decide(self, request, queryset, title, decide):
        form = DecisionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = 0
            for commission in queryset.order_by("pk"):
                try:
                    decide(commission, form.cleaned_data)
                    done += 1
                except (ApplicationError, ValueError) as exc:
                    self.message_user(
                        request, f"#{commission.pk}: {error_message(exc)}", level=messages.ERROR
                    )
            self.message_user(request, f"{title}: {done} commission(s).")
            return None
        return render(
            request,
            "admin/attribution/decide.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "commissions": queryset,
                "opts": self.model._meta,
                "action": request.POST.get("action"),
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Approve: release to the hold", permissions=["change"])
    def approve(self, request, queryset):
        for commission in queryset.order_by("pk"):
            commissions.commission_review_release(
                commission_id=commission.pk, actor=request.user, note="Approved on review."
            )
        self.message_user(request, f"Approved {queryset.count()} commission(s).")

    @admin.action(description="Reduce to an amount (with a reason)", permissions=["change"])
    def reduce(self, request, queryset):
        def decide(commission, data):
            if data.get("new_amount") is None:
                raise ValueError("Give the amount to keep.")
            commissions.commission_review_reduce(
                commission_id=commission.pk,
                actor=request.user,
                reason=data["reason"],
                new_amount=to_minor(data["new_amount"], commission.currency),
            )

        return self._decide(request, queryset, "Reduce held commissions", decide)

    @admin.action(description="Reject (with a reason)", permissions=["change"])
    def reject(self, request, queryset):
        def decide(commission, data):
            commissions.commission_review_reject(
                commission_id=commission.pk, actor=request.user, reason=data["reason"]
            )

        return self._decide(request, queryset, "Reject held commissions", decide)


class DestinationForm(forms.ModelForm):
    new_access_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        label="Access token",
        help_text="Stored encrypted; leave empty to keep it.",
    )

    class Meta:
        model = ConversionDestination
        fields = ["kind", "name", "active", "pixel_id", "test_event_code", "consent_required"]


@admin.register(ConversionDestination)
class ConversionDestinationAdmin(console.ModelAdmin):
    form = DestinationForm
    list_display = ["name", "kind", "pixel_id", "active", "consent_required", "token_set"]

    @admin.display(description="Token", boolean=True)
    def token_set(self, obj):
        return bool(obj.access_token)

    def save_model(self, request, obj, form, change):
        fields = {k: form.cleaned_data[k] for k in DestinationForm.Meta.fields}
        try:
            saved = services.destination_save(
                destination_id=obj.pk if change else None,
                access_token=form.cleaned_data.get("new_access_token") or "",
                **fields,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            raise
        obj.pk = saved.pk
        obj.refresh_from_db()


@admin.register(ConversionEvent)
class ConversionEventAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    """The outbox: every conversion with its status, attempts and reason; retry failures."""

    list_display = [
        "created_at",
        "destination",
        "order",
        "kind",
        "status",
        "attempts",
        "last_status_code",
        "reason",
    ]
    list_filter = ["status", "destination", "kind"]
    list_select_related = ["destination", "order"]
    list_per_page = 50
    actions = ["retry"]
    readonly_fields = [
        "destination",
        "order",
        "kind",
        "event_id",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "reason",
        "sent_at",
        "payload",
    ]
    fields = readonly_fields

    @admin.action(description="Retry the selected failed or skipped events", permissions=["change"])
    def retry(self, request, queryset):
        done = 0
        for event in queryset.order_by("pk"):
            try:
                services.conversion_retry(event_id=event.pk, actor=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, exc.message, level=messages.WARNING)
        self.message_user(request, f"{done} event(s) queued again.")
