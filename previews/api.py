from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from core.api import error_response
from previews.fetch import BlockedURL, InvalidURL, check_url
from previews.models import LinkPreview
from previews.normalize import normalize_url
from previews.serializers import (
    LinkPreviewSerializer,
    PreviewRequestSerializer,
    PreviewStatusSerializer,
)
from previews.services import BLOCKED_MESSAGE, preview_request


class LinkPreviewViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """What a URL looks like when shared. Fetching happens in the background."""

    serializer_class = LinkPreviewSerializer
    queryset = LinkPreview.objects.all()

    @extend_schema(
        request=PreviewRequestSerializer,
        responses={
            200: LinkPreviewSerializer,
            202: PreviewStatusSerializer,
            400: OpenApiResponse(description="The URL is malformed; the message says why."),
            422: OpenApiResponse(description="The URL points somewhere that is not allowed."),
        },
    )
    def create(self, request):
        """Preview a URL: 200 with the preview when it is fresh, else 202 while it is fetched."""
        body = PreviewRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        url = body.validated_data["url"]
        try:
            normalize_url(url)
            check_url(url)
        except InvalidURL as exc:
            return error_response("invalid_url", exc.message, {"url": [exc.message]}, 400)
        except BlockedURL:
            return error_response("blocked_url", BLOCKED_MESSAGE, {"url": [BLOCKED_MESSAGE]}, 422)
        preview, fresh = preview_request(url=url)
        if preview.status == LinkPreview.Status.BLOCKED:
            return error_response("blocked_url", BLOCKED_MESSAGE, {"url": [BLOCKED_MESSAGE]}, 422)
        if fresh:
            return Response(self.get_serializer(preview).data)
        return Response(
            {"id": preview.pk, "url": preview.url, "status": preview.status},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        parameters=[OpenApiParameter("url", str, required=True, description="The page's URL.")],
        responses={200: LinkPreviewSerializer, 404: OpenApiResponse(description="No preview")},
    )
    def list(self, request):
        """The stored preview of `?url=` (normalised the same way), or 404."""
        url = request.query_params.get("url", "")
        try:
            normal = normalize_url(url)
        except InvalidURL as exc:
            return error_response("invalid_url", exc.message, {"url": [exc.message]}, 400)
        preview = LinkPreview.objects.filter(url=normal).first()
        if preview is None:
            return error_response("not_found", "No preview of this URL yet.", {}, 404)
        return Response(self.get_serializer(preview).data)
