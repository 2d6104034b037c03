"""The portal's forms: they check shapes; the services check the rules and say which field."""

from django import forms
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm

from catalog.models import Product
from creators.portal_models import CreatorAccount, CreatorApplication

PLATFORMS = [
    ("tiktok", "TikTok"),
    ("instagram", "Instagram"),
    ("youtube", "YouTube"),
    ("blog", "Blog or website"),
    ("other", "Somewhere else"),
]


class ApplyForm(forms.ModelForm):
    accept_terms = forms.BooleanField(
        required=False, label="I have read and accept the program's terms"
    )
    terms_version = forms.IntegerField(widget=forms.HiddenInput)
    # The honeypot: hidden from people by CSS, filled in by bots.
    website = forms.CharField(required=False, label="Leave this empty")

    class Meta:
        model = CreatorApplication
        fields = [
            "name", "email", "handle_tiktok", "handle_instagram", "handle_youtube",
            "handle_other", "country", "audience_size", "why",
        ]  # fmt: skip
        labels = {"audience_size": "Audience size (followers in all)", "why": "Why this program?"}
        widgets = {
            "why": forms.Textarea(attrs={"rows": 4, "maxlength": 2000}),
            "country": forms.TextInput(attrs={"maxlength": 2, "placeholder": "e.g. DE"}),
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "name": forms.TextInput(attrs={"autocomplete": "name"}),
        }

    def clean_country(self):
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise forms.ValidationError("A two-letter country code, e.g. DE.")
        return country

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class AnswerForm(forms.Form):
    answer = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=4000)


class LoginForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class LoginLinkForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class NewPasswordMixin(forms.Form):
    password1 = forms.CharField(
        label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned


class InvitationForm(NewPasswordMixin):
    name = forms.CharField(max_length=120, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    field_order = ["name", "password1", "password2"]


class CreatorPasswordResetForm(PasswordResetForm):
    """Django's reset form, for live creator accounts only (staff reset theirs elsewhere),
    including those that never set a password (a lost approval email)."""

    def get_users(self, email):
        from creators.accounts import account_for_email

        account = account_for_email(email)
        if account is None or not account.user.is_active:
            return []
        return [account.user]


class CreatorSetPasswordForm(SetPasswordForm):
    pass


class ProgramChoiceMixin:
    def set_programs(self, memberships):
        self.fields["program"].choices = [(m.program_id, m.program.name) for m in memberships]
        if len(memberships) == 1:
            self.fields["program"].initial = memberships[0].program_id


class LinkForm(ProgramChoiceMixin, forms.Form):
    program = forms.TypedChoiceField(coerce=int)
    product = forms.ModelChoiceField(
        queryset=Product.objects.filter(active=True).order_by("title"), empty_label=None
    )
    platform = forms.ChoiceField(
        choices=PLATFORMS, help_text="Where you will share it (for your stats)."
    )
    code = forms.CharField(
        required=False,
        max_length=50,
        label="Custom link code (optional)",
        help_text="3–50 letters, digits, - or _.",
    )


class CodeRequestForm(ProgramChoiceMixin, forms.Form):
    program = forms.TypedChoiceField(coerce=int)
    code = forms.CharField(max_length=40, help_text="3–40 letters, digits, - or _, e.g. MAYA15.")


class ContentForm(ProgramChoiceMixin, forms.Form):
    program = forms.TypedChoiceField(coerce=int)
    media_file = forms.FileField(
        label="Photo or video",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*,video/*"}),
    )
    caption = forms.CharField(
        required=False, max_length=2200, widget=forms.Textarea(attrs={"rows": 3})
    )
    products = forms.ModelMultipleChoiceField(
        queryset=Product.objects.filter(active=True).order_by("title"),
        widget=forms.CheckboxSelectMultiple,
        help_text="The products it shows (1 to 5).",
    )
    licence = forms.IntegerField(widget=forms.HiddenInput)
    accept_licence = forms.BooleanField(required=False, label="I accept the content licence")


class ProfileForm(forms.ModelForm):
    name = forms.CharField(max_length=120)

    class Meta:
        model = CreatorAccount
        fields = [
            "handle_tiktok", "handle_instagram", "handle_youtube", "handle_other", "country",
            "notify_content", "notify_earnings",
        ]  # fmt: skip

    field_order = ["name"]

    def clean_country(self):
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise forms.ValidationError("A two-letter country code, e.g. DE.")
        return country


class EraseForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirm = forms.BooleanField(
        label="I understand: my account, profile and content are erased for good"
    )


class PayoutDetailsForm(forms.Form):
    """How the creator is paid: the methods `sales.payouts` sends by. The password again,
    since whoever changes this changes where the money goes."""

    METHODS = [
        ("paypal", "PayPal"),
        ("stripe", "Stripe (a connected account the shop set up with you)"),
        ("manual", "Bank transfer (the shop pays by hand)"),
    ]

    method = forms.ChoiceField(choices=METHODS, widget=forms.RadioSelect, initial="paypal")
    account = forms.CharField(
        max_length=500,
        label="Account",
        help_text="PayPal: your PayPal email. Stripe: your account id (acct_…). "
        "Bank transfer: your IBAN and the account holder's name.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    country = forms.CharField(
        max_length=2,
        min_length=2,
        help_text="Where you pay tax: a two-letter code, e.g. FR.",
        widget=forms.TextInput(attrs={"autocomplete": "country", "size": 2}),
    )
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class TaxFormUploadForm(forms.Form):
    file = forms.FileField(
        label="Tax form (PDF or photo)",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/*"}),
    )


class ProductRequestForm(forms.Form):  # issue 18: product samples
    product = forms.ModelChoiceField(
        queryset=Product.objects.filter(active=True).order_by("title"),
        empty_label="Choose a product",
    )
    note = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="What will you make with it?",
    )
