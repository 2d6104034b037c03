from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from core.api import error_response
from previews.fetch import BlockedURL, InvalidURL
from previews.models import LinkPreview
from previews.normalize import normalize_url
from previews.serializers import (
    LinkPreviewSerializer,
    PreviewOverrideSerializer,
    PreviewRequestSerializer,
    PreviewStatusSerializer,
)
from previews.services import (
    BLOCKED_MESSAGE,
    preview_override,
    preview_request,
    refusal_message,
)


def refusal(exc: InvalidURL | BlockedURL) -> tuple[int, str, str]:
    """(HTTP status, code, message) for a URL the previews refuse: 422 without detail for
    a target that is not public (however its host is spelled), 400 with the reason for
    everything else (malformed, a port outside 1-65535 or not allowed)."""
    if isinstance(exc, BlockedURL) and exc.code == "blocked_address":
        return 422, "blocked_url", refusal_message(exc)
    return 400, "invalid_url", refusal_message(exc)


class LinkPreviewViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """What a URL looks like when shared. Fetching happens in the background."""

    serializer_class = LinkPreviewSerializer
    queryset = LinkPreview.objects.all()

    @extend_schema(
        request=PreviewRequestSerializer,
        responses={
            200: LinkPreviewSerializer,
            202: PreviewStatusSerializer,
            400: OpenApiResponse(
                description="The URL is malformed, or its port is outside 1-65535 or not "
                "allowed; the message says why."
            ),
            422: OpenApiResponse(
                description="The URL points somewhere that is not allowed (a local name "
                "or a non-public address, however spelled)."
            ),
        },
    )
    def create(self, request):
        """Preview a URL: 200 with the preview when it is fresh, else 202 while it is fetched
        (with the status and the reason when the fetch has already failed)."""
        body = PreviewRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            preview, fresh = preview_request(url=body.validated_data["url"], strict=True)
        except (InvalidURL, BlockedURL) as exc:
            code, error, message = refusal(exc)
            return error_response(error, message, {"url": [message]}, code)
        if preview.status == LinkPreview.Status.BLOCKED:
            return error_response("blocked_url", BLOCKED_MESSAGE, {"url": [BLOCKED_MESSAGE]}, 422)
        if fresh:
            return Response(self.get_serializer(preview).data)
        return Response(
            {"id": preview.pk, "url": preview.url, "status": preview.status,
             "error": preview.error},
            status=status.HTTP_202_ACCEPTED,
        )  # fmt: skip

    @extend_schema(
        request={
            "application/json": PreviewOverrideSerializer,
            "multipart/form-data": PreviewOverrideSerializer,
        },
        responses={
            200: LinkPreviewSerializer,
            400: OpenApiResponse(description="A value is refused; `fields` names it."),
        },
    )
    def partial_update(self, request, pk=None):
        """Set what the card shows: title, description and image, kept apart from the
        scraped values (a refresh never changes them). Needs the change permission."""
        preview = self.get_object()
        body = PreviewOverrideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        preview = preview_override(
            preview_id=preview.pk,
            actor=request.user,
            title=data.get("title_override"),
            description=data.get("description_override"),
            image=data.get("image_override"),
            clear_image=data.get("clear_image_override", False),
        )
        return Response(self.get_serializer(preview).data)

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
