"""The JSON shapes of the shoppable feed API."""

from django.conf import settings
from rest_framework import serializers

from core.absolute_urls import absolute_url


class AbsoluteURLField(serializers.CharField):
    """A stored or storage URL made absolute (PUBLIC_BASE_URL, else the request's host)."""

    def to_representation(self, value):
        if not value:
            return ""
        return absolute_url(str(value), self.context.get("request"))


class FeedQuerySerializer(serializers.Serializer):
    cursor = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="The next_cursor of the previous page; leave out for the first page.",
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.UGC_FEED_MAX_PAGE_SIZE,
        help_text=f"Items per page (default {settings.UGC_FEED_PAGE_SIZE}).",
    )


class FeedRenditionSerializer(serializers.Serializer):
    label = serializers.CharField()
    url = AbsoluteURLField()
    content_type = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)


class FeedMediaSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["image", "video"])
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    aspect = serializers.FloatField(allow_null=True)
    display_url = AbsoluteURLField(help_text="The picture, or the video's poster.")
    thumbnail_url = AbsoluteURLField()
    renditions = FeedRenditionSerializer(many=True, help_text="Videos: smallest first.")
    duration_s = serializers.FloatField(allow_null=True)
    hls_url = AbsoluteURLField(
        help_text="Videos: the HLS master playlist (360p to 1080p ladder); empty if none."
    )
    preview_url = AbsoluteURLField(
        help_text="Videos: a 3-second muted MP4 loop for grids and cards; empty if none."
    )


class FeedTagSerializer(serializers.Serializer):
    x = serializers.FloatField(help_text="0 (left) to 1 (right) of the media's frame.")
    y = serializers.FloatField(help_text="0 (top) to 1 (bottom) of the media's frame.")
    start_s = serializers.FloatField(allow_null=True, help_text="Videos: shown from (s).")
    end_s = serializers.FloatField(allow_null=True, help_text="Videos: shown until (s).")


class FeedProductSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    brand = serializers.CharField()
    url = serializers.URLField(help_text="The product page.")
    price = serializers.CharField(help_text="Formatted, e.g. $19.99; empty without a variant.")
    amount = serializers.CharField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    in_stock = serializers.BooleanField()
    image_url = AbsoluteURLField()
    image_alt = serializers.CharField()
    link_code = serializers.CharField()
    link_path = serializers.CharField(help_text="The short link's path, /p/<code>.")
    link_url = serializers.URLField(
        help_text="The short link to send shoppers through: it credits the item and its creator."
    )
    tag = FeedTagSerializer(
        allow_null=True,
        help_text="Shop the look: where the product is in the frame; null if untagged.",
    )


class FeedItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    caption = serializers.CharField()
    author_handle = serializers.CharField()
    creator_handle = serializers.CharField()
    published_at = serializers.DateTimeField()
    media = FeedMediaSerializer()
    products = FeedProductSerializer(many=True)
    watch_url = serializers.CharField(
        allow_blank=True,
        help_text="A TikTok video's page on TikTok (the item is its cover image); empty else.",
    )


class FeedPageSerializer(serializers.Serializer):
    items = FeedItemSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Null on the last page.")
    next = serializers.URLField(allow_null=True, help_text="The next page's URL.")
