"""Platform connections and the mapping tables of catalog sync.

A `Connection` is one merchant account on one platform: a Shopify shop (the source of
products), a TikTok Shop, a Meta catalog or a Google Merchant Center account (destinations).
Its tokens are encrypted at rest (`core.crypto.EncryptedTextField`; `manage.py
rotate_encryption_keys` re-encrypts them) and never leave the server.

Mapping tables live here, not as columns on catalog models:
- inbound: `ExternalProduct` / `ExternalVariant` (Shopify ids -> catalog rows, what was last
  imported, per-location stock, the values the field rules kept), `FieldRule` (which side owns
  which field, per connection), `WebhookDelivery` (each verified webhook, stored once);
- outbound: `Listing` (one per product per destination connection: the fingerprint of what the
  destination accepted, its external ids, state and messages), `ImageUpload` (TikTok Shop's
  image URIs);
- privacy: `ComplianceRequest` (Shopify's mandatory compliance webhooks, stored first, acted on
  by a job) and its audit, `ComplianceEvent`.

Workflows live in `integrations/services.py`, `inbound.py` and `push.py`.
"""

from django.conf import settings as django_settings
from django.core.files.storage import storages
from django.db import models
from django.db.models import Q

from catalog.models import Product, ProductImage, Variant
from core.crypto import EncryptedTextField


class Platform(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    TIKTOK_SHOP = "tiktok_shop", "TikTok Shop"
    META = "meta", "Meta (Facebook and Instagram shops)"
    GOOGLE = "google", "Google Merchant Center"
    TIKTOK = "tiktok", "TikTok account (videos for UGC)"


SOURCES = frozenset({Platform.SHOPIFY})
DESTINATIONS = frozenset({Platform.TIKTOK_SHOP, Platform.META, Platform.GOOGLE})


class Connection(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Choosing the account"
        ACTIVE = "active", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnecting"
        DISCONNECTED = "disconnected", "Disconnected"

    class AuthMethod(models.TextChoices):
        OAUTH = "oauth", "OAuth"
        PASTED_TOKEN = "pasted_token", "Pasted token (Shopify custom app)"

    platform = models.CharField(max_length=20, choices=Platform.choices, db_index=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    auth_method = models.CharField(
        max_length=20, choices=AuthMethod.choices, default=AuthMethod.OAUTH
    )
    account_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="The shop domain (Shopify), shop id (TikTok Shop), catalog id (Meta), "
        "Merchant Center account id (Google) or open_id (TikTok account).",
    )
    account_name = models.CharField(max_length=200, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    access_token = EncryptedTextField(blank=True, editable=False)
    refresh_token = EncryptedTextField(blank=True, editable=False)
    access_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Bumped by every new token (grant, refresh, reconnect): a job holding an older token
    # knows another one replaced it.
    token_version = models.PositiveIntegerField(default=0, editable=False)
    # A Shopify custom app's API secret key, which signs its webhooks (OAuth apps use
    # SHOPIFY_API_SECRET).
    app_secret = EncryptedTextField(blank=True, editable=False)
    settings = models.JSONField(
        default=dict, blank=True, help_text="Per-platform settings (see the console form)."
    )
    # While pending: the accounts the grant covers, for the merchant to pick one.
    account_choices = models.JSONField(default=list, blank=True, editable=False)
    status_reason = models.TextField(blank=True)
    last_call_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["platform", "account_name", "pk"]
        permissions = [("sync_connection", "Can start a sync of a connection")]
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "account_id"],
                condition=~Q(status="disconnected") & ~Q(account_id=""),
                name="integrations_connection_account_unique",
                violation_error_message="This account is already connected.",
            ),
        ]

    def __str__(self):
        name = self.account_name or self.account_id or f"#{self.pk}"
        return f"{self.get_platform_display()}: {name}"

    @property
    def is_destination(self) -> bool:
        return self.platform in DESTINATIONS

    @property
    def is_source(self) -> bool:
        return self.platform in SOURCES


class ConnectionEvent(models.Model):
    """Append-only audit of a connection's status: who, when, from, to, why."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    at = models.DateTimeField()
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["connection", "at"], name="integrations_event_conn_at")]

    def __str__(self):
        return f"{self.action}: {self.from_status or '–'} → {self.to_status}"


class FieldRule(models.Model):
    """Which side owns a product field, for one source connection.

    `shopify`: Shopify's value is applied; a value the merchant had changed in Shoploop since
    the last import is overwritten and the overwrite is recorded. `shoploop`: Shopify's value
    is never applied; the difference is recorded and shown on the product's mapping.
    """

    class Field(models.TextChoices):
        TITLE = "title", "Title"
        DESCRIPTION = "description", "Description"
        BRAND = "brand", "Brand (Shopify vendor)"
        ACTIVE = "active", "Active (Shopify status)"
        PRICE = "price", "Price"
        COMPARE_AT_PRICE = "compare_at_price", "Compare-at price"
        GTIN = "gtin", "GTIN (Shopify barcode)"
        STOCK = "stock", "Stock"

    class Owner(models.TextChoices):
        SHOPIFY = "shopify", "Shopify (its changes are applied)"
        SHOPLOOP = "shoploop", "Shoploop (Shopify's changes are not applied)"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="rules")
    field = models.CharField(max_length=30, choices=Field.choices)
    owner = models.CharField(max_length=10, choices=Owner.choices, default=Owner.SHOPIFY)

    class Meta:
        ordering = ["connection", "field"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "field"], name="integrations_fieldrule_unique"
            )
        ]

    def __str__(self):
        return f"{self.get_field_display()}: {self.owner}"


class ExternalProduct(models.Model):
    """A Shopify product and the catalog product it feeds."""

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="external_products"
    )
    external_id = models.CharField(max_length=64)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    # The values last imported, per field: a later difference in Shoploop is a local edit.
    imported = models.JSONField(default=dict, blank=True)
    # Values a field rule kept out, or local edits Shopify overwrote: {field: {...}}.
    conflicts = models.JSONField(default=dict, blank=True)
    image_urls = models.JSONField(default=list, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"], name="integrations_extproduct_unique"
            ),
            models.UniqueConstraint(
                fields=["connection", "product"], name="integrations_extproduct_product_unique"
            ),
        ]

    def __str__(self):
        return f"Shopify product {self.external_id}"


class ExternalVariant(models.Model):
    """A Shopify variant and the catalog variant it feeds, with its stock per location."""

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="external_variants"
    )
    external_id = models.CharField(max_length=64)
    inventory_item_id = models.CharField(max_length=64, blank=True)
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    # {location_id: {"available": n, "updated_at": iso}}; null until the levels are known.
    levels = models.JSONField(null=True, blank=True)
    # The values last imported, per field (price, compare_at_price, gtin, stock).
    imported = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"], name="integrations_extvariant_unique"
            ),
            models.UniqueConstraint(
                fields=["connection", "variant"], name="integrations_extvariant_variant_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["connection", "inventory_item_id"], name="integrations_extvariant_inv"
            )
        ]

    def __str__(self):
        return f"Shopify variant {self.external_id}"


class WebhookDelivery(models.Model):
    """A verified webhook, stored once (insert first: a redelivery is a no-op)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="webhooks")
    topic = models.CharField(max_length=80)
    webhook_id = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.RECEIVED, db_index=True
    )
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "webhook_id"], name="integrations_webhook_once"
            )
        ]

    def __str__(self):
        return f"{self.topic} {self.webhook_id}"


class Listing(models.Model):
    """One product on one destination: what it accepted, and whether it must be sent again.

    `dirty` says the product may have changed since the destination last accepted it;
    `version` is bumped by every change, so a push clears `dirty` only if nothing changed
    while it was sending. `fingerprint` is the hash of exactly the fields the destination
    takes, written only after the destination accepted them: a worker that dies mid-batch
    leaves the listing dirty with its old fingerprint, and the next push sends it again.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SYNCED = "synced", "In sync"
        FAILED = "failed", "Failed, will retry"
        REJECTED = "rejected", "Refused by the platform"
        INVALID = "invalid", "Not valid for this platform"
        REMOVED = "removed", "Removed from the platform"
        NOT_LISTED = "not_listed", "Not listed (inactive)"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="listings")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The id this product goes by at the destination (item group, offer prefix): kept after
    # the catalog product is deleted, so the destination's copy can still be removed.
    product_ref = models.CharField(max_length=100)
    state = models.CharField(
        max_length=12, choices=State.choices, default=State.PENDING, db_index=True
    )
    dirty = models.BooleanField(default=True)
    version = models.PositiveBigIntegerField(default=1)
    fingerprint = models.CharField(max_length=64, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    external_data = models.JSONField(default=dict, blank=True)
    messages = models.JSONField(default=list, blank=True)
    category = models.CharField(
        max_length=100,
        blank=True,
        help_text="The destination's category for this product (else the connection's default).",
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_pushed_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "product_ref"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "product"],
                condition=Q(product__isnull=False),
                name="integrations_listing_product_unique",
            ),
            models.UniqueConstraint(
                fields=["connection", "product_ref"], name="integrations_listing_ref_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["connection", "next_attempt_at", "id"],
                condition=Q(dirty=True),
                name="integrations_listing_due",
            ),
            models.Index(fields=["connection", "state"], name="integrations_listing_state"),
        ]

    def __str__(self):
        return f"{self.product_ref} on {self.connection}"


class ImageUpload(models.Model):
    """A catalog image uploaded to TikTok Shop (its URI), so it is uploaded once."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    image = models.ForeignKey(ProductImage, on_delete=models.CASCADE, related_name="+")
    source_name = models.CharField(max_length=255)  # the stored file it was uploaded from
    uri = models.CharField(max_length=500)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "image", "source_name"], name="integrations_image_once"
            )
        ]

    def __str__(self):
        return self.uri


class SyncRun(models.Model):
    """One import or push of one connection, for the console's sync status."""

    class Kind(models.TextChoices):
        IMPORT = "import", "Full import"
        PUSH = "push", "Push"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        PARTIAL = "partial", "Done with failures"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [
            models.Index(fields=["connection", "-started_at"], name="integrations_run_conn_start")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.started_at:%Y-%m-%d %H:%M:%S}"


def private_storage():
    """Customer data exports: stored apart from public media (no URL)."""
    return storages["private"]


class ComplianceRequest(models.Model):
    """One of Shopify's mandatory compliance webhooks, stored before it is answered and acted
    on by a job (`integrations/compliance.py`).

    The body as Shopify sent it (it names the customer: email, phone) is kept encrypted only
    until the request is acted on, then erased; what stays is what the audit needs: the topic,
    the shop, Shopify's customer and order ids, and a keyed hash of the email.
    """

    class Topic(models.TextChoices):
        DATA_REQUEST = "customers/data_request", "Customer data request"
        CUSTOMER_REDACT = "customers/redact", "Customer data erasure"
        SHOP_REDACT = "shop/redact", "Shop data erasure"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, to be acted on"
        READY = "ready", "Export ready to download"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    topic = models.CharField(max_length=30, choices=Topic.choices, db_index=True)
    shop_domain = models.CharField(max_length=255)
    shop_id = models.CharField(max_length=64, blank=True)
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    webhook_id = models.CharField(max_length=100)
    customer_id = models.CharField(max_length=64, blank=True)
    email_hash = models.CharField(max_length=64, blank=True)
    order_ids = models.JSONField(default=list, blank=True)
    data_request_id = models.CharField(max_length=64, blank=True)
    payload = EncryptedTextField(blank=True, editable=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.RECEIVED, db_index=True
    )
    export = models.FileField(
        upload_to="compliance/", storage=private_storage, blank=True, max_length=300
    )
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(help_text="Shopify gives an app 30 days to act.")
    processed_at = models.DateTimeField(null=True, blank=True)
    export_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        permissions = [("export_compliancerequest", "Can download a customer data export")]
        constraints = [
            models.UniqueConstraint(
                fields=["shop_domain", "webhook_id"], name="integrations_compliance_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(status="received"),
                name="integrations_compliance_todo",
            )
        ]

    def __str__(self):
        return f"{self.get_topic_display()} from {self.shop_domain} (#{self.pk})"


class ComplianceEvent(models.Model):
    """Append-only audit of a compliance request: who, when, from, to, why."""

    request = models.ForeignKey(ComplianceRequest, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    at = models.DateTimeField()
    action = models.CharField(max_length=30)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.action}: {self.from_status or '–'} → {self.to_status}"


from integrations.social_models import HashtagSearch, PulledPost, SocialSource  # noqa: E402,F401
