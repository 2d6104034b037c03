"""UGC from social platforms: what a pulled post adds to its item, and rights requests.

`SocialPost` holds what the platform said about a pulled item (permalink, posting time,
where it was pulled from) and whether the platform deleted it. `RightsRequest` is one ask
for the rights to use an item, sent as a comment on the post (or a message), answered by
the author's reply with the program's hashtag or on the consent page `/ugc/consent/<token>/`.
Writes are in `ugc/services/social.py` and `ugc/services/rights_requests.py`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from ugc.models import CHANNELS, UGCItem  # noqa: F401 - CHANNELS documents allowed_channels


class SocialPost(models.Model):
    """A pulled item's platform facts. One per item; the item's (source, external_id) is
    the post's id on its platform."""

    item = models.OneToOneField(UGCItem, on_delete=models.CASCADE, related_name="social_post")
    permalink = models.URLField(max_length=2048, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    media_url = models.URLField(max_length=4096, blank=True, help_text="Where it was fetched.")
    embed_url = models.URLField(
        max_length=2048,
        blank=True,
        help_text="The platform's player for the post (TikTok's embed link), if it gave one.",
    )
    pulled_via = models.CharField(
        max_length=200, blank=True, help_text="The source that pulled it, e.g. #yesbrand (recent)."
    )
    pulled_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When a pull found the post deleted on the platform."
    )

    class Meta:
        verbose_name = "social post"
        indexes = [models.Index(fields=["deleted_at"], name="ugc_socialpost_deleted")]

    def __str__(self):
        return f"Post of {self.item}"


class RightsRequest(models.Model):
    """An ask for the rights to one item, and its answer with the proof."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        GRANTED = "granted", "Granted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"

    class Channel(models.TextChoices):
        COMMENT = "comment", "Comment on the post"
        MESSAGE = "message", "Message"

    class Answer(models.TextChoices):
        REPLY = "reply", "Reply with the hashtag"
        CONSENT_PAGE = "consent_page", "Consent page"

    item = models.ForeignKey(UGCItem, on_delete=models.CASCADE, related_name="rights_requests")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.REQUESTED, db_index=True
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.COMMENT)
    token = models.CharField(max_length=64, unique=True, editable=False)
    message = models.TextField(help_text="What was sent to the author.")
    reply_hashtag = models.CharField(max_length=100)
    terms_url = models.URLField(max_length=2048)
    terms_version = models.CharField(max_length=40)
    allowed_channels = models.JSONField(default=list)
    licence_type = models.CharField(max_length=100, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_ref = models.CharField(
        max_length=200, blank=True, help_text="The platform's id of our comment or message."
    )
    send_error = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    answer = models.CharField(max_length=20, choices=Answer.choices, blank=True)
    reply_id = models.CharField(max_length=200, blank=True)
    reply_text = models.TextField(blank=True)
    reply_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When the watcher last looked for a reply."
    )

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["item"],
                condition=Q(status="requested"),
                name="ugc_rightsrequest_one_open_per_item",
                violation_error_message="This item already has an open rights request.",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("requested_at")),
                name="ugc_rightsrequest_expires_after_requested",
                violation_error_message="A request must expire after it is sent.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="ugc_rightsreq_status_exp"),
        ]

    def __str__(self):
        return f"Rights request #{self.pk} for {self.item} ({self.get_status_display()})"
