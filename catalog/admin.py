"""The catalog in the merchant console: products with their variants and images inline."""

from django import forms
from django.contrib import admin
from django.db.models import Count, Sum
from django.utils.html import format_html

from catalog import services
from catalog.models import Product, ProductImage, Variant
from core import images
from integrations.admin import ListingInline  # integrations: where a product is listed


class ProductImageForm(forms.ModelForm):
    """Checks and re-encodes the upload in the form, so errors show beside the field."""

    image = forms.FileField(
        help_text="JPEG, PNG, WebP or GIF. Re-encoded on upload; camera data (EXIF) is removed."
    )

    class Meta:
        model = ProductImage
        fields = ["image", "alt_text", "position"]

    def clean_image(self):
        upload = self.cleaned_data["image"]
        if upload is not None and upload is not getattr(self.instance, "image", None):
            if hasattr(upload, "content_type"):  # a new upload, not the stored file
                self.processed = images.process_upload(upload)
        return upload


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    form = ProductImageForm
    extra = 1
    fields = ["preview", "image", "alt_text", "position", "dimensions"]
    readonly_fields = ["preview", "dimensions"]

    @admin.display(description="Preview")
    def preview(self, obj):
        return image_preview(obj)

    @admin.display(description="Size")
    def dimensions(self, obj):
        return f"{obj.width}×{obj.height}" if obj.pk else "–"


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 1
    fields = [
        "sku", "gtin", "attributes", "price", "currency", "compare_at_price",
        "stock_on_hand", "stock_reserved", "stock_committed", "position", "active",
    ]  # fmt: skip
    readonly_fields = ["stock_reserved", "stock_committed"]


def image_preview(image):
    if image is None or not image.pk:
        return "–"
    source = image.thumbnail or image.image
    return format_html(
        '<img src="{}" alt="" style="height:48px;width:48px;object-fit:cover;border-radius:6px">',
        source.url,
    )


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "thumb",
        "title",
        "brand",
        "variant_count",
        "stock_total",
        "active",
        "updated_at",
    ]
    list_display_links = ["thumb", "title"]
    list_filter = ["active", "brand", "variants__currency"]
    search_fields = ["title", "slug", "brand", "variants__sku", "variants__gtin"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [VariantInline, ProductImageInline, ListingInline]
    list_per_page = 50
    actions = ["make_active", "make_inactive"]
    view_on_site = True

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_variant_count=Count("variants", distinct=True))
            .annotate(_stock_total=Sum("variants__stock_on_hand"))
            .prefetch_related("images")
            # Meta.ordering does not apply to GROUP BY queries: say it again, for the
            # autocomplete (UGC product mappings) that pages through this queryset.
            .order_by("title", "pk")
        )

    @admin.display(description="")
    def thumb(self, obj):
        first = next(iter(obj.images.all()), None)
        return image_preview(first)

    @admin.display(description="Variants", ordering="_variant_count")
    def variant_count(self, obj):
        return obj._variant_count

    @admin.display(description="Stock", ordering="_stock_total")
    def stock_total(self, obj):
        return obj._stock_total or 0

    def save_model(self, request, obj, form, change):
        services.product_save(product=obj)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            deleted.delete()
        for instance in instances:
            if isinstance(instance, Variant):
                services.variant_save(variant=instance)
            elif isinstance(instance, ProductImage):
                sub_form = next(f for f in formset.forms if f.instance is instance)
                processed = getattr(sub_form, "processed", None)
                upload = sub_form.cleaned_data.get("image")
                services.product_image_save(
                    image=instance,
                    processed=processed,
                    original_name=getattr(upload, "name", "") if processed else "",
                )
        formset.save_m2m()

    @admin.action(description="Publish selected products", permissions=["change"])
    def make_active(self, request, queryset):
        updated = services.products_set_active(products=queryset, active=True)
        self.message_user(request, f"{updated} product(s) published.")

    @admin.action(description="Unpublish selected products", permissions=["change"])
    def make_inactive(self, request, queryset):
        updated = services.products_set_active(products=queryset, active=False)
        self.message_user(request, f"{updated} product(s) unpublished.")


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = [
        "sku", "product", "option", "price", "currency",
        "stock_on_hand", "stock_reserved", "stock_committed", "active",
    ]  # fmt: skip
    readonly_fields = ["stock_reserved", "stock_committed"]
    list_filter = ["currency", "active"]
    search_fields = ["sku", "gtin", "product__title"]
    list_select_related = ["product"]
    autocomplete_fields = ["product"]
    list_per_page = 100

    @admin.display(description="Option")
    def option(self, obj):
        return obj.option_label or "–"

    def save_model(self, request, obj, form, change):
        services.variant_save(variant=obj)
