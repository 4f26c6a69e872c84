"""HashiCorp Vault / OpenBao adapter (hvac, KV v2). Names are `path/to/secret#key`; writes use check-and-set."""
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime

import hvac
import hvac.exceptions
import requests

from providers.adapters.base import (
    AuthenticationFailed,
    ConnectionStatus,
    InvalidFormat,
    NetworkError,
    NotFound,
    Other,
    PermissionDenied,
    SecretDescription,
    SecretMetadata,
    SecretVersion,
    StagedVersion,
    Throttled,
)
from providers.adapters.calls import AdapterBase

NAME_ERROR = "Invalid secret name format for Vault. Expected 'path/to/secret#key'"
_NAME = re.compile(r"([A-Za-z0-9_.@=+-]+(?:/[A-Za-z0-9_.@=+-]+)*)#([A-Za-z0-9_.@=+-]+)")
MARKER_PREFIX = "secretsadmin-rotation-"
FINGERPRINT_HEX = 16  # 64 bits of HMAC-SHA256: tells a crashed attempt's version apart, reveals nothing of the value
KEEP_TOKENS = 10  # Vault allows 64 custom metadata keys; the newest rotation tokens are enough


@dataclass(frozen=True)
class VaultConfig:
    """The policy's configuration (address, token, namespace) plus the KV v2 mount and optional AppRole."""

    address: str
    token: str | None = field(default=None, repr=False)
    namespace: str | None = None
    mount: str = "secret"
    auth_method: str = "token"
    role_id: str | None = None
    secret_id: str | None = field(default=None, repr=False)
    ca_cert: str | None = None


def parse_name(name):
    match = _NAME.fullmatch(name or "")
    if not match or any(part in (".", "..") for part in match.group(1).split("/")):
        raise InvalidFormat(NAME_ERROR, provider="vault")
    return match.group(1), match.group(2)


def _time(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class VaultSecretManager(AdapterBase):
    kind = "vault"

    def __init__(self, config: VaultConfig, policy=None):
        super().__init__(policy)
        self.config = config
        self.client = hvac.Client(
            url=config.address, token=config.token, namespace=config.namespace,
            timeout=(self.policy.connect_timeout, self.policy.read_timeout), verify=config.ca_cert or True,
        )
        self.kv = self.client.secrets.kv.v2
        self._logged_in = config.auth_method != "approle"

    @classmethod
    def from_settings(cls, settings: dict, credentials: dict, policy=None):
        return cls(VaultConfig(
            address=settings["address"], token=credentials.get("token"), namespace=settings.get("namespace"),
            mount=settings.get("mount", "secret"), auth_method=settings.get("auth_method", "token"),
            role_id=settings.get("role_id"), secret_id=credentials.get("secret_id"), ca_cert=settings.get("ca_cert"),
        ), policy)

    # -- errors ---------------------------------------------------------------------------------------
    def translate(self, exc, operation):
        what = f"Vault {operation}"
        if isinstance(exc, hvac.exceptions.InvalidPath):
            return NotFound(f"{what}: no such secret or version", provider=self.kind)
        if isinstance(exc, hvac.exceptions.Unauthorized):
            return AuthenticationFailed(f"{what}: token rejected", provider=self.kind)
        if isinstance(exc, hvac.exceptions.Forbidden):
            # Vault says "permission denied" both for a bad token and for a missing policy: ask it which.
            return PermissionDenied(f"{what}: permission denied", provider=self.kind) if self._token_valid() \
                else AuthenticationFailed(f"{what}: token invalid or expired", provider=self.kind)
        if isinstance(exc, hvac.exceptions.RateLimitExceeded):
            return Throttled(f"{what}: rate limited", provider=self.kind)
        if isinstance(exc, hvac.exceptions.InvalidRequest):
            if "check-and-set" in str(exc):
                return Other(f"{what}: the secret changed concurrently (check-and-set)", provider=self.kind)
            return InvalidFormat(f"{what}: request refused as invalid", provider=self.kind)
        if isinstance(exc, hvac.exceptions.InternalServerError | hvac.exceptions.VaultDown
                      | hvac.exceptions.BadGateway | hvac.exceptions.UnexpectedError):
            return NetworkError(f"{what}: server error ({type(exc).__name__})", provider=self.kind)
        if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return NetworkError(f"{what}: cannot reach {self.config.address} ({type(exc).__name__})",
                                provider=self.kind)
        return super().translate(exc, operation)

    def _token_valid(self):
        try:
            self.client.auth.token.lookup_self()
            return True
        except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
            return False
        except Exception:
            return True  # cannot tell; do not claim the credentials are bad

    def _call(self, operation, fn, *args, **kwargs):
        if not self._logged_in:
            self._run("login", self.client.auth.approle.login, role_id=self.config.role_id,
                      secret_id=self.config.secret_id)
            self._logged_in = True
        return self._run(operation, fn, *args, mount_point=self.config.mount, **kwargs)

    # -- the policy's interface ---------------------------------------------------------------------
    def get_secret(self, name):
        path, key = parse_name(name)
        return self._value(self._read(path), key)

    def create_secret(self, name, value):
        path, key = parse_name(name)
        data, version = self._current_data(path)
        if key in data:
            raise Other("Vault create_secret: the secret already exists", provider=self.kind)
        self._call("create_secret", self.kv.create_or_update_secret, path, secret={**data, key: value}, cas=version)

    def revoke_secret(self, name):
        path, key = parse_name(name)
        data, version = self._current_data(path)
        if key not in data:
            raise NotFound("Vault revoke_secret: no such secret", provider=self.kind)
        if set(data) == {key}:
            # Soft delete: recoverable with `undelete` by a Vault operator.
            self._call("revoke_secret", self.kv.delete_latest_version_of_secret, path)
        else:
            remaining = {k: v for k, v in data.items() if k != key}
            self._call("revoke_secret", self.kv.create_or_update_secret, path, secret=remaining, cas=version)
            # Older versions still hold the revoked key: soft-delete them too (the other keys live on in
            # the version just written).
            self._call("revoke_secret", self.kv.delete_secret_versions, path, versions=list(range(1, version + 1)))

    # -- inventory ------------------------------------------------------------------------------------
    def list_secrets(self, page_size=100):
        page = []
        for path in self._walk(""):
            metadata = self._call("list_secrets", self.kv.read_secret_metadata, path)["data"]
            # KV v2 cannot list a secret's keys without reading it: the values are read and dropped here.
            data = self._read_optional(path)
            for key in sorted(data):
                page.append(self._metadata(path, key, metadata))
                if len(page) >= page_size:
                    yield page
                    page = []
        if page:
            yield page

    def _walk(self, prefix):
        try:
            keys = self._call("list_secrets", self.kv.list_secrets, prefix)["data"]["keys"]
        except NotFound:
            return
        for entry in sorted(keys):
            if entry.endswith("/"):
                yield from self._walk(prefix + entry)
            else:
                yield prefix + entry

    def describe_secret(self, name):
        path, key = parse_name(name)
        data = self._read(path)
        if key not in data:
            raise NotFound("Vault describe_secret: no such secret", provider=self.kind)
        metadata = self._call("describe_secret", self.kv.read_secret_metadata, path)["data"]
        tokens = {v: k.removeprefix(MARKER_PREFIX) for k, v in (metadata.get("custom_metadata") or {}).items()
                  if k.startswith(MARKER_PREFIX)}
        versions = tuple(
            SecretVersion(version_id=str(number), enabled=not (info.get("deletion_time") or info.get("destroyed")),
                          stages=("current",) if int(number) == metadata["current_version"] else (),
                          created_at=_time(info.get("created_time")), rotation_token=tokens.get(str(number)))
            for number, info in sorted(metadata.get("versions", {}).items(), key=lambda item: int(item[0]))
        )
        return SecretDescription(**self._metadata(path, key, metadata).__dict__, versions=versions)

    def get_secret_version(self, name, version):
        path, key = parse_name(name)
        return self._value(self._read(path, version=int(version)), key)

    # -- rotation -----------------------------------------------------------------------------------
    def stage_version(self, name, value, token):
        path, key = parse_name(name)
        metadata = self._call("stage_version", self.kv.read_secret_metadata, path)["data"]
        custom = dict(metadata.get("custom_metadata") or {})
        marker = custom.get(MARKER_PREFIX + token)
        if marker and not marker.startswith("pending@"):
            return StagedVersion(version_id=marker, created=False)
        if marker:
            # A previous attempt wrote "pending@N:fingerprint" and may have died after writing version N. The retry
            # brings another value (the engine generates one per attempt), so the version is known by the
            # fingerprint of the value it holds; someone else's version N holds another value and is not taken.
            expected, _, fingerprint = marker.removeprefix("pending@").partition(":")
            if metadata["current_version"] >= int(expected):
                written = self._read_optional(path, int(expected)).get(key)
                if written is not None and (written == value or (
                        fingerprint and hmac.compare_digest(fingerprint, _fingerprint(token, str(written))))):
                    self._remember_token(path, custom, token, expected)
                    return StagedVersion(version_id=expected, created=False)
        current = metadata["current_version"]
        data = self._read_optional(path, current)
        # Write-ahead: record the token as pending before the write, so a crash cannot duplicate it.
        self._remember_token(path, custom, token, f"pending@{current + 1}:{_fingerprint(token, value)}")
        written = self._call("stage_version", self.kv.create_or_update_secret, path, secret={**data, key: value},
                             cas=current)
        version = str(written["data"]["version"])
        self._remember_token(path, custom, token, version)
        return StagedVersion(version_id=version, created=True)

    def promote_version(self, name, version):
        path, key = parse_name(name)
        metadata = self._call("promote_version", self.kv.read_secret_metadata, path)["data"]
        if int(version) == metadata["current_version"]:
            return  # in KV v2 the latest version is the current one
        value = self._value(self._read(path, version=int(version)), key)
        data = self._read_optional(path, metadata["current_version"])
        self._call("promote_version", self.kv.create_or_update_secret, path, secret={**data, key: value},
                   cas=metadata["current_version"])

    def revoke_version(self, name, version):
        path, _ = parse_name(name)
        metadata = self._call("revoke_version", self.kv.read_secret_metadata, path)["data"]
        if str(version) not in metadata.get("versions", {}):
            raise NotFound("Vault revoke_version: no such version", provider=self.kind)
        if int(version) == metadata["current_version"]:
            raise Other("Vault revoke_version: refusing to revoke the current version", provider=self.kind)
        self._call("revoke_version", self.kv.delete_secret_versions, path, versions=[int(version)])

    def version_group(self, name):
        return f"{parse_name(name)[0]}#"

    def test_connection(self):
        if not self._logged_in:
            self._call("test_connection", self.kv.list_secrets, "")
        info = self._run("test_connection", self.client.auth.token.lookup_self)
        return ConnectionStatus(True, f"token valid, policies: {', '.join(info['data'].get('policies', []))}")

    # -- helpers ---------------------------------------------------------------------------------------
    def _read(self, path, version=None):
        answer = self._call("read", self.kv.read_secret_version, path, version=version,
                            raise_on_deleted_version=True)
        return answer["data"]["data"] or {}

    def _read_optional(self, path, version=None):
        try:
            return self._read(path, version)
        except NotFound:
            return {}

    def _current_data(self, path):
        """(data, version) of the latest version, or ({}, 0) for a new path (cas=0: create only)."""
        try:
            metadata = self._call("read", self.kv.read_secret_metadata, path)["data"]
        except NotFound:
            return {}, 0
        return self._read_optional(path, metadata["current_version"]), metadata["current_version"]

    def _remember_token(self, path, custom, token, value):
        custom[MARKER_PREFIX + token] = value
        # Vault returns custom metadata sorted by key, not by age: rank markers by the version they name.
        ours = sorted((k for k in custom if k.startswith(MARKER_PREFIX)),
                      key=lambda k: int(custom[k].removeprefix("pending@").partition(":")[0]))
        for stale in ours[:-KEEP_TOKENS]:
            del custom[stale]
        self._call("stage_version", self.kv.update_metadata, path, custom_metadata=custom)

    def _value(self, data, key):
        if key not in data:
            raise NotFound("Vault: no such key in the secret", provider=self.kind)
        value = data[key]
        return value if isinstance(value, str) else str(value)

    def _metadata(self, path, key, metadata):
        return SecretMetadata(
            name=f"{path}#{key}", external_id=f"{self.config.address}/v1/{self.config.mount}/data/{path}#{key}",
            tags={k: v for k, v in (metadata.get("custom_metadata") or {}).items() if not k.startswith(MARKER_PREFIX)},
            created_at=_time(metadata.get("created_time")), updated_at=_time(metadata.get("updated_time")),
            current_version=str(metadata.get("current_version") or "") or None,
        )


def _fingerprint(token, value):
    """A pending marker's check on the value staged under `token` (keyed by the token), never the value itself."""
    return hmac.new(token.encode(), value.encode(), hashlib.sha256).hexdigest()[:FINGERPRINT_HEX]
