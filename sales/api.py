"""The sales API: orders (read) and channels (create, read, update, delete)."""

from django.db.models import ProtectedError
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from core.errors import ApplicationError
from sales import fulfilment, selectors, services
from sales.fulfilment_models import Fulfilment
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


# --- ledger and payouts (issue 14): balances, payout runs (make, approve, cancel), payouts ---

from django.db.models import Prefetch  # noqa: E402
from rest_framework.decorators import action  # noqa: E402
from rest_framework.exceptions import PermissionDenied  # noqa: E402

from sales import payouts as payout_services  # noqa: E402
from sales.payout_models import Payout, PayoutRun, PayoutRunEvent  # noqa: E402
from sales.serializers import (  # noqa: E402
    BalanceSerializer,
    PayoutDetailSerializer,
    PayoutRunApproveSerializer,
    PayoutRunCancelSerializer,
    PayoutRunCreateSerializer,
    PayoutRunDetailSerializer,
    PayoutRunSerializer,
    PayoutSerializer,
)


def _int_param(params, name):
    value = params.get(name)
    if value in (None, ""):
        return None
    if not value.isdigit():
        raise ApplicationError(f"{name}: an id.", fields={name: "An id."})
    return int(value)


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("currency", OpenApiTypes.STR, description="ISO 4217, e.g. USD."),
    OpenApiParameter("creator", OpenApiTypes.INT, description="A creator id."),
    OpenApiParameter("search", OpenApiTypes.STR, description="Part of a handle or name."),
]))  # fmt: skip
class BalanceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """What each creator is owed, per currency, in minor units: pending (held), available,
    in payout, paid, receivable (clawbacks owed back) and payable. Owner and Finance only."""

    serializer_class = BalanceSerializer
    queryset = selectors.creator_balances()  # the model StaffModelPermissions checks

    def get_queryset(self):
        params = self.request.query_params
        currency = params.get("currency", "")
        if currency and not (len(currency) == 3 and currency.isupper()):
            raise ApplicationError("currency: an ISO 4217 code, e.g. USD.",
                                   fields={"currency": "ISO 4217."})  # fmt: skip
        return selectors.creator_balances(currency=currency, search=params.get("search", ""),
                                          creator_id=_int_param(params, "creator"))  # fmt: skip


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("currency", OpenApiTypes.STR),
    OpenApiParameter("status", OpenApiTypes.STR, enum=PayoutRun.Status.values),
]))  # fmt: skip
class PayoutRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                       viewsets.GenericViewSet):  # fmt: skip
    """Payout runs. `POST` makes one (on demand) for a currency; another person approves it
    (`POST …/approve`, Owner or Finance, never the maker) before anything is sent; a run
    waiting for approval can be cancelled with a reason (`POST …/cancel`)."""

    queryset = PayoutRun.objects.none()

    def get_serializer_class(self):
        if self.action == "create":
            return PayoutRunCreateSerializer
        if self.action == "approve":
            return PayoutRunApproveSerializer
        if self.action == "cancel":
            return PayoutRunCancelSerializer
        return PayoutRunDetailSerializer if self.action == "retrieve" else PayoutRunSerializer

    def get_queryset(self):
        runs = selectors.payout_runs_for_list()
        if self.action == "retrieve":
            return runs.prefetch_related(
                Prefetch("payouts", queryset=Payout.objects.select_related("creator")),
                Prefetch("events", queryset=PayoutRunEvent.objects.select_related("actor")),
            )
        params = self.request.query_params
        if params.get("currency"):
            runs = runs.filter(currency=params["currency"])
        if params.get("status"):
            if params["status"] not in PayoutRun.Status.values:
                raise ApplicationError(f"status: one of {', '.join(PayoutRun.Status.values)}.",
                                       fields={"status": "Unknown status."})  # fmt: skip
            runs = runs.filter(status=params["status"])
        return runs

    @extend_schema(request=PayoutRunCreateSerializer, responses={201: PayoutRunDetailSerializer})
    def create(self, request, *args, **kwargs):
        serializer = PayoutRunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = payout_services.payout_run_create(
            currency=serializer.validated_data["currency"],
            note=serializer.validated_data["note"], actor=request.user,
        )  # fmt: skip
        if run is None:
            raise ApplicationError("Nobody has anything available in that currency: no run "
                                   "was made.", code="nothing_to_pay")  # fmt: skip
        return Response(PayoutRunSerializer(self._run(run.pk)).data, status=status.HTTP_201_CREATED)

    def _run(self, pk):
        return selectors.payout_runs_for_list().get(pk=pk)

    @extend_schema(request=PayoutRunApproveSerializer, responses=PayoutRunSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        serializer = PayoutRunApproveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payout_services.payout_run_approve(run_id=int(pk), actor=request.user,
                                           note=serializer.validated_data["note"])  # fmt: skip
        return Response(PayoutRunSerializer(self._run(pk)).data)

    @extend_schema(request=PayoutRunCancelSerializer, responses=PayoutRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        if not request.user.has_perm("sales.change_payoutrun"):
            raise PermissionDenied("Only Owner or Finance may cancel a payout run.")
        serializer = PayoutRunCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payout_services.payout_run_cancel(run_id=int(pk), actor=request.user,
                                          reason=serializer.validated_data["reason"])  # fmt: skip
        return Response(PayoutRunSerializer(self._run(pk)).data)


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("run", OpenApiTypes.INT), OpenApiParameter("creator", OpenApiTypes.INT),
    OpenApiParameter("status", OpenApiTypes.STR, enum=Payout.Status.values),
]))  # fmt: skip
class PayoutViewSet(viewsets.ReadOnlyModelViewSet):
    """Payouts, newest first; one by one with the commissions they cover and their audit."""

    queryset = Payout.objects.none()

    def get_serializer_class(self):
        return PayoutDetailSerializer if self.action == "retrieve" else PayoutSerializer

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.payout_detail()
        params = self.request.query_params
        payouts = Payout.objects.select_related("creator").order_by("-created_at", "-pk")
        run, creator = _int_param(params, "run"), _int_param(params, "creator")
        if run:
            payouts = payouts.filter(run_id=run)
        if creator:
            payouts = payouts.filter(creator_id=creator)
        if params.get("status"):
            if params["status"] not in Payout.Status.values:
                raise ApplicationError(f"status: one of {', '.join(Payout.Status.values)}.",
                                       fields={"status": "Unknown status."})  # fmt: skip
            payouts = payouts.filter(status=params["status"])
        return payouts


# --- fulfilment (issue 19) -------------------------------------------------------------------

from rest_framework.exceptions import NotFound  # noqa: E402

from sales.serializers import FulfilmentCreateSerializer, FulfilmentSerializer  # noqa: E402


class OrderFulfilmentViewSet(mixins.ListModelMixin, mixins.CreateModelMixin,
                             viewsets.GenericViewSet):  # fmt: skip
    """`/api/orders/<id>/fulfilments`: an order's parcels. `POST` ships one (carrier, tracking
    number, lines and quantities; no lines = the rest of the order). The same tracking number
    again returns the parcel recorded first (200) and changes nothing. Orders from Shopify or
    TikTok Shop get the tracking number on the channel; `push_state` and `push_message` say
    what the channel answered."""

    queryset = Fulfilment.objects.none()
    serializer_class = FulfilmentSerializer
    pagination_class = None

    def get_queryset(self):
        order_id = int(self.kwargs["order_id"])
        if not Order.objects.filter(pk=order_id).exists():
            raise NotFound(f"Order #{order_id} does not exist.")
        return (
            Fulfilment.objects.filter(order_id=order_id)
            .prefetch_related("lines__line")
            .order_by("shipped_at", "pk")
        )

    @extend_schema(
        request=FulfilmentCreateSerializer,
        responses={201: FulfilmentSerializer, 200: FulfilmentSerializer},
    )
    def create(self, request, *args, **kwargs):
        order_id = int(self.kwargs["order_id"])
        if not Order.objects.filter(pk=order_id).exists():
            raise NotFound(f"Order #{order_id} does not exist.")
        serializer = FulfilmentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        before = Fulfilment.objects.filter(order_id=order_id).count()
        parcel = fulfilment.fulfilment_create(
            order_id=order_id, carrier=data["carrier"], tracking_number=data["tracking_number"],
            tracking_url=data.get("tracking_url", ""), source=Fulfilment.Source.API,
            actor=request.user,
            lines=[fulfilment.ParcelLine(quantity=x["quantity"], line_id=x.get("line"),
                                         sku=x.get("sku", "")) for x in data.get("lines", [])],
        )  # fmt: skip
        created = Fulfilment.objects.filter(order_id=order_id).count() > before
        parcel = self.get_queryset().get(pk=parcel.pk)
        return Response(
            FulfilmentSerializer(parcel).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
