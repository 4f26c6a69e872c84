"""The SecretManager interface every provider adapter implements, its dataclasses and its error taxonomy.

The policy's three calls keep their names and meanings: get_secret, create_secret, revoke_secret.
Everything else is what an inventory and a crash-safe rotation need. Adapters raise only SecretError
subclasses, never an SDK's exception, and no message ever contains a secret value.
"""
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime


class SecretError(Exception):
    """Base of the taxonomy. `provider` is the adapter kind; messages never carry a secret value."""

    def __init__(self, message, *, provider=""):
        super().__init__(message)
        self.provider = provider


class NotFound(SecretError):
    pass


class AuthenticationFailed(SecretError):
    """Credentials missing, expired or wrong: never retried; refresh the credentials."""


class PermissionDenied(SecretError):
    """Authenticated, but not allowed to do this."""


class NetworkError(SecretError):
    """Could not reach the provider, or it failed transiently: retried with backoff."""


class Throttled(NetworkError):
    """The provider asked us to slow down: retried with backoff like a network error."""


class InvalidFormat(SecretError):
    """The secret name or value does not fit the provider's rules."""


class Other(SecretError):
    """Anything else the provider reported (a conflict, an unexpected response)."""


ERROR_CLASSES = (NotFound, AuthenticationFailed, PermissionDenied, NetworkError, InvalidFormat, Other)


@dataclass(frozen=True)
class SecretVersion:
    version_id: str
    enabled: bool = True
    stages: tuple[str, ...] = ()
    created_at: datetime | None = None
    rotation_token: str | None = None


@dataclass(frozen=True)
class SecretMetadata:
    """What list_secrets yields: metadata only, never a value."""

    name: str
    external_id: str = ""
    description: str = ""
    tags: dict = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_rotated_at: datetime | None = None
    current_version: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class SecretDescription(SecretMetadata):
    versions: tuple[SecretVersion, ...] = ()


@dataclass(frozen=True)
class StagedVersion:
    version_id: str
    created: bool  # False when a version with this token already existed (the call was a repeat)


@dataclass(frozen=True)
class ConnectionStatus:
    ok: bool
    detail: str


class SecretManager(ABC):
    """One provider account/vault/project. Implementations live in providers/adapters/<kind>.py."""

    kind = ""

    # -- the policy's interface ------------------------------------------------------------------
    @abstractmethod
    def get_secret(self, name: str) -> str:
        """The current value."""

    @abstractmethod
    def create_secret(self, name: str, value: str) -> None:
        """Create a new secret holding `value` (Other if it already exists)."""

    @abstractmethod
    def revoke_secret(self, name: str) -> None:
        """Make the secret unusable (delete or disable, as the provider allows)."""

    # -- inventory ----------------------------------------------------------------------------------
    @abstractmethod
    def list_secrets(self, page_size: int = 100) -> Iterator[list[SecretMetadata]]:
        """Pages of metadata, streamed: never every secret at once, never a value."""

    @abstractmethod
    def describe_secret(self, name: str) -> SecretDescription:
        """Metadata plus versions (stages, enabled, created, rotation token)."""

    @abstractmethod
    def get_secret_version(self, name: str, version: str) -> str:
        """The value of one version."""

    # -- rotation ------------------------------------------------------------------------------------
    @abstractmethod
    def stage_version(self, name: str, value: str, token: str) -> StagedVersion:
        """Add a new version marked with `token`, not yet current where the provider allows.
        Idempotent: a second call with the same token creates nothing and returns the same version."""

    @abstractmethod
    def promote_version(self, name: str, version: str) -> None:
        """Make `version` the current one."""

    @abstractmethod
    def revoke_version(self, name: str, version: str) -> None:
        """Disable (or destroy) one version; never the current one."""

    def version_group(self, name: str) -> str | None:
        """The name prefix of inventory rows sharing one version history with `name`, or None.

        Vault versions a whole path, so a new version of "path#key" is also one of every "path#other"."""
        return None

    @abstractmethod
    def test_connection(self) -> ConnectionStatus:
        """Reach the provider with the configured credentials (raises SecretError on failure)."""
