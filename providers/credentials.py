"""Credentials are never stored: a provider keeps a reference, resolved here at the moment of a call.

auth_reference shapes:
  {"method": "ambient"}                                   SDK default chain (IAM role, managed identity, ADC)
  {"method": "profile", "profile": "prod"}                AWS shared-credentials profile
  {"method": "env", "variables": {"token": "VAULT_TOKEN"}}   each credential field from an environment variable
  {"method": "file", "files": {"token": "/run/secrets/vault_token"}}   each from a file (Docker/Kubernetes secret)
  {"method": "config"}                                    from the provider's entry in config/<env>.toml
"""
import os
import re
from pathlib import Path

from django.conf import settings

from providers.adapters.base import AuthenticationFailed

METHODS = ("ambient", "profile", "env", "file", "config")
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
# Fields a reference may fill, per kind (the adapters' credential arguments).
CREDENTIAL_FIELDS = {
    "aws": ("access_key_id", "secret_access_key", "session_token"),
    "vault": ("token", "secret_id"),
    "azure": ("client_secret", "token"),
    "gcp": ("access_token",),
}


def resolve_credentials(provider) -> dict:
    reference = provider.auth_reference or {"method": "ambient"}
    method = reference.get("method", "ambient")
    if method in ("ambient", "profile"):
        return {}
    if method == "config":
        spec = next((p for p in settings.CONFIG.providers if p.name == provider.name), None)
        if spec is None:
            raise AuthenticationFailed(f"provider {provider.name} is no longer declared in the configuration",
                                       provider=provider.kind)
        return dict(spec.credentials)
    if method == "env":
        resolved = {}
        for field, variable in reference.get("variables", {}).items():
            if variable not in os.environ:
                raise AuthenticationFailed(f"environment variable {variable} (for {field}) is not set",
                                           provider=provider.kind)
            resolved[field] = os.environ[variable]
        return resolved
    if method == "file":
        resolved = {}
        for field, path in reference.get("files", {}).items():
            try:
                resolved[field] = Path(path).read_text(encoding="utf-8").removesuffix("\n")
            except OSError as exc:
                raise AuthenticationFailed(f"credential file for {field} cannot be read ({exc.strerror})",
                                           provider=provider.kind) from None
        return resolved
    raise AuthenticationFailed(f"unknown credential reference method {method!r}", provider=provider.kind)
