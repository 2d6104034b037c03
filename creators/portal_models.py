"""The creator portal's data (issue 15): accounts, applications, invitations, one-time login
links, the content licence a program offers and the portal's per-program options.

- `CreatorAccount`: a creator's Django user (one-to-one both ways), their handles on each
  network, country and notification choices. Creator users are never staff: the console and
  the portal are separate.
- `CreatorApplication`: someone applying to a program from `/creators/apply/<slug>/`, with
  the terms version they accepted and when; reviewed in the console (approve into a group,
  reject with a reason, ask for more), every move audited in `ApplicationEvent`.
- `CreatorInvitation`: the merchant invites an email into a group; the link's token is
  stored only as a keyed hash, is single-use and expires.
- `CreatorLoginLink`: a one-time email login link (keyed hash, single-use, short-lived).
- `ContentLicence`: a program's content licence, versioned; the channels it grants are what
  a creator's upload records as its rights.
- `ProgramPortalOptions`: what the portal lets a program's creators do (custom link slugs).

Every write is in `creators/applications.py` and `creators/accounts.py`.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from creators.program_models import DiscountCode

__all__ = [
    "ApplicationEvent",
    "CodeRequest",
    "ContentLicence",
    "CreatorAccount",
    "CreatorApplication",
    "CreatorInvitation",
    "CreatorLoginLink",
    "ProgramPortalOptions",
]

# The networks a creator can name a handle on (the form fields and the account's columns).
NETWORKS = ("tiktok", "instagram", "youtube", "other")
# The channels a content licence can grant: the same names as UGC rights (ugc.models.CHANNELS).
LICENCE_CHANNELS = ("site", "email", "ads", "social")


class HandlesMixin(models.Model):
    handle_tiktok = models.CharField("TikTok", max_length=100, blank=True)
    handle_instagram = models.CharField("Instagram", max_length=100, blank=True)
    handle_youtube = models.CharField("YouTube", max_length=100, blank=True)
    handle_other = models.CharField("other (a URL or handle)", max_length=200, blank=True)

    class Meta:
        abstract = True

    def handles(self) -> dict[str, str]:
        return {n: getattr(self, f"handle_{n}") for n in NETWORKS if getattr(self, f"handle_{n}")}


class CreatorAccount(HandlesMixin):
    """A creator's login: their Django user, handles, country and notification choices."""

    creator = models.OneToOneField(
        "creators.Creator", on_delete=models.PROTECT, related_name="account"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="creator_account"
    )
    country = models.CharField(max_length=2, blank=True, help_text="ISO country code.")
    notify_content = models.BooleanField(
        "email me when my content is published or rejected", default=True
    )
    notify_earnings = models.BooleanField(
        "email me when a commission is held for review", default=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["creator"]

    def __str__(self):
        return f"Account of {self.creator}"


class CreatorApplication(HandlesMixin):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        NEEDS_INFO = "needs_info", "More information asked"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    OPEN = (Status.PENDING, Status.NEEDS_INFO)

    program = models.ForeignKey(
        "creators.Program", on_delete=models.PROTECT, related_name="applications"
    )
    name = models.CharField(max_length=120)
    email = models.EmailField()
    country = models.CharField(max_length=2, blank=True)
    audience_size = models.PositiveIntegerField(
        default=0, help_text="Followers across their networks, as they told us."
    )
    why = models.TextField("why they want to join", max_length=2000, blank=True)
    terms = models.ForeignKey(
        "creators.ProgramTerms",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The version of the program's terms they accepted.",
    )
    terms_version = models.PositiveIntegerField()
    terms_accepted_at = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    group = models.ForeignKey(
        "creators.CreatorGroup",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The group they were approved into.",
    )
    creator = models.ForeignKey(
        "creators.Creator",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="applications",
    )
    decision_reason = models.TextField(
        blank=True, help_text="The rejection reason, or the question asked; the applicant sees it."
    )
    answer = models.TextField(blank=True, help_text="What the applicant added when asked.")
    info_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    network_hash = models.CharField(
        max_length=64, blank=True, editable=False, help_text="Keyed hash of the sender's network."
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "program",
                condition=Q(status__in=["pending", "needs_info"]),
                name="creators_application_one_open_per_email",
                violation_error_message="This email already has an application waiting.",
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="creators_app_queue")]

    def __str__(self):
        return f"{self.name} → {self.program}"


class ApplicationEvent(models.Model):
    """Append-only audit of an application: who, when, from, to, why."""

    application = models.ForeignKey(
        CreatorApplication, on_delete=models.CASCADE, related_name="events"
    )
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["application", "at", "pk"]

    def __str__(self):
        return f"{self.action}: {self.from_status or '∅'} → {self.to_status}"


class CreatorInvitation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Sent"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"

    email = models.EmailField()
    group = models.ForeignKey(
        "creators.CreatorGroup", on_delete=models.PROTECT, related_name="invitations"
    )
    message = models.TextField(blank=True, help_text="A note for the invitee, in the email.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    expires_at = models.DateTimeField()
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    creator = models.ForeignKey(
        "creators.Creator", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"Invitation of {self.email} to {self.group}"

    @property
    def expired(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at <= timezone.now()


class CreatorLoginLink(models.Model):
    """A one-time login link sent by email (only its keyed hash is stored)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="creators_loginlink_expiry")]

    def __str__(self):
        return f"Login link #{self.pk}"


class ContentLicence(models.Model):
    """A version of the licence a creator grants on what they upload for a program."""

    program = models.ForeignKey(
        "creators.Program", on_delete=models.CASCADE, related_name="content_licences"
    )
    version = models.PositiveIntegerField(editable=False)
    text = models.TextField(help_text="What the creator accepts, in plain words.")
    channels = models.JSONField(
        default=list, help_text="Where the merchant may show the content: " + ", ".join(
            LICENCE_CHANNELS) + "."
    )  # fmt: skip
    licence_type = models.CharField(
        max_length=100, default="non-exclusive, royalty-free", help_text="Recorded in the rights."
    )
    duration_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long the rights last (empty: until withdrawn)."
    )
    published_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["program", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "version"], name="creators_licence_version_unique"
            )
        ]

    def __str__(self):
        return f"{self.program} content licence v{self.version}"

    def clean(self):
        channels = self.channels
        if not isinstance(channels, list) or not channels:
            raise ValidationError({"channels": "Choose at least one channel."})
        unknown = sorted(set(map(str, channels)) - set(LICENCE_CHANNELS))
        if unknown:
            raise ValidationError(
                {"channels": f"Unknown: {', '.join(unknown)}; use {', '.join(LICENCE_CHANNELS)}."}
            )
        self.channels = [c for c in LICENCE_CHANNELS if c in channels]


class ProgramPortalOptions(models.Model):
    """What the portal lets a program's creators do."""

    program = models.OneToOneField(
        "creators.Program", on_delete=models.CASCADE, related_name="portal_options"
    )
    allow_custom_slugs = models.BooleanField(
        default=False,
        help_text="Creators may choose their links' codes (3–50 letters, digits, -, _).",
    )
    allow_code_requests = models.BooleanField(
        default=True, help_text="Creators may ask for a custom discount code (you approve it)."
    )

    class Meta:
        verbose_name = "program portal options"
        verbose_name_plural = "program portal options"

    def __str__(self):
        return f"Portal options of {self.program}"


class CodeRequest(DiscountCode):
    """Custom discount codes creators asked for: the console's approval queue (a proxy of
    the program's discount codes; `discount_code_decide` approves or rejects them)."""

    class Meta:
        proxy = True
        verbose_name = "custom code request"
        verbose_name_plural = "custom code requests"
