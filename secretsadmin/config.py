"""Load config/<env>.toml, interpolate ${VAR} references, apply environment overrides and refuse unsafe settings."""
# Imported by settings.py before Django is set up: standard library only, no Django import here.
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from secretsadmin.config_compliance import COMPLIANCE_KEYS, ComplianceConfigError, parse_compliance
from secretsadmin.config_metrics import METRICS_KEYS, MetricsConfigError, parse_metrics
from secretsadmin.config_oidc import ENV_VARIABLE, OIDC_KEYS, OidcConfigError, parse_oidc
from secretsadmin.config_providers import PROVIDER_KINDS, ProviderError, ProviderSpec, parse_providers
from secretsadmin.config_rotation import ROTATION_KEYS, RotationConfigError, parse_rotation
from secretsadmin.config_security import AUTH_KEYS, REQUEST_KEYS, SecurityConfigError, parse_security_limits

__all__ = ["DEV_SECRET_KEY", "PROVIDER_KINDS", "Config", "ConfigError", "ProviderSpec", "load_config", "read_env"]

DEV_SECRET_KEY = "django-insecure-dev-only-33-2CxrcwsNmaALyHsfXqUC0ygD85wrPr8stkoqDxXkvrdYz-futzw"  # noqa: S105 - public by design
REPO_ROOT = Path(__file__).resolve().parent.parent

_ENV_NAME = re.compile(r"[a-z0-9_-]+")
_REFERENCE_START = re.compile(r"\$(\$)?\{")  # "$${" is the escape for a literal "${"
_REFERENCE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_URL_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*)://")
_DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")

# Keys each known table may hold; a typo in a security setting should stop start-up, not be ignored.
_KNOWN_KEYS = {
    "django": ("debug", "secret_key", "allowed_hosts", "csrf_trusted_origins", "time_zone"),
    "database": ("url", "prepared_statements"),
    "redis": ("url",),
    "security": ("secure_cookies", "hsts_seconds", "session_cookie_age"),
    "audit": ("storages", "jsonl_path", "fail_closed", "retention_days", "forwarded_proxy_count"),
    "rotation": ROTATION_KEYS,
    "metrics": METRICS_KEYS,
    "compliance": COMPLIANCE_KEYS,
    "auth": AUTH_KEYS,
    "requests": REQUEST_KEYS,
    "oidc": OIDC_KEYS,
}
_AUDIT_STORAGES = ("database", "jsonl", "log")


class ConfigError(Exception):
    """One readable line naming the file, key or variable at fault; never a secret value."""


@dataclass(frozen=True)
class Config:
    env: str
    path: Path
    debug: bool
    secret_key: str = field(repr=False)
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    # The URLs may carry passwords, and data holds every interpolated secret: keep them all out of repr().
    database_url: str = field(repr=False)
    redis_url: str | None = field(repr=False)
    time_zone: str
    security: dict
    audit: dict
    rotation: dict
    metrics: dict = field(repr=False)  # holds the scrape token
    providers: list[ProviderSpec]
    data: dict = field(repr=False)
    compliance: dict = field(default_factory=dict)
    auth: dict = field(default_factory=dict)
    # PostgreSQL prepares the rotation worker's hot statements (secretsadmin/prepared.py); off behind a pooler that
    # cannot keep prepared statements.
    prepared_statements: bool = True
    requests: dict = field(default_factory=dict)
    # Earlier keys still accepted when checking signatures, so rotating SECRET_KEY signs nobody out.
    secret_key_fallbacks: list[str] = field(default_factory=list, repr=False)
    oidc: dict = field(default_factory=dict, repr=False)  # holds the OIDC client secret


def read_env(name: str, environ: Mapping[str, str]) -> str | None:
    """NAME's value, or the content of the file NAME_FILE points at (Docker/Kubernetes secrets); None if neither."""
    file_variable = f"{name}_FILE"
    value, file_path = environ.get(name), environ.get(file_variable)
    if value is not None and file_path is not None:
        raise ConfigError(f"set {name} or {file_variable}, not both")
    if file_path is None:
        return value
    try:
        text = Path(file_path).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"{file_variable} points at {file_path}, which cannot be read: {reason}") from None
    # Editors and `echo` add one newline; anything beyond that is taken to be part of the secret.
    for newline in ("\r\n", "\n"):
        if text.endswith(newline):
            return text[: -len(newline)]
    return text


def load_config(
    env: str | None = None, *, environ: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> Config:
    """Read config/<env>.toml under base_dir (the repository by default) into a validated Config."""
    environ = os.environ if environ is None else environ
    base_dir = REPO_ROOT if base_dir is None else Path(base_dir)
    env = environ.get("SECRETSADMIN_ENV", "development") if env is None else env
    path, source = _config_file(env, base_dir)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read: {exc.strerror}") from None

    data = _interpolate(document, (), environ, source)
    for table, allowed in _KNOWN_KEYS.items():
        _check_table(data, table, allowed, source)
    django, database, redis = data.get("django", {}), data.get("database", {}), data.get("redis", {})
    debug = _typed(django, "debug", bool, False, "[django] debug", source)
    secret_key = _typed(django, "secret_key", str, "", "[django] secret_key", source)
    allowed_hosts = _string_list(django, "allowed_hosts", source)
    csrf_trusted_origins = _string_list(django, "csrf_trusted_origins", source)
    time_zone = _typed(django, "time_zone", str, "UTC", "[django] time_zone", source)
    database_url = _typed(database, "url", str, "", "[database] url", source)
    prepared_statements = _typed(database, "prepared_statements", bool, True, "[database] prepared_statements", source)
    redis_url = _typed(redis, "url", str, "", "[redis] url", source)

    # Twelve-factor overrides: the environment wins over the file.
    if (value := read_env("SECRET_KEY", environ)) is not None:
        secret_key = value
    if (value := read_env("DATABASE_URL", environ)) is not None:
        database_url = value
    if (value := read_env("REDIS_URL", environ)) is not None:
        redis_url = value
    if (value := read_env("ALLOWED_HOSTS", environ)) is not None:
        allowed_hosts = _comma_list(value)
    if (value := read_env("CSRF_TRUSTED_ORIGINS", environ)) is not None:
        csrf_trusted_origins = _comma_list(value)
    if (value := read_env("DEBUG", environ)) is not None:
        debug = _parse_bool(value)

    if not secret_key:
        raise ConfigError(f"{source}: the secret key is empty; set [django] secret_key or SECRET_KEY")
    fallbacks = _secret_key_fallbacks(read_env("SECRET_KEY_FALLBACKS", environ), secret_key, env, source)
    for origin in csrf_trusted_origins:
        if not origin.startswith(("http://", "https://")):
            raise ConfigError(f"{source}: each CSRF trusted origin must start with http:// or https://")
    database_url = _database_url(database_url, base_dir, source)
    if redis_url and _scheme(redis_url) not in _REDIS_SCHEMES:
        raise ConfigError(f"{source}: [redis] url (or REDIS_URL) must be a redis://, rediss:// or unix:// URL")
    security = _security(data.get("security", {}), env, source)
    audit = _audit(data.get("audit", {}), env, base_dir, source)
    try:
        rotation = parse_rotation(data.get("rotation", {}))
    except RotationConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        metrics = parse_metrics(data.get("metrics", {}), env, read_env("METRICS_TOKEN", environ))
    except MetricsConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        compliance = parse_compliance(data.get("compliance", {}))
    except ComplianceConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        limits = parse_security_limits(data)
    except SecurityConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        oidc = parse_oidc(data.get("oidc", {}), env, read_env(ENV_VARIABLE, environ))
    except OidcConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if env == "production":
        _refuse_unsafe_production(debug, secret_key, allowed_hosts, redis_url, source)
    try:
        providers = parse_providers(data, source)
    except ProviderError as exc:
        raise ConfigError(f"{source}: {exc}") from None

    return Config(
        env=env,
        path=path,
        debug=debug,
        secret_key=secret_key,
        allowed_hosts=allowed_hosts,
        csrf_trusted_origins=csrf_trusted_origins,
        database_url=database_url,
        prepared_statements=prepared_statements,
        redis_url=redis_url or None,
        time_zone=time_zone,
        security=security,
        audit=audit,
        rotation=rotation,
        metrics=metrics,
        providers=providers,
        data=data,
        compliance=compliance,
        auth=limits["auth"],
        requests=limits["requests"],
        secret_key_fallbacks=fallbacks,
        oidc=oidc,
    )


def _config_file(env: str, base_dir: Path) -> tuple[Path, str]:
    path = base_dir / "config" / f"{env}.toml"
    if _ENV_NAME.fullmatch(env) and path.is_file():
        return path, f"config/{env}.toml"
    available = sorted(p.stem for p in (base_dir / "config").glob("*.toml") if _ENV_NAME.fullmatch(p.stem))
    raise ConfigError(
        f"unknown environment {env!r} (SECRETSADMIN_ENV): there is no config/<env>.toml for it; "
        f"available: {', '.join(available) or 'none'}"
    )


def _interpolate(value, where: tuple, environ: Mapping[str, str], source: str):
    if isinstance(value, dict):
        return {key: _interpolate(item, (*where, key), environ, source) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, (*where, index), environ, source) for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value
    parts, position = [], 0
    while match := _REFERENCE_START.search(value, position):
        parts.append(value[position : match.start()])
        if match.group(1):
            parts.append("${")
            position = match.end()
            continue
        reference = _REFERENCE.match(value, match.end())
        if not reference or "${" in (reference.group(2) or ""):
            raise ConfigError(
                f"{source}: {_describe(where)} has a malformed ${{...}} reference; "
                "write ${NAME} or ${NAME:-default}, and $${ for a literal ${"
            )
        name, default = reference.groups()
        try:
            resolved = read_env(name, environ)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {_describe(where)}: {exc}") from None
        if resolved is None:
            if default is None:
                raise ConfigError(
                    f"{source}: {_describe(where)} needs environment variable {name} (or {name}_FILE), which is not set"
                )
            resolved = default
        parts.append(resolved)
        position = reference.end()
    parts.append(value[position:])
    return "".join(parts)


def _describe(where: tuple) -> str:
    """("django", "secret_key") -> "[django] secret_key"; ("providers", 0, "token") -> "[providers #1] token"."""
    def render(path):
        return "".join(f" #{item + 1}" if isinstance(item, int) else f".{item}" for item in path).lstrip(".")

    last_key = max((i for i, item in enumerate(where) if isinstance(item, str)), default=0)
    table, leaf = render(where[:last_key]), render(where[last_key:])
    return f"[{table}] {leaf}" if table else leaf


def _check_table(data: dict, table: str, allowed: tuple, source: str) -> None:
    if table not in data:
        return
    if not isinstance(data[table], dict):
        raise ConfigError(f"{source}: {table} must be a table ([{table}])")
    unknown = sorted(set(data[table]) - set(allowed))
    if unknown:
        raise ConfigError(f"{source}: [{table}] has unknown key {unknown[0]}; allowed keys: {', '.join(allowed)}")


def _typed(table: dict, key: str, kind: type, default, label: str, source: str):
    value = table.get(key, default)
    # bool is an int in Python, so "hsts_seconds = true" must be refused explicitly.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = {bool: "true or false", str: "a string", int: "a whole number"}[kind]
        raise ConfigError(f"{source}: {label} must be {expected}")
    return value


def _string_list(table: dict, key: str, source: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{source}: [django] {key} must be a list of strings")
    return list(value)


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse_bool(value: str) -> bool:
    word = value.strip().lower()
    if word not in _TRUE + _FALSE:
        raise ConfigError(f"DEBUG must be one of {'/'.join(_TRUE + _FALSE)}")
    return word in _TRUE


def _scheme(url: str) -> str | None:
    match = _URL_SCHEME.match(url)
    return match.group(1) if match else None


def _database_url(url: str, base_dir: Path, source: str) -> str:
    # The URL may hold a password: messages name the key and at most the scheme, never the value.
    if not url:
        raise ConfigError(f"{source}: [database] url is empty; set it or DATABASE_URL")
    scheme = _scheme(url)
    if scheme not in _DATABASE_SCHEMES:
        found = f"scheme {scheme}" if scheme else "a value that is not a URL"
        raise ConfigError(
            f"{source}: [database] url (or DATABASE_URL) has {found}; use sqlite://, postgres:// or postgresql://"
        )
    if scheme != "sqlite":
        return url
    location, query = url.removeprefix("sqlite://").partition("?")[::2]
    if location in ("", ":memory:", "/:memory:") or location.startswith("//"):
        return url  # in-memory, or already absolute (sqlite:////abs/path)
    if not location.startswith("/"):
        raise ConfigError(f"{source}: [database] url: write sqlite:///relative/path or sqlite:////absolute/path")
    resolved = os.path.abspath(base_dir / location[1:])
    return f"sqlite:///{resolved}" + (f"?{query}" if query else "")


def _security(table: dict, env: str, source: str) -> dict:
    production = env == "production"
    security = {
        "secure_cookies": _typed(table, "secure_cookies", bool, production, "[security] secure_cookies", source),
        "hsts_seconds": _typed(table, "hsts_seconds", int, 31536000 if production else 0,
                               "[security] hsts_seconds", source),
        "session_cookie_age": _typed(table, "session_cookie_age", int, 8 * 3600,
                                     "[security] session_cookie_age", source),
    }
    if security["hsts_seconds"] < 0 or security["session_cookie_age"] <= 0:
        raise ConfigError(f"{source}: [security] hsts_seconds must be >= 0 and session_cookie_age > 0")
    return security


def _audit(table: dict, env: str, base_dir: Path, source: str) -> dict:
    storages = table.get("storages", ["database", "log"])
    if not isinstance(storages, list) or not storages or any(s not in _AUDIT_STORAGES for s in storages):
        raise ConfigError(f"{source}: [audit] storages must be a non-empty list of {', '.join(_AUDIT_STORAGES)}")
    if storages[0] == "log":
        raise ConfigError(f"{source}: [audit] storages: the first (primary) storage must be database or jsonl")
    jsonl_path = _typed(table, "jsonl_path", str, "var/audit.jsonl", "[audit] jsonl_path", source)
    audit = {
        "storages": list(dict.fromkeys(storages)),
        "jsonl_path": str(base_dir / jsonl_path),  # absolute paths stay as they are
        # Fail closed in production: an operation that cannot be audited does not happen.
        "fail_closed": _typed(table, "fail_closed", bool, env == "production", "[audit] fail_closed", source),
        "retention_days": _typed(table, "retention_days", int, 365, "[audit] retention_days", source),
        "forwarded_proxy_count": _typed(table, "forwarded_proxy_count", int, 0,
                                        "[audit] forwarded_proxy_count", source),
    }
    if audit["retention_days"] < 1 or audit["forwarded_proxy_count"] < 0:
        raise ConfigError(f"{source}: [audit] retention_days must be >= 1 and forwarded_proxy_count >= 0")
    return audit


def _secret_key_fallbacks(text: str | None, secret_key: str, env: str, source: str) -> list[str]:
    """SECRET_KEY_FALLBACKS, comma- or newline-separated; messages name an entry by position, never by value."""
    fallbacks = [item.strip() for item in (text or "").replace("\n", ",").split(",") if item.strip()]
    for number, fallback in enumerate(fallbacks, start=1):
        label = f"SECRET_KEY_FALLBACKS entry #{number}"
        if fallback == secret_key:
            raise ConfigError(f"{source}: {label} is the current secret key; list only the previous keys")
        if env == "production":
            _refuse_weak_key(fallback, label, source)
    return fallbacks


def _refuse_weak_key(key: str, label: str, source: str) -> None:
    if key == DEV_SECRET_KEY or key.startswith("django-insecure-"):
        raise ConfigError(f"{source}: {label}: the development secret key cannot be used in production; set SECRET_KEY")
    # The same rule as Django's check --deploy (security.W009).
    if len(key) < 50 or len(set(key)) < 5:
        raise ConfigError(
            f"{source}: {label} is too weak for production: use at least 50 characters, at least 5 of them distinct"
        )


def _refuse_unsafe_production(debug, secret_key, allowed_hosts, redis_url, source) -> None:
    if debug:
        raise ConfigError(f"{source}: DEBUG must be off in production ([django] debug or the DEBUG variable)")
    _refuse_weak_key(secret_key, "SECRET_KEY", source)
    if not allowed_hosts or "*" in allowed_hosts:
        raise ConfigError(
            f"{source}: production needs explicit allowed hosts (no '*'); set ALLOWED_HOSTS, comma-separated"
        )
    if not redis_url:
        raise ConfigError(
            f"{source}: production needs REDIS_URL ([redis] url); the embedded Redis is for development and tests only"
        )
