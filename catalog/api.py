from rest_framework import viewsets

from catalog.selectors import products_with_details
from catalog.serializers import ProductSerializer


class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """Products with their active variants and images."""

    serializer_class = ProductSerializer

    def get_queryset(self):
        queryset = products_with_details().order_by("pk")
        active = self.request.query_params.get("active")
        if active in ("true", "false"):
            queryset = queryset.filter(active=active == "true")
        return queryset
