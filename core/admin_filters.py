"""List filters the console's apps share."""

from django.contrib import admin


class CurrencyInUseFilter(admin.SimpleListFilter):
    """Filter by the currencies the list's rows use, not by every ISO 4217 code.

    `field_path` names the currency from the listed model (`"currency"`, or across a
    relation, `"variants__currency"`). A row matching through several related rows is
    listed once.
    """

    title = "currency"
    parameter_name = "currency"
    field_path = "currency"

    def lookups(self, request, model_admin):
        used = (
            model_admin.model._default_manager.order_by()
            .values_list(self.field_path, flat=True)
            .distinct()
        )
        return [(code, code) for code in sorted({code for code in used if code})]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        matching = queryset.model._default_manager.filter(**{self.field_path: self.value()})
        return queryset.filter(pk__in=matching.values("pk"))
