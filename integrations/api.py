"""The integrations API: connections (read-only, with their sync status; never tokens) and
listings, plus "sync now" and "disconnect". Connecting happens in the console (OAuth)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import ApplicationError
from integrations import selectors, services
from integrations.models import Connection, Listing
from integrations.serializers import ConnectionSerializer, ListingSerializer, SyncQueuedSerializer


class _Can(permissions.BasePermission):
    perm = ""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_staff and request.user.has_perm(self.perm))


class CanSync(_Can):
    perm = "integrations.sync_connection"


class CanDisconnect(_Can):
    perm = "integrations.delete_connection"


def _id_filter(request, name: str):
    value = request.query_params.get(name)
    if value and not value.isdigit():
        raise ApplicationError(
            f"{name}: a whole number is required.",
            fields={name: ["A whole number is required."]},
        )
    return value


class ConnectionViewSet(viewsets.ReadOnlyModelViewSet):
    """Platform connections: status, account, scopes, last call and error, sync counts."""

    serializer_class = ConnectionSerializer

    def get_queryset(self):
        queryset = selectors.connections_with_status().order_by("pk")
        for name in ("platform", "status"):
            value = self.request.query_params.get(name)
            if value:
                queryset = queryset.filter(**{name: value})
        return queryset

    @extend_schema(
        parameters=[
            OpenApiParameter("platform", str, enum=["shopify", "tiktok_shop", "meta", "google"]),
            OpenApiParameter("status", str, enum=[s.value for s in Connection.Status]),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={202: SyncQueuedSerializer})
    @action(detail=True, methods=["post"], permission_classes=[CanSync])
    def sync(self, request, pk=None):
        """Sync now: a full import (Shopify) or every product checked and pushed."""
        connection = get_object_or_404(Connection, pk=pk)
        queued = services.connection_sync_now(connection_id=connection.pk, actor=request.user)
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: ConnectionSerializer})
    @action(detail=True, methods=["post"], permission_classes=[CanDisconnect])
    def disconnect(self, request, pk=None):
        """Revoke the grant at the platform where it has an endpoint; forget the tokens."""
        connection = get_object_or_404(Connection, pk=pk)
        services.connection_disconnect(connection_id=connection.pk, actor=request.user)
        fresh = selectors.connections_with_status().get(pk=connection.pk)
        return Response(ConnectionSerializer(fresh).data)


class ListingViewSet(viewsets.ReadOnlyModelViewSet):
    """Where each product is listed and in what state, with the platforms' messages."""

    serializer_class = ListingSerializer

    def get_queryset(self):
        queryset = Listing.objects.select_related("connection").order_by("pk")
        for name in ("connection", "product"):
            value = _id_filter(self.request, name)
            if value:
                queryset = queryset.filter(**{name: value})
        state = self.request.query_params.get("state")
        if state:
            queryset = queryset.filter(state=state)
        return queryset

    @extend_schema(
        parameters=[
            OpenApiParameter("connection", int),
            OpenApiParameter("product", int),
            OpenApiParameter("state", str, enum=[s.value for s in Listing.State]),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)
