"""Azure Key Vault adapter (azure-keyvault-secrets). Staging writes a tagged version; promotion re-issues a version.

Key Vault has no stages: the newest version of a secret is the one everyone reads. So stage_version makes the
staged value current at once (expected on this provider: the old value stays readable by version until it is
revoked), and promoting an older version writes a new version with that version's value and tags.
"""
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    IncompleteReadError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

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
from providers.adapters.calls import AdapterBase, CallPolicy

_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
_VERSION = re.compile(r"[0-9A-Fa-f]{32}")
ROTATION_TAG = "secretsadmin-rotation-token"
PROMOTED_TAG = "secretsadmin-promoted-from"
MAX_PAGE_SIZE = 25  # Key Vault refuses larger maxresults
CREDENTIAL_MODES = ("default", "client_secret", "managed_identity", "static_token")
_EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class AzureKeyVaultConfig:
    """The vault and how to authenticate to it; "static_token" is for local test servers only."""

    vault_url: str
    credential: str = "default"
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    ca_cert: str | None = None  # a PEM file, for a vault (or test server) behind a private CA


class StaticTokenCredential:
    """Hands out one fixed bearer token; for local servers that accept a known token."""

    def __init__(self, token):
        self._token = token

    def __repr__(self):
        return "StaticTokenCredential()"

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self._token, int(time.time()) + 3600)

    def get_token_info(self, *scopes, options=None):
        return AccessTokenInfo(self._token, int(time.time()) + 3600)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *args):
        pass


def _credential(config):
    if config.credential == "static_token":
        if not config.token:
            raise AuthenticationFailed("Azure: static_token needs a token", provider="azure")
        return StaticTokenCredential(config.token)
    if config.credential == "client_secret":
        if not (config.tenant_id and config.client_id and config.client_secret):
            raise AuthenticationFailed("Azure: client_secret needs tenant_id, client_id and client_secret",
                                       provider="azure")
        return ClientSecretCredential(config.tenant_id, config.client_id, config.client_secret)
    if config.credential == "managed_identity":
        return ManagedIdentityCredential(client_id=config.client_id) if config.client_id \
            else ManagedIdentityCredential()
    if config.credential == "default":
        return DefaultAzureCredential(managed_identity_client_id=config.client_id) if config.client_id \
            else DefaultAzureCredential()
    raise Other(f"Azure: unknown credential mode; expected one of {', '.join(CREDENTIAL_MODES)}", provider="azure")


class AzureKeyVaultSecretManager(AdapterBase):
    kind = "azure"

    def __init__(self, config: AzureKeyVaultConfig, policy: CallPolicy | None = None):
        super().__init__(policy)
        self.config = config
        options = {
            "connection_timeout": self.policy.connect_timeout,
            "read_timeout": self.policy.read_timeout,
            "retry_total": 0,  # AdapterBase retries; the SDK's own retries would multiply the attempts
        }
        if config.ca_cert:
            options["connection_verify"] = config.ca_cert
        if config.credential == "static_token":
            # A local server is not under vault.azure.net, so the challenge's resource cannot match its host.
            options["verify_challenge_resource"] = False
        self.client = SecretClient(vault_url=config.vault_url, credential=_credential(config), **options)

    @classmethod
    def from_settings(cls, settings: dict, credentials: dict, policy=None):
        return cls(AzureKeyVaultConfig(
            vault_url=settings["vault_url"], credential=settings.get("credential", "default"),
            tenant_id=settings.get("tenant_id"), client_id=settings.get("client_id"),
            client_secret=credentials.get("client_secret"), token=credentials.get("token"),
            ca_cert=settings.get("ca_cert"),
        ), policy)

    # -- errors ---------------------------------------------------------------------------------------
    def translate(self, exc, operation):
        what, cls = f"Azure {operation}", type(exc).__name__
        if isinstance(exc, ResourceNotFoundError):
            return NotFound(f"{what}: not found ({cls})", provider=self.kind)
        if isinstance(exc, ClientAuthenticationError):
            return AuthenticationFailed(f"{what}: credentials rejected ({cls})", provider=self.kind)
        if isinstance(exc, IncompleteReadError):
            return NetworkError(f"{what}: connection dropped mid-response ({cls})", provider=self.kind)
        if isinstance(exc, HttpResponseError):
            return self._translate_status(exc, what, cls)
        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            return NetworkError(f"{what}: cannot reach the vault ({cls})", provider=self.kind)
        return super().translate(exc, operation)

    def _translate_status(self, exc, what, cls):
        status = exc.status_code or 0
        if status == 401:
            return AuthenticationFailed(f"{what}: credentials rejected ({cls} 401)", provider=self.kind)
        if status == 403:
            if _is_disabled(exc):
                # Key Vault answers 403 for a disabled version; to callers a revoked version simply is not there.
                return NotFound(f"{what}: the secret version is disabled ({cls} 403)", provider=self.kind)
            return PermissionDenied(f"{what}: access denied ({cls} 403)", provider=self.kind)
        if status == 404:
            return NotFound(f"{what}: not found ({cls} 404)", provider=self.kind)
        if status == 429:
            return Throttled(f"{what}: throttled ({cls} 429)", provider=self.kind)
        if status >= 500:
            return NetworkError(f"{what}: provider error ({cls} {status})", provider=self.kind)
        if status == 400:
            return InvalidFormat(f"{what}: request refused as invalid ({cls} 400)", provider=self.kind)
        return Other(f"{what}: provider error ({cls} {status})", provider=self.kind)

    def _check_name(self, name):
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidFormat("Invalid secret name for Azure Key Vault: 1-127 of 0-9 a-z A-Z -", provider=self.kind)

    def _check_version(self, version):
        # An empty or odd version would change the request path (an empty one reads the latest version).
        if not isinstance(version, str) or not _VERSION.fullmatch(version):
            raise InvalidFormat("Invalid Azure Key Vault version id: 32 hexadecimal characters", provider=self.kind)

    # -- the policy's interface ---------------------------------------------------------------------
    def get_secret(self, name):
        self._check_name(name)
        return self._run("get_secret", self.client.get_secret, name).value

    def create_secret(self, name, value):
        self._check_name(name)
        # Key Vault's PUT creates or adds a version; it has no create-only precondition, so check first.
        if self._run("create_secret", self._exists, name):
            raise Other("Azure create_secret: a secret with this name already exists", provider=self.kind)
        self._run("create_secret", self.client.set_secret, name, value)

    def revoke_secret(self, name):
        self._check_name(name)
        poller = self._run("revoke_secret", self.client.begin_delete_secret, name)
        # The secret is unusable once DELETE answers; waiting only confirms the soft-deleted copy exists.
        self._run("revoke_secret", poller.wait, self.policy.total_timeout)

    # -- inventory ------------------------------------------------------------------------------------
    def list_secrets(self, page_size=100):
        size = max(1, min(page_size, MAX_PAGE_SIZE))
        pages = self.client.list_properties_of_secrets(max_page_size=size).by_page()
        while True:
            # A retried next() fetches the same page again: the pager keeps its continuation token.
            page = self._run("list_secrets", _next_page, pages)
            if page is None:
                return
            if page:  # Key Vault may answer an empty page that still links to the next one
                yield [self._metadata(props) for props in page]

    def describe_secret(self, name):
        self._check_name(name)
        versions = self._versions("describe_secret", name)
        if not versions:
            raise NotFound("Azure describe_secret: not found", provider=self.kind)
        current = _current(versions)
        newest = versions[-1]
        summary = [
            SecretVersion(version_id=p.version, enabled=bool(p.enabled), created_at=p.created_on,
                          stages=("current",) if p is current else (), rotation_token=(p.tags or {}).get(ROTATION_TAG))
            for p in versions
        ]
        return SecretDescription(
            name=newest.name, external_id=self._external_id(newest), tags=dict(newest.tags or {}),
            created_at=versions[0].created_on, updated_at=max((p.updated_on or _EPOCH) for p in versions),
            last_rotated_at=current.created_on if current is not None and len(versions) > 1 else None,
            current_version=current.version if current is not None else None, enabled=current is not None,
            versions=tuple(summary),
        )

    def get_secret_version(self, name, version):
        self._check_name(name)
        self._check_version(version)
        return self._run("get_secret_version", self.client.get_secret, name, version).value

    # -- rotation -----------------------------------------------------------------------------------
    def stage_version(self, name, value, token):
        self._check_name(name)
        staged = [p for p in self._versions("stage_version", name) if (p.tags or {}).get(ROTATION_TAG) == token]
        if staged:
            # Prefer the version staged originally over a copy that promote_version re-issued with the same tag.
            original = [p for p in staged if PROMOTED_TAG not in (p.tags or {})]
            return StagedVersion(version_id=(original or staged)[0].version, created=False)
        # Not atomic (Key Vault has no conditional write): two concurrent calls with one token can both write.
        written = self._run("stage_version", self.client.set_secret, name, value, tags={ROTATION_TAG: token})
        return StagedVersion(version_id=written.properties.version, created=True)

    def promote_version(self, name, version):
        self._check_name(name)
        self._check_version(version)
        latest = self._run("promote_version", self._latest, name)
        if latest is not None and version.lower() in (latest.version, (latest.tags or {}).get(PROMOTED_TAG)):
            return  # already current (or already re-issued by an earlier, interrupted promotion)
        chosen = self._run("promote_version", self.client.get_secret, name, version)
        tags = {**(chosen.properties.tags or {}), PROMOTED_TAG: chosen.properties.version}
        self._run("promote_version", self.client.set_secret, name, chosen.value, tags=tags,
                  content_type=chosen.properties.content_type)

    def revoke_version(self, name, version):
        self._check_name(name)
        self._check_version(version)
        latest = self._run("revoke_version", self._latest, name)
        current = _current(self._versions("revoke_version", name))
        if version.lower() in {p.version for p in (latest, current) if p is not None}:
            raise Other("Azure revoke_version: refusing to revoke the current version", provider=self.kind)
        self._run("revoke_version", self.client.update_secret_properties, name, version, enabled=False)

    def test_connection(self):
        pages = self.client.list_properties_of_secrets(max_page_size=1).by_page()
        self._run("test_connection", _next_page, pages)
        return ConnectionStatus(True, f"listed secrets in {self.config.vault_url}")

    # -- helpers ---------------------------------------------------------------------------------------
    def _exists(self, name):
        try:
            self.client.get_secret(name)
        except ResourceNotFoundError:
            return False
        except HttpResponseError as exc:
            if exc.status_code == 403 and _is_disabled(exc):
                return True
            raise
        return True

    def _latest(self, name):
        """Properties of the version Key Vault serves by default, or None when that version is disabled."""
        try:
            return self.client.get_secret(name).properties
        except HttpResponseError as exc:
            if exc.status_code == 403 and _is_disabled(exc):
                return None
            raise

    def _versions(self, operation, name):
        """Every version, oldest first; ties in the one-second timestamps keep the vault's listing order."""
        pages = self.client.list_properties_of_secret_versions(name, max_page_size=MAX_PAGE_SIZE).by_page()
        listed = []
        while True:
            page = self._run(operation, _next_page, pages)
            if page is None:
                break
            listed.extend(page)
        return [p for _, p in sorted(enumerate(listed), key=lambda item: (item[1].created_on or _EPOCH, item[0]))]

    def _external_id(self, props):
        return f"{props.vault_url}/secrets/{props.name}"

    def _metadata(self, props):
        return SecretMetadata(
            name=props.name, external_id=self._external_id(props), tags=dict(props.tags or {}),
            created_at=props.created_on, updated_at=props.updated_on, current_version=props.version,
            enabled=bool(props.enabled),
        )


def _next_page(pages):
    page = next(pages, None)
    return None if page is None else list(page)


def _current(versions):
    """The newest enabled version (what a reader gets, unless the newest version was disabled)."""
    return next((p for p in reversed(versions) if p.enabled), None)


def _is_disabled(exc):
    error = getattr(exc, "error", None)
    inner = getattr(error, "innererror", None) or {}
    message = str(getattr(error, "message", "") or "")
    return inner.get("code") == "SecretDisabled" or "disabled secret" in message.lower()
