from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from catalog.validators import validate_amount, validate_currency, validate_gtin, validate_sku
from core.money import CURRENCY_CHOICES, format_money, minor_units


class Product(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    brand = models.CharField(max_length=120, blank=True)
    reorder_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Reorder when a variant has fewer days of stock left than this at its sales "
        "rate (empty: the REORDER_DAYS setting).",
    )
    active = models.BooleanField(default=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["active", "title"], name="catalog_product_active_title")]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("catalog:product-page", kwargs={"slug": self.slug})


class Variant(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField("SKU", max_length=64, validators=[validate_sku])
    gtin = models.CharField(
        "GTIN",
        max_length=14,
        blank=True,
        validators=[validate_gtin],
        help_text="GTIN-8, UPC-A (12), EAN-13 or GTIN-14, with its check digit.",
    )
    price = models.DecimalField(max_digits=14, decimal_places=4)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD",
                                validators=[validate_currency])  # fmt: skip
    compare_at_price = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="The former price, shown struck through; must be above the price.",
    )
    stock_on_hand = models.IntegerField(default=0)
    # Held by checkouts in progress (sales reservations) and by paid orders not yet shipped.
    # Changed only by the conditional updates in catalog/stock.py, never by a form.
    stock_reserved = models.IntegerField(default=0, editable=False)
    stock_committed = models.IntegerField(default=0, editable=False)
    attributes = models.JSONField(
        default=dict, blank=True, help_text='Options such as {"size": "M", "colour": "Black"}.'
    )
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["sku"], name="catalog_variant_sku_unique"),
            models.UniqueConstraint(
                fields=["gtin"], condition=~Q(gtin=""), name="catalog_variant_gtin_unique"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="catalog_variant_price_gte_0"),
            models.CheckConstraint(
                condition=Q(compare_at_price__isnull=True) | Q(compare_at_price__gt=F("price")),
                name="catalog_variant_compare_at_above_price",
            ),
            models.CheckConstraint(
                condition=Q(stock_on_hand__gte=0), name="catalog_variant_stock_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(stock_reserved__gte=0), name="catalog_variant_reserved_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(stock_committed__gte=0), name="catalog_variant_committed_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(stock_on_hand__gte=F("stock_reserved") + F("stock_committed")),
                name="catalog_variant_held_within_on_hand",
            ),
        ]

    def __str__(self):
        return f"{self.sku} ({self.option_label or self.product.title})"

    @property
    def option_label(self) -> str:
        return " / ".join(str(v) for v in self.attributes.values()) if self.attributes else ""

    @property
    def stock_available(self) -> int:
        """Units a shopper can still buy: on hand less reserved and committed."""
        return self.stock_on_hand - self.stock_reserved - self.stock_committed

    @property
    def in_stock(self) -> bool:
        return self.active and self.stock_available > 0

    def clean(self):
        errors = {}
        for field in ("price", "compare_at_price"):
            try:
                validate_amount(getattr(self, field), self.currency, field=field)
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if (
            self.compare_at_price is not None
            and self.price is not None
            and self.compare_at_price <= self.price
        ):
            errors.setdefault("compare_at_price", []).append(
                "The compare-at price must be above the price."
            )
        if self.gtin:
            holder = Variant.objects.exclude(pk=self.pk).filter(gtin=self.gtin).first()
            if holder is not None:
                errors["gtin"] = [f"Variant {holder.sku} already has GTIN {self.gtin}."]
        if self.stock_on_hand is not None and self.stock_on_hand < 0:
            errors["stock_on_hand"] = ["Stock on hand cannot be negative."]
        elif self.stock_on_hand is not None and self.pk:
            held = (
                Variant.objects.filter(pk=self.pk)
                .values_list("stock_reserved", "stock_committed")
                .first()
            )
            if held and self.stock_on_hand < sum(held):
                errors["stock_on_hand"] = [
                    f"Stock on hand cannot be below the {held[0]} reserved and {held[1]} "
                    "committed units (checkouts in progress and paid orders not yet shipped)."
                ]
        if not isinstance(self.attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, str | int | float)
            for k, v in self.attributes.items()
        ):
            errors["attributes"] = [
                'Attributes are an object of names to values, e.g. {"size": "M"}.'
            ]
        if errors:
            raise ValidationError(errors)

    @property
    def price_decimal(self) -> Decimal:
        """The price quantised to its currency's minor units."""
        return self.price.quantize(Decimal(1).scaleb(-minor_units(self.currency)))

    @property
    def display_price(self) -> str:
        return format_money(self.price_decimal, self.currency)

    @property
    def display_compare_at(self) -> str:
        if self.compare_at_price is None:
            return ""
        return format_money(self.compare_at_price, self.currency)


def product_image_path(instance, filename):
    return f"products/{instance.product_id}/{filename}"


class ProductImage(models.Model):
    """A product photo, re-encoded on upload (EXIF stripped) with a thumbnail made by a job."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    # A FileField, not an ImageField: the file is checked and re-encoded by
    # core.images before it is stored, so nothing else should decode it.
    image = models.FileField(upload_to=product_image_path)
    width = models.PositiveIntegerField(default=0, editable=False)
    height = models.PositiveIntegerField(default=0, editable=False)
    content_type = models.CharField(max_length=40, editable=False, blank=True)
    thumbnail = models.FileField(upload_to="products/thumbs/", blank=True, editable=False)
    alt_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product", "position", "pk"]
        indexes = [
            models.Index(fields=["product", "position"], name="catalog_image_product_pos"),
        ]

    def __str__(self):
        return f"{self.product} image {self.position}"
