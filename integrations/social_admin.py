"""Social sources in the console (issue 18): what to pull from which Instagram or TikTok
account, its filters and schedule, what the last pull did, and "Pull now" / "Look for deleted
posts". A TikTok source's account id is its connection's open_id, filled in on saving."""

from django import forms
from django.contrib import admin, messages

from core import admin_base as console
from core.admin_readonly import ReadOnlyAdminMixin
from core.errors import ApplicationError, error_message
from core.jobs import enqueue_on_commit
from integrations import social, tasks
from integrations.models import Connection, HashtagSearch, PulledPost, SocialSource


def _list(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace("\n", ",").split(",") if part.strip()]


class SocialSourceForm(forms.ModelForm):
    media_types = forms.MultipleChoiceField(
        choices=[("image", "Images"), ("video", "Videos")],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: both.",
    )
    languages = forms.CharField(
        required=False, help_text="Two-letter codes, comma separated (en, fr); empty: any."
    )
    blocked_handles = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Comma separated."
    )

    class Meta:
        model = SocialSource
        fields = [
            "connection", "kind", "ig_user_id", "hashtag", "active", "interval_minutes",
            "media_types", "min_side", "languages", "blocked_handles", "max_pages",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connection"].queryset = Connection.objects.filter(
            platform__in=["meta", "tiktok"]
        ).exclude(status=Connection.Status.DISCONNECTED)
        help_text = "A Meta connection for Instagram kinds, a TikTok account one for TikTok."
        self.fields["connection"].help_text = help_text
        if self.instance.pk:
            self.initial["languages"] = ", ".join(self.instance.languages or [])
            self.initial["blocked_handles"] = ", ".join(self.instance.blocked_handles or [])

    def clean_languages(self):
        return [code.lower() for code in _list(self.cleaned_data["languages"])]

    def clean(self):
        data = super().clean()
        probe = SocialSource(
            connection=data.get("connection"),
            kind=data.get("kind") or "",
            ig_user_id=data.get("ig_user_id") or "",
            hashtag=(data.get("hashtag") or "").lstrip("#"),
            media_types=data.get("media_types") or [],
            languages=data.get("languages") or [],
        )
        try:
            social.check_source(probe)
        except ApplicationError as exc:
            for name, problems in exc.fields.items():
                self.add_error(name if name in self.fields else None, problems)
        return data

    def clean_blocked_handles(self):
        return [handle.lstrip("@") for handle in _list(self.cleaned_data["blocked_handles"])]


@admin.register(SocialSource)
class SocialSourceAdmin(console.ModelAdmin):
    form = SocialSourceForm
    # Few, short columns: the list fits a laptop's screen (tests/core/test_console_layout_*).
    list_display = ["__str__", "active", "last_pulled_at", "counts", "error"]
    list_filter = ["kind", "active", "connection"]
    readonly_fields = [
        "hashtag_id", "cursor", "last_pulled_at", "next_pull_at", "last_counts", "last_error",
    ]  # fmt: skip
    actions = ["pull_now", "check_deleted"]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in SocialSourceForm.Meta.fields}
        data["connection_id"] = data.pop("connection").pk
        saved = social.social_source_save(source_id=obj.pk if change else None, **data)
        obj.pk = saved.pk

    @admin.display(description="Last pull")
    def counts(self, obj):
        c = obj.last_counts or {}
        if not c:
            return "–"
        return f"{c.get('new', 0)} new · {c.get('known', 0)} known"

    @admin.display(description="Last error")
    def error(self, obj):
        first = (obj.last_error or "").split("\n")[0]
        return (first[:40] + "…") if len(first) > 40 else (first or "–")

    @admin.action(description="Pull now", permissions=["change"])
    def pull_now(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:50])
        for source_id in ids:
            enqueue_on_commit(tasks.social_source_pull, source_id)
        self.message_user(request, f"Pulling {len(ids)} source(s) now.", messages.SUCCESS)

    @admin.action(description="Look for posts deleted on the platform", permissions=["change"])
    def check_deleted(self, request, queryset):
        found = 0
        for source_id in queryset.values_list("pk", flat=True)[:20]:
            try:
                found += social.social_source_check_deleted(source_id=source_id)
            except ApplicationError as exc:
                self.message_user(request, error_message(exc), messages.ERROR)
        self.message_user(request, f"{found} deleted post(s) flagged.", messages.SUCCESS)


@admin.register(PulledPost)
class PulledPostAdmin(ReadOnlyAdminMixin, console.ModelAdmin):
    list_display = ["external_id", "source", "item", "first_seen_at", "checked_at"]
    list_filter = ["source"]
    list_select_related = ["source", "item"]
    search_fields = ["=external_id", "=item__id"]


@admin.register(HashtagSearch)
class HashtagSearchAdmin(PulledPostAdmin):
    list_display = ["hashtag", "ig_user_id", "first_searched_at"]
    list_filter = []
    list_select_related = []
    search_fields = ["hashtag"]
