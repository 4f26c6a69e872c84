"""The provider registry form: non-secret settings and a credential *reference*, never a credential."""
import re

from django import forms

from providers.credentials import CREDENTIAL_FIELDS, ENV_NAME
from providers.models import Provider
from secretsadmin.config_providers import ProviderError, parse_provider_entry
from secretsadmin.forms import BootstrapFormMixin

SETTING_FIELDS = {
    "aws": ("region", "endpoint_url"),
    "vault": ("address", "namespace", "mount", "auth_method", "role_id", "ca_cert"),
    "azure": ("vault_url", "credential", "tenant_id", "client_id", "ca_cert"),
    "gcp": ("project_id", "api_endpoint", "credentials_file"),
}
ALL_SETTING_FIELDS = sorted({name for names in SETTING_FIELDS.values() for name in names})

# Shapes of real credentials: if one is typed into the form, refuse it rather than store it.
CREDENTIAL_SHAPES = [
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),  # AWS access key id
    re.compile(r"\b(?:hvs|hvb|hvr|s|b)\.[A-Za-z0-9_-]{20,}"),  # Vault/OpenBao tokens
    re.compile(r"-----BEGIN [A-Z ]*(?:PRIVATE KEY|CERTIFICATE)-----"),
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),  # a password inside a URL
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # a JWT / bearer token
]
LONG_RANDOM = re.compile(r"[A-Za-z0-9+/=_-]{32,}")


def looks_like_credential(value: str) -> bool:
    if any(shape.search(value) for shape in CREDENTIAL_SHAPES):
        return True
    # Long runs of mixed letters and digits are keys, not region names, paths or project ids.
    return any(re.search(r"\d", run) and re.search(r"[a-z]", run) and re.search(r"[A-Z]", run)
               for run in LONG_RANDOM.findall(value))


class ProviderForm(BootstrapFormMixin, forms.Form):
    name = forms.SlugField(max_length=63, help_text="Lower-case letters, digits and hyphens")
    kind = forms.ChoiceField(choices=Provider.Kind.choices)
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(required=False, initial=True)
    sync_interval_minutes = forms.IntegerField(min_value=5, max_value=7 * 24 * 60, initial=60,
                                               label="Sync every (minutes)")
    region = forms.CharField(required=False, max_length=64, help_text="AWS region, e.g. eu-west-1")
    endpoint_url = forms.CharField(required=False, max_length=500, label="Endpoint URL (AWS, optional)")
    address = forms.CharField(required=False, max_length=500, label="Vault address")
    namespace = forms.CharField(required=False, max_length=200, label="Vault namespace")
    mount = forms.CharField(required=False, max_length=200, label="KV v2 mount", initial="secret")
    auth_method = forms.ChoiceField(required=False, choices=[("", "—"), ("token", "Token"), ("approle", "AppRole")],
                                    label="Vault auth method")
    role_id = forms.CharField(required=False, max_length=200, label="AppRole role id")
    vault_url = forms.CharField(required=False, max_length=500, label="Azure vault URL")
    credential = forms.ChoiceField(required=False, label="Azure credential", choices=[
        ("", "—"), ("default", "DefaultAzureCredential"), ("managed_identity", "Managed identity"),
        ("client_secret", "Client secret")])
    tenant_id = forms.CharField(required=False, max_length=100)
    client_id = forms.CharField(required=False, max_length=100)
    project_id = forms.CharField(required=False, max_length=100, label="GCP project id")
    api_endpoint = forms.CharField(required=False, max_length=500, label="GCP API endpoint (optional)")
    credentials_file = forms.CharField(required=False, max_length=500, label="GCP service-account file path")
    ca_cert = forms.CharField(required=False, max_length=500, label="CA bundle path (optional)")
    auth_source = forms.ChoiceField(label="Credentials come from", choices=[
        ("ambient", "The environment's identity (IAM role, managed identity, application default)"),
        ("profile", "An AWS credentials profile"),
        ("env", "Environment variables (names below)"),
        ("file", "Files, e.g. mounted Docker/Kubernetes secrets (paths below)"),
    ], initial="ambient")
    profile = forms.CharField(required=False, max_length=100, label="AWS profile name")
    references = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Credential references",
        help_text="One per line, field=NAME for variables or field=/path for files, e.g. token=VAULT_TOKEN",
    )

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if not kind:
            return data
        flagged = [field for field, value in data.items()
                   if isinstance(value, str) and value and field != "description" and looks_like_credential(value)]
        if flagged:
            # Never echo a credential back into the page: blank what was typed.
            self.data = self.data.copy()
            for field in flagged:
                self.data[field] = ""
                self.add_error(field, "This looks like a credential. Store it in the environment or a file "
                                      "and enter a reference to it instead.")
        if self.errors:
            return data
        entry = {"name": data["name"], "kind": kind, "description": data.get("description", ""),
                 **{f: data[f] for f in SETTING_FIELDS[kind] if data.get(f)}}
        try:
            spec = parse_provider_entry(entry)
        except ProviderError as exc:
            raise forms.ValidationError(str(exc).replace('provider "', '"')) from None
        data["settings"] = spec.settings
        data["auth_reference"] = self._reference(kind, data)
        return data

    def _reference(self, kind, data):
        source = data["auth_source"]
        if source == "ambient":
            return {"method": "ambient"}
        if source == "profile":
            if kind != "aws" or not data.get("profile"):
                raise forms.ValidationError("A credentials profile applies to AWS providers and needs a name.")
            return {"method": "profile", "profile": data["profile"]}
        pairs = {}
        for line in (data.get("references") or "").splitlines():
            if not line.strip():
                continue
            field, _, target = (part.strip() for part in line.partition("="))
            if field not in CREDENTIAL_FIELDS[kind]:
                raise forms.ValidationError(f"{field or '(empty)'} is not a credential field of this kind; "
                                            f"use {', '.join(CREDENTIAL_FIELDS[kind])}")
            if source == "env" and not ENV_NAME.fullmatch(target):
                raise forms.ValidationError(f"{field}: an environment variable name like VAULT_TOKEN is expected")
            if source == "file" and not target.startswith("/"):
                raise forms.ValidationError(f"{field}: an absolute file path is expected")
            pairs[field] = target
        if not pairs:
            raise forms.ValidationError("Give at least one credential reference, one per line.")
        return {"method": "env", "variables": pairs} if source == "env" else {"method": "file", "files": pairs}

    @classmethod
    def initial_for(cls, provider):
        reference = provider.auth_reference or {"method": "ambient"}
        pairs = reference.get("variables") or reference.get("files") or {}
        return {"name": provider.name, "kind": provider.kind, "description": provider.description,
                "enabled": provider.enabled, "sync_interval_minutes": provider.sync_interval_minutes,
                **provider.settings,
                "auth_source": reference.get("method", "ambient"), "profile": reference.get("profile", ""),
                "references": "\n".join(f"{k}={v}" for k, v in pairs.items())}
