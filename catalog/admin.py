"""The catalog in the merchant console: products with their variants and images inline."""

from django import forms
from django.contrib import admin
from django.db.models import Count, Sum
from django.utils.html import format_html, format_html_join
from unfold.widgets import UnfoldAdminFileFieldWidget  # Unfold's file input (its app.js needs it)

from catalog import services
from catalog.models import Product, ProductImage, Variant
from core import admin_base as console
from core import images
from core.admin_filters import CurrencyInUseFilter
from core.money import format_money, is_currency, quantize
from integrations.admin import ListingInline  # integrations: where a product is listed


class ProductImageForm(forms.ModelForm):
    """Checks and re-encodes the upload in the form, so errors show beside the field."""

    image = forms.FileField(
        widget=UnfoldAdminFileFieldWidget,
        help_text="JPEG, PNG, WebP or GIF. Re-encoded on upload; camera data (EXIF) is removed.",
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


class ProductImageInline(console.TabularInline):
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


def _sized(widget_class, width: str, **attrs):
    return widget_class(attrs={"style": f"width:{width}", **attrs})


class VariantForm(forms.ModelForm):
    """A variant's prices read in its currency's minor units (`24.99`, `1999` for JPY, never
    `24.9900`), and inputs sized so that the product page's variant rows fit a laptop."""

    class Meta:
        model = Variant
        fields = [
            "product", "sku", "gtin", "attributes", "price", "currency", "compare_at_price",
            "stock_on_hand", "position", "active",
        ]  # fmt: skip
        widgets = {
            "sku": _sized(forms.TextInput, "9em"),
            "gtin": _sized(forms.TextInput, "9.5em", inputmode="numeric"),
            "attributes": forms.Textarea(attrs={"rows": 2, "style": "width:11em"}),
            "price": _sized(forms.NumberInput, "6.5em"),
            "compare_at_price": _sized(forms.NumberInput, "6.5em"),
            "stock_on_hand": _sized(forms.NumberInput, "4.5em"),
            "position": _sized(forms.NumberInput, "3.5em"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        variant = self.instance
        if variant.pk and is_currency(variant.currency):
            for name in ("price", "compare_at_price"):
                value = getattr(variant, name)
                if value is not None and name in self.fields:
                    self.initial[name] = quantize(value, variant.currency)


class VariantInline(console.TabularInline):
    model = Variant
    form = VariantForm
    extra = 1
    fields = [
        "sku", "gtin", "attributes", "price", "currency", "compare_at_price",
        "stock_on_hand", "held", "position", "active",
    ]  # fmt: skip
    readonly_fields = ["held"]

    @admin.display(description="Held")
    def held(self, obj):
        """Units checkouts reserve and paid orders not yet shipped hold (the sales app moves
        them; the console never writes them)."""
        if not obj or not obj.pk:
            return "–"
        return format_html(
            '<span class="no-break">{} reserved</span><br>'
            '<span class="no-break">{} committed</span>',
            obj.stock_reserved, obj.stock_committed,
        )  # fmt: skip


class CurrencyFilter(CurrencyInUseFilter):
    field_path = "currency"


class ProductCurrencyFilter(CurrencyInUseFilter):
    field_path = "variants__currency"


def image_preview(image):
    if image is None or not image.pk:
        return "–"
    source = image.thumbnail or image.image
    return format_html(
        '<img src="{}" alt="" style="height:48px;width:48px;object-fit:cover;border-radius:6px">',
        source.url,
    )


@admin.register(Product)
class ProductAdmin(console.ModelAdmin):
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
    list_filter = ["active", "brand", ProductCurrencyFilter]
    search_fields = ["title", "slug", "brand", "variants__sku", "variants__gtin"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [VariantInline, ProductImageInline, ListingInline]
    list_per_page = 50
    actions = ["make_active", "make_inactive"]
    view_on_site = True
    readonly_fields = ["days_of_cover"]

    @admin.display(description="Days of cover")
    def days_of_cover(self, obj):
        """Issue 19: each variant's sales rate (paid orders net of refunds), the days its
        free stock lasts at that rate, and whether to reorder (below `reorder_days`)."""
        from sales import cover

        if obj is None or obj.pk is None:
            return "–"
        rows = cover.product_cover(obj.pk)
        return format_html(
            '<table class="days-of-cover"><thead><tr><th>SKU</th><th>Free stock</th>'
            "<th>Per day (7 d / 28 d)</th><th>Days left</th><th></th></tr></thead>"
            "<tbody>{}</tbody></table>",
            format_html_join(
                "",
                '<tr data-sku="{}"><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td>'
                "<td>{}</td></tr>",
                (
                    (r.sku, r.sku, r.stock, r.velocity_7, r.velocity_28,
                     "no sales" if r.days_left is None else r.days_left,
                     "Reorder" if r.reorder else "")
                    for r in rows
                ),
            ),
        )  # fmt: skip

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
class VariantAdmin(console.ModelAdmin):
    form = VariantForm
    list_display = [
        "sku", "product", "option", "price_display",
        "stock_on_hand", "stock_reserved", "stock_committed", "active",
    ]  # fmt: skip
    readonly_fields = ["stock_reserved", "stock_committed"]
    list_filter = [CurrencyFilter, "active"]
    search_fields = ["sku", "gtin", "product__title"]
    list_select_related = ["product"]
    autocomplete_fields = ["product"]
    list_per_page = 100

    def get_search_results(self, request, queryset, search_term):
        # The variant autocomplete beside a product (a short link, its rules and arms, a UGC
        # mapping) sends that product: list only its variants (static/console/variant_choices.js).
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        product = request.GET.get("product", "")
        if request.GET.get("field_name") == "variant" and product.isdigit():
            queryset = queryset.filter(product_id=int(product))
        return queryset, may_have_duplicates

    @admin.display(description="Option")
    def option(self, obj):
        return obj.option_label or "–"

    @admin.display(description="Price", ordering="price")
    def price_display(self, obj):
        return format_money(obj.price, obj.currency, unambiguous=True)

    def save_model(self, request, obj, form, change):
        services.variant_save(variant=obj)
