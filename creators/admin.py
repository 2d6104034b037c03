"""Creators in the merchant console, with a bulk action that makes each one a link."""

from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from catalog.models import Product
from core import admin_base as console
from core.errors import ApplicationError, error_message
from creators import commission_rules, services
from creators.models import (
    CommissionRule,
    Creator,
    CreatorGroup,
    DiscountCode,
    GroupMembership,
    ProductCollection,
    Program,
    ProgramPolicyChange,
    ProgramTerms,
    RuleSet,
)
from links.models import Campaign
from links.services import links_create_for_creators
from sales import selectors as sales_selectors
from sales.payout_models import PayoutDetails


class LinksForCreatorsForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.filter(active=True))
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.all(), required=False)


@admin.register(Creator)
class CreatorAdmin(console.ModelAdmin):
    list_display = ["name", "handle", "affiliate_code", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "handle", "email", "affiliate_code"]
    actions = ["make_links"]

    def save_model(self, request, obj, form, change):
        services.creator_save(creator=obj)

    def get_readonly_fields(self, request, obj=None):
        """Payout details and tax forms show to those who may see them (Owner, Finance)."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and request.user.has_perm("sales.view_payoutdetails"):
            fields.append("payout_details_status")
        if obj is not None and request.user.has_perm("sales.view_taxform"):
            fields.append("tax_forms")
        return fields

    @admin.display(description="Payout details")
    def payout_details_status(self, obj):
        details = sales_selectors.creator_payout_details(creator_id=obj.pk)
        if details is None:
            return "None given: the creator is listed, not paid, by payout runs."
        data = details.data
        missing = [
            label
            for label, present in (
                ("method and account", data.get("method") and data.get("account")),
                ("country", data.get("country")),
                ("tax form", data.get("tax_form_received")),
            )
            if not present
        ]
        state = "Complete" if details.complete else "Incomplete: missing " + ", ".join(missing)
        url = reverse("admin:sales_payoutdetails_change", args=[details.pk])
        return format_html(
            '{} · {} {} · <a href="{}">payout details</a>',
            state,
            dict(PayoutDetails.Method.choices).get(data.get("method"), "–"),
            details.masked_account or "–",
            url,
        )

    @admin.display(description="Tax forms")
    def tax_forms(self, obj):
        forms_ = list(sales_selectors.creator_tax_forms(creator_id=obj.pk)[:10])
        if not forms_:
            return "None uploaded."
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">Tax form #{}</a> ({}, uploaded {}){}',
            (
                (
                    reverse("admin:sales_taxform_download", args=[t.pk]),
                    t.pk,
                    t.get_kind_display(),
                    date_format(t.uploaded_at, "j M Y"),
                    " · in use" if i == 0 else "",
                )
                for i, t in enumerate(forms_)
            ),
        )

    @admin.action(description="Make one link per creator for a product", permissions=["add_link"])
    def make_links(self, request, queryset):
        form = LinksForCreatorsForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            campaign = form.cleaned_data["campaign"]
            links = links_create_for_creators(
                creator_ids=list(queryset.values_list("pk", flat=True)),
                product_id=form.cleaned_data["product"].pk,
                campaign_id=campaign.pk if campaign else None,
            )
            codes = ", ".join(f"/p/{link.code}" for link in links)
            self.message_user(request, f"{len(links)} link(s) made: {codes}", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Make links for creators",
            "creators": queryset,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "admin/creators/make_links.html", context)

    def has_add_link_permission(self, request):
        return request.user.has_perm("links.add_shortlink")


# --- programs, groups, rules, discount codes (issue 13) ------------------------------------
# Programs and their groups; rule-set versions (drafts edited inline, published by an action,
# with the preview sentence); discount codes (approve or reject requested ones).


class GroupInline(console.TabularInline):
    model = CreatorGroup
    extra = 0
    fields = ["name", "slug", "application_mode", "hold_days", "minimum_payout", "position"]
    show_change_link = True


class TermsInline(console.TabularInline):
    model = ProgramTerms
    extra = 0
    fields = ["version", "published_at", "text"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class PolicyInline(console.TabularInline):
    model = ProgramPolicyChange
    extra = 0
    fields = ["version", "policy", "actor", "reason", "at"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "attribution policy versions"

    def has_add_permission(self, request, obj=None):
        return False


class TermsForm(forms.ModelForm):
    new_terms = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Publishes a new version of the terms.",
    )

    class Meta:
        model = Program
        fields = list(services.PROGRAM_FIELDS)


@admin.register(Program)
class ProgramAdmin(console.ModelAdmin):
    form = TermsForm
    list_display = [
        "name",
        "is_default",
        "active",
        "touch",
        "window_days",
        "lifetime_lock",
        "policy_version",
        "currency",
    ]
    inlines = [GroupInline, TermsInline, PolicyInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "slug",
                    "description",
                    "currency",
                    "active",
                    "is_default",
                    "payout_schedule",
                ]
            },
        ),
        (
            "Who gets the credit (a change makes a new policy version)",
            {"fields": ["touch", "window_days", "lifetime_lock"]},
        ),
        (
            "The commission base leaves out",
            {"fields": ["base_less_discounts", "base_less_tax", "base_less_shipping"]},
        ),
        ("Terms", {"fields": ["new_terms"]}),
    ]

    def save_model(self, request, obj, form, change):
        data = {
            name: form.cleaned_data[name]
            for name in services.PROGRAM_FIELDS
            if name in form.cleaned_data
        }
        try:
            if change:
                program = services.program_update(
                    program_id=obj.pk, actor=request.user, reason="Changed in the console.", **data
                )
            else:
                program = services.program_create(actor=request.user, **data)
            if form.cleaned_data.get("new_terms"):
                services.program_terms_publish(
                    program_id=program.pk, text=form.cleaned_data["new_terms"]
                )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            raise
        obj.pk = program.pk
        obj.refresh_from_db()


class MembershipInline(console.TabularInline):
    model = GroupMembership
    extra = 0
    fields = ["creator", "status", "joined_at"]
    readonly_fields = ["joined_at"]
    autocomplete_fields = ["creator"]


@admin.register(CreatorGroup)
class CreatorGroupAdmin(console.ModelAdmin):
    list_display = ["name", "program", "application_mode", "hold_days", "members"]
    list_select_related = ["program"]
    inlines = [MembershipInline]

    @admin.display(description="Members")
    def members(self, obj):
        return obj.memberships.filter(status="active").count()


class RuleInline(console.TabularInline):
    model = CommissionRule
    extra = 0
    fields = [
        "position",
        "name",
        "products",
        "collections",
        "customer",
        "countries",
        "min_order_value",
        "max_order_value",
        "kind",
        "percent",
        "flat_amount",
        "cap",
    ]
    filter_horizontal = []
    autocomplete_fields = ["products"]


class PreviewForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, initial=2)
    unit_price = forms.DecimalField(min_value=0, initial=Decimal("42.00"))
    currency = forms.CharField(max_length=3, initial="EUR")
    returning = forms.BooleanField(required=False, initial=True)
    country = forms.CharField(max_length=2, required=False, initial="DE")
    title = forms.CharField(initial="Cloud Knit Hoodie")


@admin.register(RuleSet)
class RuleSetAdmin(console.ModelAdmin):
    """Rule-set versions: a draft is edited here; "Publish" freezes it."""

    list_display = ["__str__", "group", "creator", "version", "status", "effective_at", "lowers"]
    list_filter = ["status", "group__program"]
    list_select_related = ["group", "creator"]
    actions = ["publish", "new_draft"]
    inlines = [RuleInline]
    fields = [
        "group",
        "creator",
        "version",
        "status",
        "note",
        "published_at",
        "effective_at",
        "lowers",
        "preview",
    ]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["version", "status", "published_at", "effective_at", "lowers", "preview"]
        return fixed + (["group", "creator"] if obj else [])

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status == RuleSet.Status.PUBLISHED:
            return False  # published versions never change
        return super().has_change_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._request = request
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if not change:
            draft = services.ruleset_draft(
                group_id=obj.group_id, creator_id=obj.creator_id, note=obj.note
            )
            obj.pk = draft.pk
            obj.refresh_from_db()
        else:
            RuleSet.objects.filter(pk=obj.pk, status="draft").update(note=obj.note)

    def save_formset(self, request, form, formset, change):
        ruleset = form.instance
        for inline_form in formset.forms:
            data = getattr(inline_form, "cleaned_data", None) or {}
            if not data or (not inline_form.has_changed() and inline_form.instance.pk is None):
                continue
            rule = inline_form.instance
            if data.get("DELETE") and rule.pk:
                services.rule_delete(ruleset_id=ruleset.pk, rule_id=rule.pk)
                continue
            fields = {name: data.get(name) for name in services.RULE_FIELDS if name in data}
            services.rule_save(
                ruleset_id=ruleset.pk,
                rule_id=rule.pk,
                product_ids=[p.pk for p in data.get("products", [])],
                collection_ids=[c.pk for c in data.get("collections", [])],
                **fields,
            )

    @admin.display(description="Preview")
    def preview(self, obj):
        request = getattr(self, "_request", None)
        params = request.GET if request is not None and "quantity" in request.GET else None
        form = PreviewForm(params or None, initial={"currency": obj.group.program.currency})
        sentence = ""
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            facts = commission_rules.OrderFacts(
                currency=data["currency"].upper(),
                placed_at=timezone.now(),
                country=data["country"],
                returning=data["returning"],
                lines=[
                    commission_rules.LineFacts(
                        None, None, data["title"], data["quantity"], data["unit_price"]
                    )
                ],
            )
            ids = [obj.pk]
            if obj.creator_id:
                ids += commission_rules.rulesets_in_force(
                    group_id=obj.group_id, creator_id=None, at=timezone.now() + timedelta(0)
                )
            try:
                sentence = commission_rules.preview_sentence(
                    facts=facts, program=obj.group.program, ruleset_ids=ids
                )
            except ApplicationError as exc:
                sentence = error_message(exc)
        return format_html(
            '<div class="rule-preview"><p>{}</p><p class="preview-sentence"><strong>{}</strong>'
            "</p><p>Fill in an order (GET form):</p>{}</div>",
            "What an order would earn under this version.",
            sentence,
            format_html(
                '<form method="get">{}<input type="submit" value="Preview"></form>', form.as_p()
            ),
        )

    @admin.action(description="Publish the selected drafts", permissions=["change"])
    def publish(self, request, queryset):
        for ruleset in queryset.filter(status="draft").order_by("pk"):
            try:
                done = services.ruleset_publish(ruleset_id=ruleset.pk, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{ruleset}: {exc.message}", level=messages.ERROR)
                continue
            when = "at once" if not done.lowers else f"from {done.effective_at:%Y-%m-%d %H:%M}"
            self.message_user(request, f"{done} applies {when}. {done.note}")

    @admin.action(description="New draft from the latest version", permissions=["add"])
    def new_draft(self, request, queryset):
        for ruleset in queryset.order_by("pk"):
            draft = services.ruleset_draft(group_id=ruleset.group_id, creator_id=ruleset.creator_id)
            self.message_user(request, f"Draft: {draft}.")


@admin.register(ProductCollection)
class ProductCollectionAdmin(console.ModelAdmin):
    list_display = ["name", "slug", "brands"]
    autocomplete_fields = ["products"]


class CodeDecisionForm(forms.Form):
    reason = forms.CharField(required=False)


@admin.register(DiscountCode)
class DiscountCodeAdmin(console.ModelAdmin):
    list_display = ["code", "creator", "program", "status", "active", "starts_at", "ends_at"]
    list_filter = ["status", "active", "program"]
    search_fields = ["code", "creator__handle"]
    list_select_related = ["creator", "program"]
    autocomplete_fields = ["creator"]
    actions = ["approve", "reject", "deactivate"]
    fields = [
        "code",
        "creator",
        "program",
        "status",
        "active",
        "starts_at",
        "ends_at",
        "decision_reason",
    ]
    readonly_fields = ["status", "decision_reason"]

    def save_model(self, request, obj, form, change):
        try:
            if change:
                services.discount_code_set_active(code_id=obj.pk, active=obj.active)
                return
            made = services.discount_code_create(
                code=obj.code,
                creator_id=obj.creator_id,
                program_id=obj.program_id,
                starts_at=obj.starts_at,
                ends_at=obj.ends_at,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            raise
        obj.pk = made.pk
        obj.refresh_from_db()

    @admin.action(description="Approve the requested codes", permissions=["change"])
    def approve(self, request, queryset):
        for code in queryset.filter(status="requested"):
            services.discount_code_decide(code_id=code.pk, approve=True, actor=request.user)
        self.message_user(request, "Approved.")

    @admin.action(description="Reject the requested codes", permissions=["change"])
    def reject(self, request, queryset):
        for code in queryset.filter(status="requested"):
            services.discount_code_decide(
                code_id=code.pk,
                approve=False,
                actor=request.user,
                reason=f"Rejected by {request.user}.",
            )
        self.message_user(request, "Rejected.")

    @admin.action(description="Deactivate", permissions=["change"])
    def deactivate(self, request, queryset):
        for code in queryset:
            services.discount_code_set_active(code_id=code.pk, active=False)
        self.message_user(request, "Deactivated.")


# --- end programs ---
# --- creator portal (issue 15): applications, invitations, code requests, licences ---
from creators.portal import admin as portal_admin  # noqa: E402,F401 - registers its models

# --- end creator portal ---
