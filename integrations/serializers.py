"""API shapes of connections and listings. Tokens and secrets are never fields."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations import selectors
from integrations.models import Connection, Listing

# Settings that are ids and choices, safe to show; anything else stays on the server.
PUBLIC_SETTINGS = {
    "currency",
    "region",
    "warehouse_id",
    "default_category_id",
    "package_weight_kg",
    "condition",
    "language",
    "feed_label",
    "country",
    "google_product_category",
    "data_source",
    "business_id",
}


class SyncRunSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    status = serializers.CharField()
    kind = serializers.CharField()


class SyncSummarySerializer(serializers.Serializer):
    listings = serializers.DictField(child=serializers.IntegerField())
    in_sync = serializers.IntegerField()
    pending = serializers.IntegerField()
    failed = serializers.IntegerField()
    last_run = SyncRunSerializer(allow_null=True)


class ConnectionSerializer(serializers.ModelSerializer):
    settings = serializers.SerializerMethodField()
    sync = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "id",
            "platform",
            "status",
            "status_reason",
            "auth_method",
            "account_id",
            "account_name",
            "scopes",
            "settings",
            "access_token_expires_at",
            "last_call_at",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
            "sync",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_settings(self, obj) -> dict:
        return {k: v for k, v in obj.settings.items() if k in PUBLIC_SETTINGS}

    @extend_schema_field(SyncSummarySerializer)
    def get_sync(self, obj) -> dict:
        return selectors.sync_summary(obj)


class ListingMessageSerializer(serializers.Serializer):
    level = serializers.CharField()
    field = serializers.CharField(allow_blank=True)
    message = serializers.CharField()
    source = serializers.CharField()


class ListingSerializer(serializers.ModelSerializer):
    platform = serializers.CharField(source="connection.platform", read_only=True)
    messages = ListingMessageSerializer(many=True, read_only=True)

    class Meta:
        model = Listing
        fields = [
            "id",
            "connection",
            "platform",
            "product",
            "product_ref",
            "state",
            "dirty",
            "external_id",
            "messages",
            "category",
            "attempts",
            "next_attempt_at",
            "last_pushed_at",
            "accepted_at",
            "updated_at",
        ]
        read_only_fields = fields


class SyncQueuedSerializer(serializers.Serializer):
    queued = serializers.ChoiceField(choices=["push", "import"])
