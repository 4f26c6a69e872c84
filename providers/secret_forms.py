"""Forms for editing a secret's metadata and creating a secret; a value is entered once and never echoed."""
import json
import re

from django import forms

from providers.models import Provider
from secretsadmin.forms import BootstrapFormMixin

_TAG = re.compile(r"[A-Za-z0-9_.:/@+-]{1,128}")


def parse_tags(text):
    tags = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep or not _TAG.fullmatch(key):
            raise forms.ValidationError(f"Line {number}: write key=value; keys use letters, digits and _.:/@+-")
        if len(value) > 256:
            raise forms.ValidationError(f"Line {number}: a tag value is at most 256 characters")
        tags[key] = value
    if len(tags) > 50:
        raise forms.ValidationError("At most 50 tags.")
    return tags


class _Styled(BootstrapFormMixin, forms.Form):
    pass


class SecretMetadataForm(_Styled):
    owner = forms.CharField(required=False, max_length=150, help_text="Owning team or group")
    environment = forms.CharField(required=False, max_length=64)
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    tags = forms.CharField(required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 4}),
                           help_text="One key=value per line")

    def clean_tags(self):
        return parse_tags(self.cleaned_data["tags"])

    @staticmethod
    def initial_for(secret):
        tags = secret.tags if isinstance(secret.tags, dict) else {}
        return {"owner": secret.owner, "environment": secret.environment, "description": secret.description,
                "tags": "\n".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in tags.items())}


class SecretCreateForm(_Styled):
    provider = forms.ModelChoiceField(queryset=Provider.objects.none(), to_field_name="uuid")
    name = forms.CharField(max_length=512, help_text="As the provider names it, e.g. path/to/secret#key for Vault")
    # render_value=False: after an error the value is not sent back to the browser.
    value = forms.CharField(max_length=65536, strip=False, widget=forms.PasswordInput(render_value=False))
    confirm = forms.CharField(max_length=65536, strip=False, widget=forms.PasswordInput(render_value=False),
                              label="Value again")
    owner = forms.CharField(required=False, max_length=150)
    environment = forms.CharField(required=False, max_length=64)
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, providers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = providers

    def clean(self):
        data = super().clean()
        if data.get("value") != data.get("confirm"):
            raise forms.ValidationError("The two values differ.")
        if "\x00" in (data.get("value") or ""):
            raise forms.ValidationError("The value may not contain NUL characters.")
        return data


class SecretRevokeForm(_Styled):
    confirm_name = forms.CharField(max_length=512, label="Type the secret's name to confirm")
    reason = forms.CharField(min_length=10, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, secret, **kwargs):
        super().__init__(*args, **kwargs)
        self.secret = secret

    def clean_confirm_name(self):
        if self.cleaned_data["confirm_name"] != self.secret.name:
            raise forms.ValidationError("The name does not match.")
        return self.cleaned_data["confirm_name"]
