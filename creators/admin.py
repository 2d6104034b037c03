"""Creators in the merchant console, with a bulk action that makes each one a link."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render

from catalog.models import Product
from creators import services
from creators.models import Creator
from links.models import Campaign
from links.services import links_create_for_creators


class LinksForCreatorsForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.filter(active=True))
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.all(), required=False)


@admin.register(Creator)
class CreatorAdmin(admin.ModelAdmin):
    list_display = ["name", "handle", "affiliate_code", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "handle", "email", "affiliate_code"]
    actions = ["make_links"]

    def save_model(self, request, obj, form, change):
        services.creator_save(creator=obj)

    @admin.action(description="Make one link per creator for a product", permissions=["add_link"])
    def make_links(self, request, queryset):
        form = LinksForCreatorsForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            campaign = form.cleaned_data["campaign"]
            links = links_create_for_creators(
                creator_ids=list(queryset.values_list("pk", flat=True)),
                product_id=form.cleaned_data["product"].pk,
                campaign_id=campaign.pk if campaign else None,
            )
            codes = ", ".join(f"/p/{link.code}" for link in links)
            self.message_user(request, f"{len(links)} link(s) made: {codes}", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Make links for creators",
            "creators": queryset,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "admin/creators/make_links.html", context)

    def has_add_link_permission(self, request):
        return request.user.has_perm("links.add_shortlink")


# --- creator portal (issue 15): applications, invitations, code requests, licences ---
from creators.portal import admin as portal_admin  # noqa: E402,F401 - registers its models

# --- end creator portal ---
