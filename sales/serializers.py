from rest_framework import serializers

from core.absolute_urls import absolute_url
from sales.models import Order, OrderEvent, OrderLine, Refund, RefundLine, SalesChannel


class OrderLineSerializer(serializers.ModelSerializer):
    variant_sku = serializers.CharField(source="variant.sku", read_only=True, default=None)

    class Meta:
        model = OrderLine
        fields = [
            "id", "external_id", "sku", "variant", "variant_sku", "product", "title", "quantity",
            "unit_price", "discount", "tax", "total", "stock_committed", "stock_shipped",
            "shortfall",
        ]  # fmt: skip


class RefundLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = RefundLine
        fields = ["line", "sku", "quantity", "amount"]


class RefundSerializer(serializers.ModelSerializer):
    lines = RefundLineSerializer(many=True, read_only=True)

    class Meta:
        model = Refund
        fields = ["id", "external_id", "currency", "total", "shipping", "reason", "refunded_at",
                  "lines"]  # fmt: skip


class OrderEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ["at", "action", "from_status", "to_status", "reason", "delivery"]


ORDER_FIELDS = [
    "id", "channel", "external_id", "name", "status", "currency", "subtotal", "discounts",
    "shipping", "tax", "total", "discount_codes", "landing_url", "referring_site", "click_id",
    "visitor_click_id", "customer_email_hash", "country", "payment_fingerprint_hash",
    "placed_at", "paid_at", "cancelled_at", "fulfilled_at", "delivered_at", "oversold",
    "reservation", "provider_updated_at", "lines",
]  # fmt: skip


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ORDER_FIELDS
        read_only_fields = ORDER_FIELDS


class OrderDetailSerializer(OrderSerializer):
    refunds = RefundSerializer(many=True, read_only=True)
    # Hook for apps above sales (attribution, issue 13): who the order is credited to and why.
    attribution = serializers.SerializerMethodField()
    events = OrderEventSerializer(many=True, read_only=True)
    deliveries = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta(OrderSerializer.Meta):
        fields = [*ORDER_FIELDS, "refunds", "events", "deliveries", "attribution"]
        read_only_fields = fields

    def get_attribution(self, obj) -> dict | None:
        from attribution.serializers import AttributionSerializer

        attribution = getattr(obj, "attribution", None)
        return AttributionSerializer(attribution).data if attribution is not None else None


class SalesChannelSerializer(serializers.ModelSerializer):
    """Secrets are write-only: reading says only whether they are set."""

    secret = serializers.CharField(write_only=True, required=False, trim_whitespace=True,
                                   help_text="Setting it rotates: the old one keeps verifying "
                                             "until retired in the console.")  # fmt: skip
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True)
    access_token = serializers.CharField(write_only=True, required=False, allow_blank=True)
    secret_set = serializers.SerializerMethodField()
    previous_secret_set = serializers.SerializerMethodField()
    api_key_set = serializers.SerializerMethodField()
    access_token_set = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField()

    class Meta:
        model = SalesChannel
        fields = [
            "id", "provider", "name", "currency", "active", "shop_domain", "stripe_account",
            "app_key", "shop_id", "shop_cipher", "checkout", "webhook_url", "secret",
            "api_key", "access_token", "secret_set", "previous_secret_set", "api_key_set",
            "access_token_set", "secret_rotated_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["secret_rotated_at", "created_at", "updated_at"]

    def get_secret_set(self, obj) -> bool:
        return bool(obj.secret)

    def get_previous_secret_set(self, obj) -> bool:
        return bool(obj.previous_secret)

    def get_api_key_set(self, obj) -> bool:
        return bool(obj.api_key)

    def get_access_token_set(self, obj) -> bool:
        return bool(obj.access_token)

    def get_webhook_url(self, obj) -> str:
        return absolute_url(obj.webhook_path(), self.context.get("request"))

    def validate(self, attrs):
        if self.instance is None and not attrs.get("secret"):
            raise serializers.ValidationError({"secret": "A new channel needs its secret."})
        if self.instance is not None and "provider" in attrs:
            if attrs["provider"] != self.instance.provider:
                raise serializers.ValidationError({"provider": "A channel's provider is fixed."})
        return attrs
