from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from links import selectors, services
from links.models import RoutingRule, ShortLink, SplitArm
from links.serializers import (
    ClickCountSerializer,
    ClickCountsQuerySerializer,
    ShortLinkSerializer,
)


class ShortLinkViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Short links with their routing rules and A/B split. Links are deactivated, not deleted."""

    serializer_class = ShortLinkSerializer
    queryset = ShortLink.objects.none()  # for the schema; get_queryset is what runs

    def get_queryset(self):
        queryset = ShortLink.objects.prefetch_related("rules", "split_arms").order_by("-pk")
        params = self.request.query_params
        for name in ("creator", "campaign", "product"):
            if params.get(name, "").isdigit():
                queryset = queryset.filter(**{f"{name}_id": int(params[name])})
        if params.get("status"):
            queryset = selectors.links_with_status(queryset, params["status"])
        return queryset

    def perform_create(self, serializer):
        serializer.instance = self._save(ShortLink(), serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = self._save(serializer.instance, serializer.validated_data)

    def _save(self, link, data):
        rules = data.pop("rules", None)
        arms = data.pop("split_arms", None)
        for field, value in data.items():
            setattr(link, field, value)
        with transaction.atomic():
            link = services.link_save(link=link)
            if rules is not None:
                services.link_replace_rules(
                    link=link, rules=[RoutingRule(**rule) for rule in rules]
                )
            if arms is not None:
                services.link_replace_split_arms(link=link, arms=[SplitArm(**arm) for arm in arms])
        return ShortLink.objects.prefetch_related("rules", "split_arms").get(pk=link.pk)

    @extend_schema(request=None, responses=ShortLinkSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        link = services.link_deactivate(link=self.get_object())
        return Response(self.get_serializer(link).data)

    @extend_schema(
        parameters=[ClickCountsQuerySerializer],
        responses={
            200: ClickCountSerializer(many=True),
            400: OpenApiResponse(description="Bad query"),
        },
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def clicks(self, request, pk=None):
        """Clicks by day, country, device, source or route: total, unique and bot."""
        query = ClickCountsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.link_click_counts(self.get_object(), **query.validated_data)
        return Response(ClickCountSerializer(rows, many=True).data, status=status.HTTP_200_OK)
