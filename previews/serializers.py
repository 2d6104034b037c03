from rest_framework import serializers

from core.absolute_urls import absolute_url
from previews.models import LinkPreview
from previews.services import BLOCKED_MESSAGE


class PreviewRequestSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=4096, help_text="The page to preview (http or https).")


class LinkPreviewSerializer(serializers.ModelSerializer):
    image = serializers.SerializerMethodField(help_text="Our 1200×630 card image.")
    image_small = serializers.SerializerMethodField(help_text="Our 600×315 card image.")
    error = serializers.SerializerMethodField()

    class Meta:
        model = LinkPreview
        fields = [
            "id", "url", "status", "final_url", "canonical_url", "title", "description",
            "image", "image_small", "image_url", "site_name", "type", "price", "currency",
            "availability", "brand", "sku", "gtin", "favicon_url", "oembed_html",
            "oembed_provider", "locale", "error", "http_status", "fetched_at",
            "next_refresh_at",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {
            "oembed_html": {"help_text": "The provider's embed markup: untrusted, sandbox it."}
        }

    def _file_url(self, field) -> str | None:
        return absolute_url(field.url, self.context.get("request")) if field else None

    def get_image(self, obj) -> str | None:
        return self._file_url(obj.image)

    def get_image_small(self, obj) -> str | None:
        return self._file_url(obj.image_small)

    def get_error(self, obj) -> str:
        # A blocked target says only that: no detail that helps scanning a network.
        return BLOCKED_MESSAGE if obj.status == LinkPreview.Status.BLOCKED else obj.error


class PreviewStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    status = serializers.ChoiceField(choices=LinkPreview.Status.choices)
