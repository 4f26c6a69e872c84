"""The forms of the second-factor pages: one code field, checked for shape here and for value by the services."""
from django import forms

from secretsadmin.forms import BootstrapFormMixin
from secretsadmin.mfa.services import RECOVERY, TOTP, code_kind


class CodeForm(BootstrapFormMixin, forms.Form):
    """A six-digit authenticator code; with accept_recovery, a recovery code too."""

    code = forms.CharField(max_length=32, label="Code from your authenticator app",
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                                         "autocapitalize": "off", "spellcheck": "false",
                                                         "autofocus": True}))

    def __init__(self, *args, accept_recovery=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.accept_recovery = accept_recovery
        if accept_recovery:
            self.fields["code"].label = "Authentication code"
            self.fields["code"].help_text = ("The 6-digit code your authenticator app shows now, or one of your "
                                             "recovery codes (xxxxx-xxxxx).")
            self.fields["code"].widget.attrs["inputmode"] = "text"
        else:
            self.fields["code"].help_text = "The 6 digits your authenticator app shows now."

    def clean_code(self):
        code = self.cleaned_data["code"]
        kind = code_kind(code)
        if kind == TOTP or (kind == RECOVERY and self.accept_recovery):
            return code
        if self.accept_recovery:
            raise forms.ValidationError("Enter the 6-digit code from your authenticator app, or a recovery code.")
        raise forms.ValidationError("Enter the 6-digit code from your authenticator app.")


class ResetForm(forms.Form):
    username = forms.CharField(max_length=150)
