"""Rights requests in the console (issue 18): "Ask for rights" on one item or many, and the
list of requests by state (requested, granted, declined, expired) with what was sent and the
proof that came back.

Asking creates the request through `services.rights_request_create` (one item at a time, each
refusal reported) and queues the comment on Instagram (`integrations.rights_request_send`)
once it commits; the reply watcher and the consent page do the rest. A TikTok item's request
is never commented (TikTok's APIs cannot): it records why and shows the consent link.
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.utils.html import format_html

from core import admin_base as console
from core.jobs import enqueue_on_commit
from ugc import services
from ugc.admin.actions import run_bulk
from ugc.models import CHANNELS, RightsRequest
from ugc.services.rights_requests import consent_url


class AskForRightsForm(forms.Form):
    template = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="Placeholders: {handle} {brand} {hashtag} {terms_url} {consent_url}.",
    )
    reply_hashtag = forms.CharField(max_length=100)
    allowed_channels = forms.MultipleChoiceField(
        choices=[(c, c) for c in CHANNELS], widget=forms.CheckboxSelectMultiple
    )
    expires_in_days = forms.IntegerField(min_value=1, max_value=90)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "template": settings.UGC_RIGHTS_REQUEST_TEMPLATE,
                "reply_hashtag": settings.UGC_RIGHTS_REPLY_HASHTAG,
                "allowed_channels": list(settings.UGC_RIGHTS_REQUEST_CHANNELS),
                "expires_in_days": settings.UGC_RIGHTS_REQUEST_DAYS,
            },
        )
        super().__init__(*args, **kwargs)


def bulk_ask_for_rights(item_ids, *, actor, data: dict):
    from integrations import tasks as integration_tasks  # presentation may use any app

    def step(item_id):
        request = services.rights_request_create(
            item_id=item_id,
            actor=actor,
            template=data["template"],
            reply_hashtag=data["reply_hashtag"],
            allowed_channels=list(data["allowed_channels"]),
            expires_in_days=data["expires_in_days"],
        )
        enqueue_on_commit(integration_tasks.rights_request_send, request.pk)

    return run_bulk(item_ids, step, done="Rights asked for", failed="Rights not asked for")


class RightsRequestActionMixin:
    """The UGC item admin's "Ask for rights" action (one item or many)."""

    @admin.action(description="Ask the authors for rights", permissions=["moderate"])
    def ask_for_rights(self, request, queryset):
        return self._run_confirmed(
            request,
            queryset,
            AskForRightsForm,
            lambda ids, data: bulk_ask_for_rights(ids, actor=request.user, data=data),
            action="ask_for_rights",
            title="Ask for rights",
            button="Send the requests",
            intro="Each author gets this message as a comment on the post (Instagram allows it "
            "on posts that tag or mention the account); it links the terms and the consent page, "
            "and a reply with the hashtag grants the rights. Where no comment can be sent "
            "(Instagram hashtag media, every TikTok video: TikTok's APIs cannot comment or "
            "message) the request says so and shows the consent link to send yourself.",
        )


@admin.register(RightsRequest)
class RightsRequestAdmin(console.ModelAdmin):
    list_display = [
        "pk", "item_link", "author", "status", "sent", "requested_at", "expires_at",
        "decided_at", "answer",
    ]  # fmt: skip
    list_filter = ["status", "answer", "channel"]
    search_fields = ["item__author_handle", "reply_text", "=item__id"]
    list_select_related = ["item"]
    date_hierarchy = "requested_at"
    readonly_fields = [
        "item_link", "status", "channel", "message", "consent_page", "reply_hashtag",
        "terms_url", "terms_version", "allowed_channels", "licence_type", "requested_by",
        "requested_at", "expires_at", "sent_at", "sent_ref", "send_error", "checked_at",
        "decided_at", "answer", "reply_id", "reply_text", "reply_at",
    ]  # fmt: skip
    fields = readonly_fields

    def has_add_permission(self, request):
        return False  # asked from the item queue's action

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of consent stays

    @admin.display(description="Item", ordering="item")
    def item_link(self, obj):
        return format_html('<a href="../../ugcitem/{}/change/">#{}</a>', obj.item_id, obj.item_id)

    @admin.display(description="Author")
    def author(self, obj):
        return f"@{obj.item.author_handle}" if obj.item.author_handle else "–"

    @admin.display(description="Sent")
    def sent(self, obj):
        if obj.sent_ref:
            return f"comment {obj.sent_ref}"
        return obj.send_error[:80] or "waiting"

    @admin.display(description="Consent page")
    def consent_page(self, obj):
        url = consent_url(obj.token)
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)
