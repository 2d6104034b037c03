"""Collections in the console (*UGC › UGC collections*): name, slug, description, the active
flag and the auto-fill rule, and the chosen items as an inline (an item picker that finds
published items, and a position each, smallest first). Same roles as the other UGC pages:
Moderators and Owners edit, Catalog managers and Finance see. Writes go through
`ugc.services` (`ugc_collection_save`, `ugc_collection_set_items`)."""

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html

from core import admin_base as console
from ugc import services
from ugc.admin.display import thumbnail_html
from ugc.admin.lists import _adopt
from ugc.collection_models import UGCCollection, UGCCollectionEntry
from ugc.models import UGCItem

# The item picker (autocomplete) of this inline asks the UGC item admin with this model name;
# it answers with published items only (see UGCItemAdmin.get_search_results).
ENTRY_MODEL_NAME = UGCCollectionEntry._meta.model_name


class EntryForm(forms.ModelForm):
    class Meta:
        model = UGCCollectionEntry
        fields = ["item", "position"]

    def clean_item(self):
        item = self.cleaned_data["item"]
        is_new = self.instance.pk is None or self.instance.item_id != item.pk
        if is_new and item.status != UGCItem.Status.PUBLISHED:
            raise forms.ValidationError(
                f"Item #{item.pk} is {item.get_status_display().lower()}; only published "
                "items go in a collection."
            )
        return item


class EntryFormSet(forms.BaseInlineFormSet):
    """An item twice is refused by the formset's own unique check (the constraint)."""

    def ordered_item_ids(self) -> list[int]:
        """The items kept, by position, then by their row (ties keep the order shown)."""
        rows = []
        for index, form in enumerate(self.forms):
            if self.can_delete and self._should_delete_form(form):
                continue
            item = form.cleaned_data.get("item") if hasattr(form, "cleaned_data") else None
            if item is None:
                continue
            rows.append((form.cleaned_data.get("position") or 0, index, item.pk))
        return [item_id for _, _, item_id in sorted(rows)]


class EntryInline(console.TabularInline):
    model = UGCCollectionEntry
    form = EntryForm
    formset = EntryFormSet
    fields = ["item", "position", "shown"]
    readonly_fields = ["shown"]
    autocomplete_fields = ["item"]
    ordering = ["position", "pk"]
    extra = 1

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("item")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "item":  # not the queue's ordering (an annotation of its own)
            kwargs["queryset"] = UGCItem.objects.order_by("-pk")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Item · status")
    def shown(self, obj):
        if obj is None or obj.pk is None:
            return "–"
        item = obj.item
        note = "" if item.status == UGCItem.Status.PUBLISHED else " (not shown)"
        return format_html(
            '{}<span class="cell-sub">{}{}</span>', thumbnail_html(item),
            item.get_status_display(), note,
        )  # fmt: skip


@admin.register(UGCCollection)
class UGCCollectionAdmin(console.ModelAdmin):
    list_display = ["name", "page", "active", "chosen_items", "auto_fill", "updated_at"]
    list_filter = ["active"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    fields = ["name", "slug", "description", "active", "auto_fill_brand", "auto_fill_limit"]
    inlines = [EntryInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_chosen=Count("entries"))

    @admin.display(description="Page", ordering="slug")
    def page(self, obj):
        url = obj.get_absolute_url()
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    @admin.display(description="Chosen items", ordering="_chosen")
    def chosen_items(self, obj):
        return obj._chosen

    @admin.display(description="Auto-fill")
    def auto_fill(self, obj):
        if not obj.auto_fill_brand:
            return "–"
        return f"Latest {obj.auto_fill_limit} of {obj.auto_fill_brand}"

    def save_model(self, request, obj, form, change):
        saved = services.ugc_collection_save(
            collection_id=obj.pk if change else None,
            name=obj.name,
            slug=obj.slug,
            description=obj.description,
            active=obj.active,
            auto_fill_brand=obj.auto_fill_brand,
            auto_fill_limit=obj.auto_fill_limit,
        )
        _adopt(obj, saved)

    def save_formset(self, request, form, formset, change):
        if not isinstance(formset, EntryFormSet):  # pragma: no cover - the one inline
            return super().save_formset(request, form, formset, change)
        collection = formset.instance
        before = set(collection.entries.values_list("item_id", flat=True))
        item_ids = formset.ordered_item_ids()
        entries = services.ugc_collection_set_items(
            collection_id=collection.pk, item_ids=item_ids, actor=request.user
        )
        # What the admin's history records (formset.save() is not called: the service saved).
        formset.new_objects = [e for e in entries if e.item_id not in before]
        formset.changed_objects = []
        formset.deleted_objects = [
            UGCCollectionEntry(collection=collection, item_id=item_id)
            for item_id in sorted(before - set(item_ids))
        ]
