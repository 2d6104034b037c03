"""Social pulls (issue 18): what to pull from a connected Instagram or TikTok account, and
what came.

A `SocialSource` is one feed of posts for one connection: an Instagram professional account's
hashtag (recent or top media), the posts it is tagged or mentioned in, or its own media (a
Meta connection); or a TikTok account's own videos (a TikTok connection's Display API). It
has a schedule, filters and a cursor (where an unfinished walk through older pages resumes).
`HashtagSearch` is the account's ledger of hashtags queried in the last 7 days (Instagram
allows 30 unique ones), and `PulledPost` links a source to the UGC item each post became.
Writes are in `integrations/social.py`.
"""

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.models import Connection
from ugc.models import UGCItem

MEDIA_TYPES = ("image", "video")


class SocialSource(models.Model):
    class Kind(models.TextChoices):
        IG_HASHTAG_RECENT = "ig_hashtag_recent", "Instagram hashtag: recent media"
        IG_HASHTAG_TOP = "ig_hashtag_top", "Instagram hashtag: top media"
        IG_TAGS = "ig_tags", "Instagram: posts that tag or mention the account"
        IG_OWN_MEDIA = "ig_own_media", "Instagram: the account's own media"
        TIKTOK_VIDEOS = "tiktok_videos", "TikTok: the connected account's videos"

    connection = models.ForeignKey(
        Connection, on_delete=models.PROTECT, related_name="social_sources"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    ig_user_id = models.CharField(
        "account id",
        max_length=100,
        blank=True,
        help_text="Instagram: the professional account's id (IG User id). TikTok: filled in "
        "with the connected account's open_id.",
    )
    hashtag = models.CharField(max_length=100, blank=True, help_text="Without #, for hashtags.")
    hashtag_id = models.CharField(max_length=40, blank=True, editable=False)
    active = models.BooleanField(default=True)
    interval_minutes = models.PositiveIntegerField(
        default=60, help_text="How often it is pulled (at least every 5 minutes)."
    )
    media_types = models.JSONField(default=list, blank=True, help_text='["image", "video"]')
    min_side = models.PositiveIntegerField(
        default=0, help_text="Minimum width and height in pixels (0: the UGC minimum)."
    )
    languages = models.JSONField(
        default=list,
        blank=True,
        help_text='Caption languages to keep, e.g. ["en", "fr"]; empty: any.',
    )
    blocked_handles = models.JSONField(default=list, blank=True)
    max_pages = models.PositiveIntegerField(default=5, help_text="Pages read per pull.")
    cursor = models.CharField(max_length=500, blank=True, editable=False)
    next_pull_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_pulled_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_counts = models.JSONField(default=dict, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["connection", "kind", "hashtag", "pk"]
        verbose_name = "social source"
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "ig_user_id", "kind", "hashtag"],
                name="integrations_socialsource_unique",
                violation_error_message="This source exists already.",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["ig_hashtag_recent", "ig_hashtag_top"]) | ~Q(hashtag=""),
                name="integrations_socialsource_hashtag_needed",
                violation_error_message="A hashtag source needs its hashtag.",
            ),
            models.CheckConstraint(
                condition=Q(interval_minutes__gte=5),
                name="integrations_socialsource_interval_min",
                violation_error_message="Pull at most every 5 minutes.",
            ),
        ]

    def __str__(self):
        if self.is_hashtag:  # "#acmefit (recent media)"
            return f"#{self.hashtag} ({self.get_kind_display().split(':')[-1].strip()})"
        return self.get_kind_display()

    @property
    def is_hashtag(self) -> bool:
        return self.kind in (self.Kind.IG_HASHTAG_RECENT, self.Kind.IG_HASHTAG_TOP)

    @property
    def is_tiktok(self) -> bool:
        return self.kind == self.Kind.TIKTOK_VIDEOS

    @property
    def platform_name(self) -> str:
        return "TikTok" if self.is_tiktok else "Instagram"

    @property
    def ugc_source(self) -> str:
        return UGCItem.Source.TIKTOK if self.is_tiktok else UGCItem.Source.INSTAGRAM

    @property
    def can_comment(self) -> bool:
        """Instagram takes comments on posts that mention or tag the account, never on
        hashtag media found through the API."""
        return self.kind == self.Kind.IG_TAGS


class HashtagSearch(models.Model):
    """A hashtag an Instagram account queried; it counts against the 30 a week for 7 days."""

    ig_user_id = models.CharField(max_length=40)
    hashtag = models.CharField(max_length=100)
    first_searched_at = models.DateTimeField()

    WINDOW = timedelta(days=7)
    LIMIT = 30

    class Meta:
        ordering = ["ig_user_id", "first_searched_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["ig_user_id", "hashtag"], name="integrations_hashtagsearch_unique"
            )
        ]

    def __str__(self):
        return f"#{self.hashtag} by {self.ig_user_id}"


class PulledPost(models.Model):
    """A post a source pulled, and the UGC item it became (or joined, when the same post or
    file came through another source)."""

    source = models.ForeignKey(SocialSource, on_delete=models.CASCADE, related_name="posts")
    external_id = models.CharField(max_length=200)
    item = models.ForeignKey(UGCItem, on_delete=models.CASCADE, related_name="+")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-first_seen_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="integrations_pulledpost_unique"
            )
        ]
        indexes = [models.Index(fields=["source", "checked_at"], name="integrations_pulled_chk")]

    def __str__(self):
        return f"{self.external_id} from {self.source}"
