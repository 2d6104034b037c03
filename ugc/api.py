"""The public JSON feed: the same page of items as /shop/feed, with cursor pagination; and
a collection's items (/shop/collections/<slug>/) in the same shape."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from core.errors import ApplicationError
from ugc import selectors
from ugc.serializers import FeedPageSerializer, FeedQuerySerializer


class FeedView(APIView):
    """Published UGC with shoppable product cards, newest first. Public: no authentication."""

    authentication_classes = []  # public and read-only: no session or token lookup
    permission_classes = [AllowAny]

    def page(self, request, *, cursor, limit):
        return selectors.feed_page(cursor=cursor, limit=limit, request=request)

    def next_url(self, request) -> str:
        return reverse("ugc-feed-list", request=request)

    def answer(self, request):
        query = FeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data.get("limit")
        page = self.page(request, cursor=query.validated_data.get("cursor") or None, limit=limit)
        next_url = None
        if page.next_cursor:
            params = f"?cursor={page.next_cursor}" + (f"&limit={limit}" if limit else "")
            next_url = self.next_url(request) + params
        body = {"items": page.items, "next_cursor": page.next_cursor, "next": next_url}
        return Response(FeedPageSerializer(body, context={"request": request}).data)

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
        return self.answer(request)


class CollectionFeedView(FeedView):
    """A collection's published items in the collection's order, shaped as the feed's pages.
    Public: no authentication; an inactive or unknown collection is a 404."""

    def page(self, request, *, cursor, limit):
        return selectors.collection_page(
            collection=self.collection, cursor=cursor, limit=limit, request=request
        )

    def next_url(self, request) -> str:
        kwargs = {"slug": self.collection.slug}
        return reverse("ugc-collection-feed", kwargs=kwargs, request=request)

    @extend_schema(
        operation_id="ugc_collection_feed",
        parameters=[FeedQuerySerializer],
        responses={
            200: FeedPageSerializer,
            400: OpenApiResponse(description="Invalid cursor or limit; the error says which."),
            404: OpenApiResponse(description="No active collection has this slug."),
        },
    )
    def get(self, request, slug):
        """A page of a collection; follow `next_cursor` for the next one."""
        self.collection = selectors.active_collection(slug)
        if self.collection is None:
            raise ApplicationError(f"No active collection {slug!r}.", code="not_found")
        return self.answer(request)
