"""Provider declarations in the configuration file: the [secrets] table and the [[providers]] array."""
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PROVIDER_KINDS = ("aws", "vault", "azure", "gcp")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# A segment of a path that goes into URLs: no separators, escapes, URL syntax, whitespace or control characters.
_PATH_SEGMENT = re.compile(r"[^/\\%?#\s\x00-\x1f\x7f]+")
_COMMON_KEYS = ("name", "kind", "enabled", "description")


class ProviderError(ValueError):
    """A provider declaration is wrong; config.py adds the file name and re-raises it as ConfigError."""


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    kind: str
    enabled: bool
    description: str
    settings: dict
    credentials: dict = field(repr=False)
    source: str


@dataclass(frozen=True)
class _Key:
    required: bool = False
    default: str | None = None
    secret: bool = False  # goes into ProviderSpec.credentials, and is never repeated in a message
    url: bool = False
    https_only: bool = False
    choices: tuple[str, ...] = ()
    path: bool = False  # becomes part of the provider's URLs (a Vault mount or namespace)


# Every value is a string; a key left out (or set to "", e.g. by "${VAR:-}") is simply absent.
_SCHEMAS: dict[str, dict[str, _Key]] = {
    "aws": {
        "region": _Key(required=True),
        "credentials_profile": _Key(),
        "endpoint_url": _Key(url=True),
        "access_key_id": _Key(secret=True),
        "secret_access_key": _Key(secret=True),
    },
    "vault": {
        "address": _Key(required=True, url=True),
        "token": _Key(secret=True),
        "namespace": _Key(path=True),
        "mount": _Key(default="secret", path=True),
        "auth_method": _Key(default="token", choices=("token", "approle")),
        "role_id": _Key(),
        "secret_id": _Key(secret=True),
        "ca_cert": _Key(),
    },
    "azure": {
        "vault_url": _Key(required=True, url=True, https_only=True),
        "credential": _Key(default="default", choices=("default", "client_secret", "managed_identity")),
        "tenant_id": _Key(),
        "client_id": _Key(),
        "client_secret": _Key(secret=True),
        "ca_cert": _Key(),
    },
    "gcp": {
        "project_id": _Key(required=True),
        "credentials_file": _Key(),
        "api_endpoint": _Key(url=True),
    },
}

# Choices that only work with companions; caught here rather than at the first API call.
_NEEDS = {
    ("vault", "auth_method", "approle"): ("role_id", "secret_id"),
    ("azure", "credential", "client_secret"): ("tenant_id", "client_id", "client_secret"),
}


def parse_providers(data: dict, source: str) -> list[ProviderSpec]:
    """The providers declared by [secrets] (the policy's single-provider form) and [[providers]], in that order."""
    declared = []
    if "secrets" in data:
        if not isinstance(data["secrets"], dict):
            raise ProviderError("[secrets] must be a table")
        declared.append(("[secrets]", _from_secrets_table(data["secrets"])))
    entries = data.get("providers", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ProviderError("providers must be an array of tables ([[providers]])")
    declared.extend((f"[[providers]] #{number}", entry) for number, entry in enumerate(entries, start=1))

    specs, seen = [], {}
    for label, entry in declared:
        spec = _parse_one(label, entry, source)
        if spec.name in seen:
            raise ProviderError(f'provider name "{spec.name}" is used by both {seen[spec.name]} and {label}')
        seen[spec.name] = label
        specs.append(spec)
    return specs


def _from_secrets_table(table: dict) -> dict:
    # The policy spells the kind "provider" in this form; translate so one parser handles both.
    if "kind" in table:
        raise ProviderError('[secrets]: write the provider kind as provider = "...", not kind')
    if "provider" not in table:
        raise ProviderError(f"[secrets]: provider is required (one of {', '.join(PROVIDER_KINDS)})")
    entry = {key: value for key, value in table.items() if key != "provider"}
    entry["kind"] = table["provider"]
    if isinstance(entry["kind"], str):
        entry.setdefault("name", entry["kind"])
    return entry


def _parse_one(label: str, entry: dict, source: str) -> ProviderSpec:
    kind, kind_key = entry.get("kind"), "provider" if label == "[secrets]" else "kind"
    if kind not in PROVIDER_KINDS:
        problem = "is missing" if kind is None else "is not a known kind"
        raise ProviderError(f"{label}: {kind_key} {problem}; use one of {', '.join(PROVIDER_KINDS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ProviderError(
            f"{label}: name (required) must be lower-case letters, digits and hyphens, starting with a letter "
            "or digit, at most 63 characters"
        )
    label = f'{label} "{name}"'
    schema = _SCHEMAS[kind]
    unknown = sorted(set(entry) - set(schema) - set(_COMMON_KEYS))
    if unknown:
        allowed = ", ".join(sorted({*schema, "name", "enabled", "description", kind_key}))
        raise ProviderError(f"{label}: unknown key {unknown[0]} for kind {kind}; allowed keys: {allowed}")

    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ProviderError(f"{label}: enabled must be true or false")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise ProviderError(f"{label}: description must be a string")

    settings, credentials = {}, {}
    for key, rule in schema.items():
        value = _value(label, entry, key, rule)
        if value is not None:
            (credentials if rule.secret else settings)[key] = value
    present = {**settings, **credentials}
    for (needs_kind, key, choice), companions in _NEEDS.items():
        missing = [companion for companion in companions if companion not in present]
        if needs_kind == kind and present.get(key) == choice and missing:
            raise ProviderError(f"{label}: {key} = {choice} also needs {', '.join(missing)}")
    return ProviderSpec(name, kind, enabled, description, settings, credentials, source)


def _value(label: str, entry: dict, key: str, rule: _Key) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise ProviderError(f"{label}: {key} must be a string")
    if not value:
        if rule.required:
            raise ProviderError(f"{label}: {key} is required")
        return rule.default
    # Values are never echoed: some keys hold secrets, and a URL may carry credentials in it.
    if rule.choices and value not in rule.choices:
        raise ProviderError(f"{label}: {key} must be one of {', '.join(rule.choices)}")
    if rule.path and any(segment in (".", "..") or not _PATH_SEGMENT.fullmatch(segment)
                         for segment in value.strip("/").split("/")):
        # "../sys" would take the provider's requests out of the mount (HTTP clients resolve dot segments).
        raise ProviderError(f"{label}: {key} must be a path like team/kv: no empty, . or .. parts, and no spaces, "
                            "control characters, %, ?, # or backslashes")
    if rule.url:
        schemes = ("https",) if rule.https_only else ("http", "https")
        try:
            parts = urlsplit(value)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = urlsplit("")
        if parts.scheme not in schemes or not parts.netloc:
            raise ProviderError(f"{label}: {key} must be an {' or '.join(schemes)}:// URL with a host")
    return value


def parse_provider_entry(entry: dict, label: str = "provider", source: str = "the form") -> ProviderSpec:
    """Validate one provider declaration outside a file (the registry's web form uses the same rules)."""
    return _parse_one(label, entry, source)
