"""The interface every rotation target implements, its errors, and the config checks the kinds share."""
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


@dataclass(frozen=True)
class TargetContext:
    request_id: str  # the rotation request's UUID as text; receivers use it as the idempotency key
    secret_name: str  # provider-native name, e.g. "app/db#password"
    provider: str
    new_version: str  # provider version id of the staged value


class TargetError(Exception):
    """A target step failed. The message never contains a secret value or credential."""

    def __init__(self, message, *, transient=False):
        super().__init__(message)
        self.transient = transient


class TargetConfigError(ValueError):
    """A target config is invalid; the message is one line naming the field, never echoing its value."""


class RotationTarget(ABC):
    kind: str
    # Whether apply() reaches outside (a database, a web service). The worker commits the apply step's start before
    # such a call (the write-ahead rule); a target whose apply does nothing has its step done in passing.
    apply_has_effect = True

    def __init__(self, config: dict):
        self.config = config

    @classmethod
    @abstractmethod
    def validate(cls, config: dict) -> dict:
        """Return the normalised config (defaults filled in) or raise TargetConfigError."""

    @abstractmethod
    def is_applied(self, new_value: str, context: TargetContext) -> bool:
        """True only when the target is known to accept new_value already (checked before apply)."""

    @abstractmethod
    def apply(self, new_value: str, context: TargetContext) -> None: ...

    @abstractmethod
    def verify(self, new_value: str, context: TargetContext) -> None:
        """Raise TargetError unless the target is shown to work with new_value."""

    @abstractmethod
    def describe(self) -> str:
        """One human line for the UI, without credentials."""


class ConfigChecker:
    """Reads one kind's config field by field; each failure names the field but never echoes its value
    (someone may have pasted a password where an env var name belongs)."""

    def __init__(self, kind: str, config, allowed: set[str]):
        self.kind = kind
        if not isinstance(config, dict):
            self.fail("config", "must be an object")
        self.config = config
        unknown = sorted(set(config) - allowed - {"kind"})
        if unknown:
            self.fail(unknown[0], "is not a known setting")

    def fail(self, field, problem):
        raise TargetConfigError(f'{self.kind} target: "{field}" {problem}')

    def text(self, field, *, required=False, default=None):
        value = self.config.get(field, default)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(field, "is required" if value is None else "must be a non-empty string")
        if any(ch in value for ch in "\r\n\0"):
            self.fail(field, "must be a single line")
        return value

    def integer(self, field, *, default, minimum, maximum):
        value = self.config.get(field, default)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.fail(field, f"must be a whole number from {minimum} to {maximum}")
        return value

    def number(self, field, *, default, minimum, maximum):
        value = self.config.get(field, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
            self.fail(field, f"must be a number from {minimum} to {maximum}")
        return value

    def boolean(self, field, *, default):
        value = self.config.get(field, default)
        if not isinstance(value, bool):
            self.fail(field, "must be true or false")
        return value

    def choice(self, field, choices, *, default=None):
        value = self.config.get(field, default)
        if value is not None and value not in choices:
            self.fail(field, f"must be one of {', '.join(choices)}")
        return value

    def credential_source(self, env_field, file_field, *, required):
        """The env var name or file path a credential is read from; never the credential itself."""
        env_name, path = self.config.get(env_field), self.config.get(file_field)
        if env_name is not None and path is not None:
            self.fail(env_field, f'and "{file_field}" are mutually exclusive')
        if env_name is not None and (not isinstance(env_name, str) or not ENV_NAME.fullmatch(env_name)):
            self.fail(env_field, "must be an environment variable name like DB_ADMIN_PASSWORD ([A-Z_][A-Z0-9_]*)")
        if path is not None:
            self.absolute_path(file_field)
        if required and env_name is None and path is None:
            self.fail(env_field, f'(or "{file_field}") is required')
        return {key: value for key, value in ((env_field, env_name), (file_field, path)) if value is not None}

    def absolute_path(self, field):
        path = self.text(field)
        if path is not None and not os.path.isabs(path):
            self.fail(field, "must be an absolute path")
        return path


def read_credential(config: dict, env_field: str, file_field: str, what: str) -> str | None:
    """Read a credential when a step runs (the worker's environment, not the web process's, holds it)."""
    if env_field in config:
        value = os.environ.get(config[env_field])
        if not value:
            raise TargetError(f"{what}: environment variable {config[env_field]} is not set")
        return value
    if file_field in config:
        try:
            with open(config[file_field], encoding="utf-8") as handle:
                # Docker/Kubernetes secret files usually end with a newline that is not part of the secret.
                value = handle.read().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise TargetError(f"{what}: cannot read {config[file_field]} ({type(exc).__name__})") from None
        if not value:
            raise TargetError(f"{what}: {config[file_field]} is empty")
        return value
    return None


def scrub(text: str, *secrets: str | None) -> str:
    """Blank out any secret a third-party message might echo; first line only, bounded length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text.strip().splitlines()[0][:300] if text.strip() else ""
