from decimal import Decimal

from rest_framework import serializers

from attribution.models import Attribution, AttributionRevision, FraudSignal
from creators.models import CommissionRule, CreatorGroup, Program, RuleSet


class ProgramSerializer(serializers.ModelSerializer):
    class Meta:
        model = Program
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "currency",
            "active",
            "is_default",
            "touch",
            "window_days",
            "lifetime_lock",
            "policy_version",
            "base_less_discounts",
            "base_less_tax",
            "base_less_shipping",
            "payout_schedule",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["policy_version", "created_at", "updated_at"]


class CreatorGroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = CreatorGroup
        fields = [
            "id",
            "program",
            "name",
            "slug",
            "application_mode",
            "hold_days",
            "minimum_payout",
            "position",
            "created_at",
        ]
        read_only_fields = ["created_at"]


class CommissionRuleSerializer(serializers.ModelSerializer):
    products = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    collections = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    product_ids = serializers.ListField(
        child=serializers.IntegerField(), write_only=True, required=False
    )
    collection_ids = serializers.ListField(
        child=serializers.IntegerField(), write_only=True, required=False
    )

    class Meta:
        model = CommissionRule
        fields = [
            "id",
            "position",
            "name",
            "products",
            "collections",
            "product_ids",
            "collection_ids",
            "customer",
            "countries",
            "min_order_value",
            "max_order_value",
            "kind",
            "percent",
            "flat_amount",
            "cap",
        ]


class RuleSetSerializer(serializers.ModelSerializer):
    rules = CommissionRuleSerializer(many=True, read_only=True)

    class Meta:
        model = RuleSet
        fields = [
            "id",
            "group",
            "creator",
            "version",
            "status",
            "note",
            "published_at",
            "effective_at",
            "lowers",
            "rules",
            "created_at",
        ]
        read_only_fields = [
            "version",
            "status",
            "note",
            "published_at",
            "effective_at",
            "lowers",
            "rules",
            "created_at",
        ]


class PreviewSerializer(serializers.Serializer):
    product = serializers.IntegerField(required=False, allow_null=True)
    title = serializers.CharField(required=False, default="an item")
    quantity = serializers.IntegerField(min_value=1, default=1)
    unit_price = serializers.DecimalField(max_digits=18, decimal_places=4, min_value=Decimal(0))
    currency = serializers.CharField(max_length=3)
    returning = serializers.BooleanField(default=False)
    country = serializers.CharField(required=False, allow_blank=True, default="")


class FraudSignalSerializer(serializers.ModelSerializer):
    class Meta:
        model = FraudSignal
        fields = ["kind", "version", "evidence", "merchant_text", "creator_text", "created_at"]


class RevisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AttributionRevision
        fields = [
            "version",
            "creator",
            "rule",
            "policy",
            "candidates",
            "explanation",
            "commission_total",
            "reason",
            "decided_at",
        ]


class AttributionSerializer(serializers.ModelSerializer):
    creator_handle = serializers.CharField(source="creator.handle", default=None, read_only=True)
    signals = FraudSignalSerializer(many=True, read_only=True)
    revisions = RevisionSerializer(many=True, read_only=True)

    class Meta:
        model = Attribution
        fields = [
            "id",
            "order",
            "creator",
            "creator_handle",
            "rule",
            "policy",
            "click_id",
            "discount_code",
            "ugc_item_id",
            "late_click_id",
            "candidates",
            "explanation",
            "creator_explanation",
            "customer_returning",
            "group",
            "commission_total",
            "commission_currency",
            "commission_note",
            "review_reason",
            "version",
            "decided_at",
            "signals",
            "revisions",
        ]
        read_only_fields = fields


class RecomputeSerializer(serializers.Serializer):
    late_click_id = serializers.CharField(required=False, allow_blank=True, max_length=100)
    reason = serializers.CharField(required=False, default="Re-run from the API.")
