from rest_framework import serializers

from core.absolute_urls import absolute_url
from previews.models import LinkPreview
from previews.services import BLOCKED_MESSAGE, OVERRIDE_LIMITS


class PreviewRequestSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=4096, help_text="The page to preview (http or https).")


class PreviewOverrideSerializer(serializers.Serializer):
    """What the card shows instead of the scraped values. Send only what changes."""

    title_override = serializers.CharField(
        required=False, allow_blank=True, max_length=OVERRIDE_LIMITS["title"],
        help_text="The card's title; an empty string goes back to the scraped title.",
    )  # fmt: skip
    description_override = serializers.CharField(
        required=False, allow_blank=True, max_length=OVERRIDE_LIMITS["description"],
        trim_whitespace=False,
        help_text="The card's description; an empty string goes back to the scraped one.",
    )  # fmt: skip
    image_override = serializers.FileField(
        required=False,
        help_text="The card's image (JPEG, PNG, WebP or GIF, multipart); it is re-encoded "
        "and cropped to 1200×630 and 600×315.",
    )
    clear_image_override = serializers.BooleanField(
        required=False, default=False, help_text="Go back to the scraped image."
    )


class LinkPreviewSerializer(serializers.ModelSerializer):
    """A preview: what was scraped, what the merchant wrote (`*_override`), and what cards
    and unfurls show (`card_*`: the merchant's value, else the scraped one)."""

    image = serializers.SerializerMethodField(help_text="Our 1200×630 card of the page's image.")
    image_small = serializers.SerializerMethodField(help_text="Our 600×315 card of it.")
    image_override = serializers.SerializerMethodField(
        help_text="The merchant's image, as a 1200×630 card."
    )
    image_override_small = serializers.SerializerMethodField(help_text="The same, 600×315.")
    card_title = serializers.CharField(read_only=True, help_text="What cards show.")
    card_description = serializers.CharField(read_only=True, help_text="What cards show.")
    card_image = serializers.SerializerMethodField(help_text="What cards show, 1200×630.")
    card_image_small = serializers.SerializerMethodField(help_text="What cards show, 600×315.")
    error = serializers.SerializerMethodField(help_text="Why the last fetch failed.")

    class Meta:
        model = LinkPreview
        fields = [
            "id", "url", "status", "final_url", "canonical_url", "title", "description",
            "image", "image_small", "image_url", "site_name", "type", "price", "currency",
            "availability", "brand", "sku", "gtin", "favicon_url", "oembed_html",
            "oembed_provider", "locale", "error", "http_status", "fetched_at",
            "next_refresh_at", "title_override", "description_override", "image_override",
            "image_override_small", "overridden_at", "card_title", "card_description",
            "card_image", "card_image_small",
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

    def get_image_override(self, obj) -> str | None:
        return self._file_url(obj.image_override)

    def get_image_override_small(self, obj) -> str | None:
        return self._file_url(obj.image_override_small)

    def get_card_image(self, obj) -> str | None:
        return self._file_url(obj.card_image)

    def get_card_image_small(self, obj) -> str | None:
        return self._file_url(obj.card_image_small)

    def get_error(self, obj) -> str:
        # A blocked target says only that: no detail that helps scanning a network.
        return BLOCKED_MESSAGE if obj.status == LinkPreview.Status.BLOCKED else obj.error


class PreviewStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    status = serializers.ChoiceField(choices=LinkPreview.Status.choices)
    error = serializers.CharField(help_text="Why the fetch failed, when it did.")
