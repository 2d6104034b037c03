"""The merchant's side of the creator portal in the console: reviewing applications
(approve into a group, reject with a reason, ask for more), invitations, custom code
requests, content licences, the portal options of programs and creator accounts.

Every decision goes through the services (`creators.services`), which lock the row, check
the move, audit it and email the applicant after commit.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse

from core import admin_base as console
from core.absolute_urls import absolute_url
from core.admin_readonly import NoAddOrDeleteMixin, ReadOnlyAdminMixin
from core.errors import ApplicationError, as_validation_error
from creators import services
from creators.models import (
    ApplicationEvent,
    CodeRequest,
    ContentLicence,
    CreatorAccount,
    CreatorApplication,
    CreatorGroup,
    CreatorInvitation,
    ProgramPortalOptions,
)
from creators.portal_models import LICENCE_CHANNELS


def _url(name: str, *args) -> str:
    return absolute_url(reverse(name, args=args))


def set_password_url(suffix: str) -> str:
    if not suffix:
        return _url("portal:login")
    uid, token = suffix.split("/", 1)
    return _url("portal:set_password", uid, token)


class DecisionForm(forms.Form):
    DECISIONS = [
        ("approve", "Approve into the group"),
        ("reject", "Reject (say why)"),
        ("ask", "Ask for more (your question)"),
    ]
    decision = forms.ChoiceField(choices=DECISIONS, widget=forms.RadioSelect)
    group = forms.ModelChoiceField(queryset=CreatorGroup.objects.none(), required=False)
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The rejection reason or your question: the applicant reads it.",
    )

    def __init__(self, *args, application=None, **kwargs):
        super().__init__(*args, **kwargs)
        groups = CreatorGroup.objects.filter(program_id=application.program_id).order_by(
            "position", "pk"
        )
        self.fields["group"].queryset = groups
        first = groups.first()
        if first is not None:
            self.fields["group"].initial = first.pk


class ApplicationEventInline(console.TabularInline):
    model = ApplicationEvent
    extra = 0
    can_delete = False
    fields = ["at", "action", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CreatorApplication)
class CreatorApplicationAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    list_display = ["name", "email", "program", "status", "audience_size", "country", "created_at"]
    list_filter = ["status", "program"]
    search_fields = ["name", "email", "handle_tiktok", "handle_instagram", "handle_youtube"]
    list_select_related = ["program"]
    date_hierarchy = "created_at"
    inlines = [ApplicationEventInline]
    change_form_template = "admin/creators/creatorapplication/change_form.html"
    fields = [
        "program", "status", "name", "email", "handle_tiktok", "handle_instagram",
        "handle_youtube", "handle_other", "country", "audience_size", "why", "answer",
        "terms_version", "terms_accepted_at", "group", "creator", "decision_reason",
        "decided_by", "decided_at", "created_at",
    ]  # fmt: skip
    readonly_fields = fields

    def get_urls(self):
        return [
            path(
                "<int:application_id>/decide/",
                self.admin_site.admin_view(self.decide),
                name="creators_creatorapplication_decide",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        application = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if application is not None and application.status in CreatorApplication.OPEN:
            extra_context["decision_form"] = DecisionForm(application=application)
            extra_context["decide_url"] = reverse(
                "admin:creators_creatorapplication_decide", args=[application.pk]
            )
            extra_context["can_decide"] = self.has_change_permission(request, application)
        return super().change_view(request, object_id, form_url, extra_context)

    def decide(self, request, application_id):
        application = get_object_or_404(CreatorApplication, pk=application_id)
        if request.method != "POST" or not self.has_change_permission(request, application):
            raise PermissionDenied
        form = DecisionForm(request.POST, application=application)
        change_url = reverse("admin:creators_creatorapplication_change", args=[application.pk])
        if not form.is_valid():
            self.message_user(request, "Choose a decision.", messages.ERROR)
            return redirect(change_url)
        decision, reason = form.cleaned_data["decision"], form.cleaned_data["reason"]
        try:
            if decision == "approve":
                group = form.cleaned_data["group"]
                services.application_approve(
                    application_id=application.pk, group_id=group.pk if group else 0,
                    actor=request.user, set_password_url=set_password_url,
                )  # fmt: skip
                text = f"Approved {application.name} into {group.name}; they were emailed."
            elif decision == "reject":
                services.application_reject(
                    application_id=application.pk, reason=reason, actor=request.user
                )
                text = f"Rejected {application.name}; they were emailed the reason."
            else:
                services.application_ask(
                    application_id=application.pk, question=reason, actor=request.user,
                    answer_url=lambda token: _url("portal:apply_answer", token),
                )  # fmt: skip
                text = f"Asked {application.name} for more; they were emailed the question."
        except ApplicationError as exc:
            self.message_user(request, f"Not done: {exc.message}", messages.ERROR)
            return redirect(change_url)
        self.message_user(request, text, messages.SUCCESS)
        return redirect(change_url)


class InvitationForm(forms.ModelForm):
    class Meta:
        model = CreatorInvitation
        fields = ["email", "group", "message"]


@admin.register(CreatorInvitation)
class CreatorInvitationAdmin(console.ModelAdmin):
    list_display = ["email", "group", "status", "expires_at", "invited_by", "created_at"]
    list_filter = ["status", "group__program"]
    search_fields = ["email"]
    list_select_related = ["group__program", "invited_by"]
    actions = ["revoke"]
    form = InvitationForm

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["email", "group", "message", "status", "expires_at", "invited_by", "creator",
                "created_at", "accepted_at"]  # fmt: skip

    def get_fields(self, request, obj=None):
        return (
            ["email", "group", "message"] if obj is None else self.get_readonly_fields(request, obj)
        )

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            made = services.invitation_create(
                email=form.cleaned_data["email"], group_id=form.cleaned_data["group"].pk,
                message=form.cleaned_data["message"], actor=request.user,
                accept_url=lambda token: _url("portal:invitation", token),
            )  # fmt: skip
        except ApplicationError as exc:
            raise as_validation_error(exc) from exc
        obj.pk = made.pk
        obj.__dict__.update({k: v for k, v in made.__dict__.items() if not k.startswith("_")})

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected invitations", permissions=["change"])
    def revoke(self, request, queryset):
        done, refused = [], []
        for invitation in queryset.order_by("pk"):
            try:
                services.invitation_revoke(invitation_id=invitation.pk)
                done.append(invitation.email)
            except ApplicationError as exc:
                refused.append(exc.message)
        if done:
            self.message_user(request, f"Revoked {len(done)}: {', '.join(done)}", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)


class RejectCodesForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="The creator reads it."
    )


@admin.register(CodeRequest)
class CodeRequestAdmin(NoAddOrDeleteMixin, console.ModelAdmin):
    list_display = ["code", "creator", "program", "status", "decision_reason", "created_at"]
    list_filter = ["status", "program"]
    search_fields = ["code", "creator__handle", "creator__name"]
    list_select_related = ["creator", "program"]
    actions = ["approve", "reject"]
    readonly_fields = ["code", "creator", "program", "status", "decided_by", "decision_reason",
                       "created_at"]  # fmt: skip
    fields = readonly_fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(Q(status="requested") | Q(status="rejected") | Q(decided_by__isnull=False))
        )

    def _decide(self, request, queryset, *, approve: bool, reason: str = ""):
        done, refused = [], []
        for code in queryset.order_by("pk"):
            try:
                services_decide(code.pk, approve=approve, actor=request.user, reason=reason)
                done.append(code.code)
            except ApplicationError as exc:
                refused.append(f"{code.code}: {exc.message}")
        verb = "Approved" if approve else "Rejected"
        if done:
            self.message_user(request, f"{verb} {len(done)}: {', '.join(done)}", messages.SUCCESS)
        for message in refused:
            self.message_user(request, f"Not done: {message}", messages.WARNING)

    @admin.action(description="Approve the selected codes", permissions=["change"])
    def approve(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject the selected codes (with a reason)", permissions=["change"])
    def reject(self, request, queryset):
        form = RejectCodesForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._decide(request, queryset, approve=False, reason=form.cleaned_data["reason"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject custom codes",
            "codes": queryset,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "admin/creators/coderequest/reject.html", context)


def services_decide(code_id: int, *, approve: bool, actor, reason: str):
    return services.discount_code_decide(
        code_id=code_id, approve=approve, actor=actor, reason=reason
    )


class LicenceForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        choices=[(c, c) for c in LICENCE_CHANNELS], widget=forms.CheckboxSelectMultiple,
        initial=["site", "social"],
    )  # fmt: skip

    class Meta:
        model = ContentLicence
        fields = ["program", "text", "channels", "licence_type", "duration_days"]


@admin.register(ContentLicence)
class ContentLicenceAdmin(console.ModelAdmin):
    list_display = ["program", "version", "channels", "licence_type", "published_at"]
    list_filter = ["program"]
    list_select_related = ["program"]
    form = LicenceForm

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["program", "version", "text", "channels", "licence_type", "duration_days",
                "published_at", "created_by"]  # fmt: skip

    def get_fields(self, request, obj=None):
        return (
            list(LicenceForm.Meta.fields) if obj is None else self.get_readonly_fields(request, obj)
        )

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        try:
            made = services.content_licence_publish(
                program_id=data["program"].pk, text=data["text"], channels=data["channels"],
                licence_type=data["licence_type"], duration_days=data["duration_days"],
                actor=request.user,
            )  # fmt: skip
        except ApplicationError as exc:
            raise as_validation_error(exc) from exc
        obj.pk = made.pk
        obj.version = made.version

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProgramPortalOptions)
class ProgramPortalOptionsAdmin(console.ModelAdmin):
    list_display = ["program", "allow_custom_slugs", "allow_code_requests"]
    fields = ["program", "allow_custom_slugs", "allow_code_requests"]

    def get_readonly_fields(self, request, obj=None):
        return ["program"] if obj else []

    def save_model(self, request, obj, form, change):
        made = services.program_options_save(
            program_id=obj.program_id,
            allow_custom_slugs=obj.allow_custom_slugs,
            allow_code_requests=obj.allow_code_requests,
        )
        obj.pk = made.pk


@admin.register(CreatorAccount)
class CreatorAccountAdmin(ReadOnlyAdminMixin, console.ModelAdmin):
    list_display = ["creator", "login_email", "country", "created_at", "erased_at"]
    list_select_related = ["creator", "user"]
    search_fields = ["creator__name", "creator__handle", "user__email"]
    list_filter = ["erased_at"]
    fields = ["creator", "user", "handle_tiktok", "handle_instagram", "handle_youtube",
              "handle_other", "country", "notify_content", "notify_earnings",
              "created_at", "erased_at"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="login email", ordering="user__email")
    def login_email(self, obj):
        return obj.user.email


from creators.portal import samples_admin  # noqa: E402,F401 - product requests (issue 18)
