from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.inputs import as_service_fields
from links import selectors, services
from links.models import ShortLink
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
        link = services.link_create(**self._inputs(serializer.validated_data))
        serializer.instance = self._fresh(link.pk)

    def perform_update(self, serializer):
        link = services.link_update(
            link_id=serializer.instance.pk, **self._inputs(serializer.validated_data)
        )
        serializer.instance = self._fresh(link.pk)

    @staticmethod
    def _inputs(data: dict) -> dict:
        inputs = as_service_fields(data, only=services.LINK_FIELDS)
        if "rules" in data:
            inputs["rules"] = [
                as_service_fields(rule, only=services.RULE_FIELDS) for rule in data["rules"]
            ]
        if "split_arms" in data:
            inputs["split_arms"] = [
                as_service_fields(arm, only=services.ARM_FIELDS) for arm in data["split_arms"]
            ]
        return inputs

    @staticmethod
    def _fresh(link_id: int) -> ShortLink:
        return ShortLink.objects.prefetch_related("rules", "split_arms").get(pk=link_id)

    @extend_schema(request=None, responses=ShortLinkSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        link = services.link_deactivate(link_id=self.get_object().pk)
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
