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


# --- ledger and payouts (issue 14) ----------------------------------------------------------
# Amounts are integers of the currency's minor units (JPY 0 digits, USD 2, KWD 3), with the
# currency beside them; `minor_units` says how many digits to shift for display.


class BalanceSerializer(serializers.Serializer):
    creator = serializers.IntegerField(source="creator_id")
    handle = serializers.CharField(source="creator__handle")
    currency = serializers.CharField()
    minor_units = serializers.SerializerMethodField()
    pending = serializers.IntegerField(help_text="Held: in its hold period or under review.")
    available = serializers.IntegerField()
    in_payout = serializers.IntegerField()
    paid = serializers.IntegerField()
    receivable = serializers.IntegerField(help_text="Clawbacks owed back after payout.")
    payable = serializers.IntegerField(help_text="available - receivable: what the next payout "
                                       "would send.")  # fmt: skip

    def get_minor_units(self, row) -> int:
        from core.money import minor_units

        return minor_units(row["currency"])


class PayoutEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    action = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    source = serializers.CharField(default="", help_text="console, api, job, webhook, poll…")
    actor = serializers.CharField(source="actor.username", default=None)
    reason = serializers.CharField()


class PayoutCommissionSerializer(serializers.Serializer):
    commission = serializers.IntegerField(source="commission_id")
    order = serializers.IntegerField(source="commission.order_id")
    order_name = serializers.SerializerMethodField()
    sku = serializers.SerializerMethodField()
    amount = serializers.IntegerField(help_text="The commission's net when the run was made.")
    status = serializers.CharField(source="commission.status")

    def get_order_name(self, item) -> str:
        return item.commission.order.name or item.commission.order.external_id

    def get_sku(self, item) -> str:
        return item.commission.line.sku if item.commission.line_id else ""


PAYOUT_FIELDS = [
    "id", "run", "creator", "handle", "currency", "method", "gross", "netted", "amount",
    "status", "provider_ref", "failure_reason", "attempts", "created_at", "sent_at", "paid_at",
    "failed_at",
]  # fmt: skip


class PayoutSerializer(serializers.ModelSerializer):
    handle = serializers.CharField(source="creator.handle", read_only=True)

    class Meta:
        from sales.payout_models import Payout

        model = Payout
        fields = PAYOUT_FIELDS
        read_only_fields = PAYOUT_FIELDS


class PayoutDetailSerializer(PayoutSerializer):
    commissions = PayoutCommissionSerializer(source="items", many=True, read_only=True)
    events = PayoutEventSerializer(many=True, read_only=True)

    class Meta(PayoutSerializer.Meta):
        fields = [*PAYOUT_FIELDS, "commissions", "events"]
        read_only_fields = fields


RUN_FIELDS = [
    "id", "currency", "schedule", "status", "note", "created_at", "created_by", "approved_by",
    "approved_at", "completed_at", "skipped", "payout_count", "total", "paid_total",
]  # fmt: skip


class PayoutRunSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    approved_by = serializers.CharField(source="approved_by.username", default=None)
    payout_count = serializers.IntegerField(read_only=True)
    total = serializers.IntegerField(read_only=True, help_text="Minor units, every payout.")
    paid_total = serializers.IntegerField(read_only=True, help_text="Minor units, paid ones.")

    class Meta:
        from sales.payout_models import PayoutRun

        model = PayoutRun
        fields = RUN_FIELDS
        read_only_fields = RUN_FIELDS


class PayoutRunDetailSerializer(PayoutRunSerializer):
    payouts = PayoutSerializer(many=True, read_only=True)
    events = PayoutEventSerializer(many=True, read_only=True)

    class Meta(PayoutRunSerializer.Meta):
        fields = [*RUN_FIELDS, "payouts", "events"]
        read_only_fields = fields


class PayoutRunCreateSerializer(serializers.Serializer):
    currency = serializers.CharField(max_length=3, help_text="ISO 4217, e.g. EUR.")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class PayoutRunApproveSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class PayoutRunCancelSerializer(serializers.Serializer):
    reason = serializers.CharField()


# --- fulfilment (issue 19) -------------------------------------------------------------------


class FulfilmentLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(source="line_id", read_only=True)
    sku = serializers.CharField(source="line.sku", read_only=True)
    quantity = serializers.IntegerField(read_only=True)


class FulfilmentSerializer(serializers.ModelSerializer):
    lines = FulfilmentLineSerializer(many=True, read_only=True)

    class Meta:
        from sales.fulfilment_models import Fulfilment

        model = Fulfilment
        fields = [
            "id", "order", "source", "external_id", "carrier", "tracking_number", "tracking_url",
            "status", "shipped_at", "delivered_at", "tracking_status", "push_state",
            "push_message", "push_attempts", "pushed_at", "lines",
        ]  # fmt: skip
        read_only_fields = fields


class ParcelLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(required=False, help_text="An order line id.")
    sku = serializers.CharField(required=False, max_length=255, help_text="Or its SKU.")
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)

    def validate(self, attrs):
        if "line" not in attrs and not attrs.get("sku"):
            raise serializers.ValidationError("Give the order line's id (line) or its sku.")
        return attrs


class FulfilmentCreateSerializer(serializers.Serializer):
    carrier = serializers.CharField(max_length=40, help_text="ups, usps, fedex, dhl, ...")
    tracking_number = serializers.CharField(max_length=100)
    tracking_url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    lines = ParcelLineInputSerializer(
        many=True, required=False, help_text="Empty or absent: every unit still to ship."
    )
