"""The public JSON feed: the same page of items as /shop/feed, with cursor pagination."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from ugc import selectors
from ugc.serializers import FeedPageSerializer, FeedQuerySerializer


class FeedView(APIView):
    """Published UGC with shoppable product cards, newest first. Public: no authentication."""

    authentication_classes = []  # public and read-only: no session or token lookup
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="ugc_feed_list",
        parameters=[FeedQuerySerializer],
        responses={
            200: FeedPageSerializer,
            400: OpenApiResponse(description="Invalid cursor or limit; the error says which."),
        },
    )
    def get(self, request):
        """A page of the shoppable feed; follow `next_cursor` for the next one."""
        query = FeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data.get("limit")
        page = selectors.feed_page(
            cursor=query.validated_data.get("cursor") or None, limit=limit, request=request
        )
        next_url = None
        if page.next_cursor:
            params = f"?cursor={page.next_cursor}" + (f"&limit={limit}" if limit else "")
            next_url = reverse("ugc-feed-list", request=request) + params
        body = {"items": page.items, "next_cursor": page.next_cursor, "next": next_url}
        return Response(FeedPageSerializer(body, context={"request": request}).data)
