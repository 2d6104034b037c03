from rest_framework import serializers

from catalog.models import Product, ProductImage, Variant


class VariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Variant
        fields = [
            "id", "sku", "gtin", "price", "currency", "compare_at_price",
            "stock_on_hand", "stock_reserved", "stock_committed", "stock_available",
            "attributes", "position", "active",
        ]  # fmt: skip
        read_only_fields = ["stock_reserved", "stock_committed", "stock_available"]

    stock_available = serializers.IntegerField(read_only=True)


class ProductImageSerializer(serializers.ModelSerializer):
    url = serializers.FileField(source="image", read_only=True)
    thumbnail_url = serializers.FileField(source="thumbnail", read_only=True)

    class Meta:
        model = ProductImage
        fields = ["id", "url", "thumbnail_url", "width", "height", "alt_text", "position"]


class ProductSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    variants = VariantSerializer(many=True, read_only=True)
    images = ProductImageSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id", "title", "slug", "description", "brand", "active", "url",
            "variants", "images", "created_at", "updated_at",
        ]  # fmt: skip

    def get_url(self, obj) -> str:
        from core.absolute_urls import absolute_url

        return absolute_url(obj.get_absolute_url(), self.context.get("request"))
