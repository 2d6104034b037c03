"""The sales API: orders (read) and channels (create, read, update, delete)."""

from django.db.models import ProtectedError
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from core.errors import ApplicationError
from sales import selectors, services
from sales.models import Order, SalesChannel
from sales.serializers import OrderDetailSerializer, OrderSerializer, SalesChannelSerializer

ORDER_FILTERS = [
    OpenApiParameter("channel", OpenApiTypes.INT, description="A channel id."),
    OpenApiParameter("status", OpenApiTypes.STR, enum=Order.Status.values),
    OpenApiParameter("external_id", OpenApiTypes.STR, description="The provider's order id."),
    OpenApiParameter("placed_after", OpenApiTypes.DATETIME, description="ISO 8601, inclusive."),
    OpenApiParameter("placed_before", OpenApiTypes.DATETIME, description="ISO 8601, exclusive."),
]


def _time(params, name):
    value = params.get(name)
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise ApplicationError(
            f"{name}: an ISO 8601 time with its offset, e.g. 2026-01-31T12:00:00Z.",
            fields={name: "ISO 8601 with offset."},
        )
    return parsed


@extend_schema_view(list=extend_schema(parameters=ORDER_FILTERS))
class OrderViewSet(viewsets.ReadOnlyModelViewSet):
    """Orders from every channel, newest first, with their lines (and, one by one, their
    refunds, audit trail and the deliveries that built them)."""

    queryset = Order.objects.none()

    def get_serializer_class(self):
        return OrderDetailSerializer if self.action == "retrieve" else OrderSerializer

    def get_queryset(self):
        if self.action == "retrieve":  # with its attribution (issue 13)
            return selectors.order_detail().select_related("attribution__creator")
        queryset = Order.objects.select_related("channel").prefetch_related(
            "lines__variant"
        ).order_by("-placed_at", "-pk")  # fmt: skip
        params = self.request.query_params
        if params.get("channel"):
            if not params["channel"].isdigit():
                raise ApplicationError("channel: a channel id.", fields={"channel": "An id."})
            queryset = queryset.filter(channel_id=int(params["channel"]))
        if params.get("status"):
            if params["status"] not in Order.Status.values:
                raise ApplicationError(
                    f"status: one of {', '.join(Order.Status.values)}.",
                    fields={"status": f"One of {', '.join(Order.Status.values)}."},
                )
            queryset = queryset.filter(status=params["status"])
        if params.get("external_id"):
            queryset = queryset.filter(external_id=params["external_id"])
        after, before = _time(params, "placed_after"), _time(params, "placed_before")
        if after:
            queryset = queryset.filter(placed_at__gte=after)
        if before:
            queryset = queryset.filter(placed_at__lt=before)
        return queryset


class SalesChannelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet,
):  # fmt: skip
    """Sales channels. Secrets are write-only; giving `secret` on update rotates it."""

    serializer_class = SalesChannelSerializer
    queryset = SalesChannel.objects.order_by("pk")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.channel_create(
            provider=data.pop("provider"), name=data.pop("name"), secret=data.pop("secret"),
            **data,
        )  # fmt: skip

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("provider", None)
        secret = data.pop("secret", None)
        channel = services.channel_update(channel_id=serializer.instance.pk, **data)
        if secret and secret != channel.secret:
            channel = services.channel_rotate_secret(channel_id=channel.pk, new_secret=secret)
        serializer.instance = channel

    def destroy(self, request, *args, **kwargs):
        channel = self.get_object()
        try:
            channel.delete()
        except ProtectedError:
            raise ApplicationError(
                f"Channel {channel.name} has orders; deactivate it instead (active=false).",
                code="conflict",
            ) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
