from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.absolute_urls import absolute_url
from links import selectors
from links.models import RoutingRule, ShortLink, SplitArm

DESTINATION_FIELDS = ["product", "variant", "url"]


class RoutingRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = RoutingRule
        fields = [
            "id", "position", "countries", "languages", "device_os", "in_app", "query_param",
            "query_value", "active_from", "active_until", *DESTINATION_FIELDS,
        ]  # fmt: skip
        read_only_fields = ["id"]


class SplitArmSerializer(serializers.ModelSerializer):
    class Meta:
        model = SplitArm
        fields = ["id", "label", "weight", *DESTINATION_FIELDS]
        read_only_fields = ["id"]
        validators = []  # (link, label) uniqueness is checked when the link's arms are saved


class ShortLinkSerializer(serializers.ModelSerializer):
    short_url = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    rules = RoutingRuleSerializer(many=True, required=False)
    split_arms = SplitArmSerializer(many=True, required=False)

    class Meta:
        model = ShortLink
        fields = [
            "id", "code", "short_url", "status", *DESTINATION_FIELDS, "title", "creator",
            "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
            "extra_params", "active", "starts_at", "expires_at", "fallback_url", "notes",
            "rules", "split_arms", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # the service checks codes and destinations, with field errors
        extra_kwargs = {"code": {"validators": [], "required": False}}

    def get_short_url(self, obj) -> str:
        return absolute_url(obj.get_absolute_url(), self.context.get("request"))

    @extend_schema_field(serializers.ChoiceField(choices=ShortLink.Status.choices))
    def get_status(self, obj) -> str:
        return selectors.link_status(obj)


class ClickCountSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The day (YYYY-MM-DD), country, device, source or route.")
    clicks = serializers.IntegerField()
    unique_clicks = serializers.IntegerField()
    bot_hits = serializers.IntegerField()


class ClickCountsQuerySerializer(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=list(selectors.GROUPINGS), default="day")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
