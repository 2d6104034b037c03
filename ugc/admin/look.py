"""Shop the look in the console: click on the item's media to place each product's tag.

The page lists the products the item is mapped to; a moderator picks one, clicks where it is
in the photo or video frame (and, for a video, gives the seconds it is on screen), and saves.
Saving calls `ugc_tag_product`; adding a product to the look calls `ugc_map_product`.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from catalog.models import Product
from core.errors import ApplicationError
from ugc import services
from ugc.admin.permissions import can_moderate
from ugc.models import Placement, UGCItem
from ugc.selectors import item_media


class AddProductForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.filter(active=True).order_by("title"))
    placement = forms.ChoiceField(choices=Placement.choices, initial=Placement.HOME_FEED)


def look_rows(item: UGCItem) -> list[dict]:
    """One row per mapped product: its tag (from its first tagged mapping) and placements."""
    rows: dict[int, dict] = {}
    for mapping in item.product_maps.select_related("product").order_by("pk"):
        row = rows.setdefault(
            mapping.product_id,
            {"product": mapping.product, "placements": [], "mapping": mapping},
        )
        row["placements"].append(mapping.get_placement_display())
        if row["mapping"].tag_x is None and mapping.tag_x is not None:
            row["mapping"] = mapping
    return list(rows.values())


class LookMixin:
    def look_view(self, request, item_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        item = get_object_or_404(UGCItem, pk=item_id)
        url = reverse("admin:ugc_ugcitem_look", args=[item.pk])
        add_form = AddProductForm()
        if request.method == "POST":
            if not can_moderate(request):
                raise PermissionDenied
            operation = request.POST.get("operation")
            try:
                if operation == "add":
                    add_form = AddProductForm(request.POST)
                    if add_form.is_valid():
                        services.ugc_map_product(
                            item_id=item.pk,
                            product=add_form.cleaned_data["product"],
                            placement=add_form.cleaned_data["placement"],
                            actor=request.user,
                        )
                        self.message_user(request, "Added to the look.")
                        return redirect(url)
                elif operation == "tag":
                    clear = "clear" in request.POST
                    services.ugc_tag_product(
                        item_id=item.pk,
                        product_id=int(request.POST.get("product") or 0),
                        x=None if clear else request.POST.get("x"),
                        y=None if clear else request.POST.get("y"),
                        start_s=None if clear else request.POST.get("start_s"),
                        end_s=None if clear else request.POST.get("end_s"),
                        actor=request.user,
                    )
                    self.message_user(request, "Tag removed." if clear else "Tag saved.")
                    return redirect(url)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Shop the look: {item}",
            "item": item,
            "media": item_media(item),
            "rows": look_rows(item),
            "add_form": add_form,
            "can_moderate": can_moderate(request),
            "is_video": item.media_type == UGCItem.MediaType.VIDEO,
        }
        return TemplateResponse(request, "admin/ugc/ugcitem/look.html", context)
