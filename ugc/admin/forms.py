"""The console's forms: the rights and mapping inlines, the reject and archive confirmations,
and the upload page. They check input beside its fields; the services re-check the rules."""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from unfold.widgets import UnfoldAdminFileFieldWidget  # Unfold's file input (its app.js needs it)

from creators.models import Creator
from ugc.models import CHANNELS, RejectionReason, UGCItem, UGCProductMap, UGCRights

Status = UGCItem.Status


class PrivateFileInput(UnfoldAdminFileFieldWidget):
    """Unfold's file input for a file in private storage: it never links the stored file
    (private files have no URL; the item page links the console's download view)."""

    def is_initial(self, value):
        return False

    def format_value(self, value):
        return None


class RightsForm(forms.ModelForm):
    allowed_channels = forms.MultipleChoiceField(
        choices=[(channel, channel) for channel in CHANNELS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Where the item may be shown. Publishing needs “site”.",
    )
    proof_file = forms.FileField(
        required=False, widget=PrivateFileInput, help_text="Kept privately; never public."
    )
    proof_url = forms.URLField(max_length=2048, required=False, assume_scheme="https")
    revoke = forms.BooleanField(
        required=False,
        label="Revoke these rights",
        help_text="A published item is archived at once. Give the reason below.",
    )

    class Meta:
        model = UGCRights
        fields = [
            "consent_method", "allowed_channels", "licence_type", "starts_at", "expires_at",
            "proof_file", "proof_url", "proof_text", "revoke", "revoke_reason",
        ]  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("revoke"):
            if not self.instance.pk:
                raise ValidationError({"revoke": "There are no rights to revoke yet."})
            if not (cleaned.get("revoke_reason") or "").strip():
                raise ValidationError({"revoke_reason": "Say why the rights are revoked."})
        return cleaned


class ProductMapForm(forms.ModelForm):
    class Meta:
        model = UGCProductMap
        fields = ["product", "variant", "placement", "confidence", "pinned", "position"]

    def clean(self):
        cleaned = super().clean()
        product, variant = cleaned.get("product"), cleaned.get("variant")
        if product and variant and variant.product_id != product.pk:
            # The same rule and words as `ugc_map_product`, shown beside the field.
            self.add_error("variant", "This variant belongs to another product.")
        return cleaned


class ProductMapFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if self.instance.pk is None or self.instance.status != Status.PUBLISHED:
            return
        kept = [
            form
            for form in self.forms
            if form.cleaned_data
            and not self._should_delete_form(form)
            and (form.instance.pk or form.has_changed())
        ]
        if not kept:
            raise ValidationError(
                f"Item #{self.instance.pk} is published and needs at least one product "
                "mapping; archive the item before removing it."
            )


class RejectForm(forms.Form):
    reason = forms.ModelChoiceField(
        queryset=RejectionReason.objects.filter(active=True), empty_label="Choose a reason"
    )
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Optional."
    )


def rejection_reasons_notice(request) -> dict:
    """For the reject forms: whether the merchant's list has no active reason (rejecting is
    impossible then), and where this user can add one."""
    if RejectionReason.objects.filter(active=True).exists():
        return {"reasons_missing": False}
    url = ""
    if request.user.has_perm("ugc.add_rejectionreason"):
        url = reverse("admin:ugc_rejectionreason_add")
    elif request.user.has_perm("ugc.change_rejectionreason"):
        url = reverse("admin:ugc_rejectionreason_changelist")
    return {"reasons_missing": True, "reasons_url": url}


class ArchiveForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class UploadForm(forms.Form):
    file = forms.FileField(
        widget=UnfoldAdminFileFieldWidget,
        help_text="One image (JPEG, PNG, WebP, GIF) or video (MP4, MOV, WebM, MKV), or a .zip "
        "of many: each file in it becomes its own item.",
    )
    source = forms.ChoiceField(choices=UGCItem.Source.choices, initial=UGCItem.Source.UPLOAD)
    author_handle = forms.CharField(max_length=100, required=False)
    creator = forms.ModelChoiceField(queryset=Creator.objects.order_by("name"), required=False)
    caption = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    skip_duplicates = forms.BooleanField(
        required=False,
        initial=True,
        label="Skip files already in the library",
        help_text="A file with exactly the same bytes as an existing item is not added again.",
    )
    grant_rights = forms.BooleanField(
        required=False, label="Record the rights now (for every file of this upload)"
    )
    consent_method = forms.ChoiceField(
        choices=[("", "---------"), *UGCRights.ConsentMethod.choices], required=False
    )
    allowed_channels = forms.MultipleChoiceField(
        choices=[(channel, channel) for channel in CHANNELS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    licence_type = forms.CharField(max_length=100, required=False)
    proof_url = forms.URLField(max_length=2048, required=False, assume_scheme="https")
    proof_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    expires_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("grant_rights"):
            return cleaned
        if not cleaned.get("consent_method"):
            self.add_error("consent_method", "Say how consent was given.")
            return cleaned
        rights = self.rights_instance()
        try:
            rights.clean()  # the rules `ugc_rights_grant` applies, beside the fields
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned

    def rights_instance(self) -> UGCRights:
        data = self.cleaned_data
        return UGCRights(
            consent_method=data.get("consent_method"),
            allowed_channels=list(data.get("allowed_channels") or []),
            licence_type=data.get("licence_type", ""),
            proof_url=data.get("proof_url", ""),
            proof_text=data.get("proof_text", ""),
            expires_at=data.get("expires_at"),
        )

    def ingest_kwargs(self, actor) -> dict:
        data = self.cleaned_data
        kwargs = {
            "source": data["source"],
            "author_handle": data.get("author_handle", ""),
            "creator": data.get("creator"),
            "caption": data.get("caption", ""),
            "actor": actor,
        }
        if data.get("grant_rights"):
            kwargs["rights"] = {
                "consent_method": data["consent_method"],
                "allowed_channels": list(data.get("allowed_channels") or []),
                "licence_type": data.get("licence_type", ""),
                "proof_url": data.get("proof_url", ""),
                "proof_text": data.get("proof_text", ""),
                "expires_at": data.get("expires_at"),
                "granted_by": actor,
            }
        return kwargs
