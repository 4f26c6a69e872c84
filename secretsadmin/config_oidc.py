"""The [oidc] table of config/<env>.toml: optional single sign-on with OpenID Connect, and password sign-in."""
# Imported by config.py before Django is set up: standard library only.
import re
from urllib.parse import urlsplit

OIDC_KEYS = (
    "enabled", "issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_endpoint",
    "end_session_endpoint", "client_id", "token_auth_method", "scopes", "username_claim", "groups_claim",
    "role_mapping", "local_login_enabled", "timeout_seconds", "ca_bundle",
)
# secretsadmin.roles.ROLE_NAMES, repeated because that module needs Django (tests/auth/test_oidc_config.py keeps
# the two equal).
ROLE_NAMES = ("Viewer", "Operator", "Approver", "Auditor", "Administrator")
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_endpoint")
_OPTIONAL_ENDPOINTS = ("userinfo_endpoint", "end_session_endpoint")
_CLAIM = re.compile(r"[A-Za-z0-9_:./-]{1,100}")
_STRINGS = {  # key -> default
    "issuer": "", "client_id": "", "token_auth_method": "client_secret_basic", "scopes": "openid email profile",
    "username_claim": "preferred_username", "groups_claim": "groups", "ca_bundle": "",
    **dict.fromkeys(_ENDPOINTS + _OPTIONAL_ENDPOINTS, ""),
}
BACKEND_PATH = "secretsadmin.oidc.SingleSignOnBackend"
ENV_VARIABLE = "OIDC_RP_CLIENT_SECRET"  # the client secret's environment variable (or ..._FILE)


class OidcConfigError(ValueError):
    pass


def parse_oidc(table: dict, env: str, client_secret: str | None) -> dict:
    """The validated [oidc] table; client_secret is OIDC_RP_CLIENT_SECRET (or its _FILE), never from the file."""
    oidc = {
        "enabled": _bool(table, "enabled", False),
        # Password sign-in stays the default, so that turning SSO on cannot lock everybody out by itself.
        "local_login_enabled": _bool(table, "local_login_enabled", True),
        **{key: _string(table, key, default) for key, default in _STRINGS.items()},
        "timeout_seconds": table.get("timeout_seconds", 10),
        "role_mapping": _role_mapping(table.get("role_mapping", {})),
        "client_secret": client_secret or "",
    }
    timeout = oidc["timeout_seconds"]
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 120:
        raise OidcConfigError("[oidc] timeout_seconds must be a whole number from 1 to 120")
    if not oidc["enabled"]:
        if not oidc["local_login_enabled"]:
            raise OidcConfigError("[oidc] local_login_enabled = false needs enabled = true: nobody could sign in")
        return oidc
    production = env == "production"
    _url(oidc, "issuer", production, required=True)
    for key in _ENDPOINTS:
        _url(oidc, key, production, required=True)
    for key in _OPTIONAL_ENDPOINTS:
        _url(oidc, key, production, required=False)
    if not oidc["client_id"]:
        raise OidcConfigError("[oidc] client_id is empty; set the client id the identity provider issued")
    if not oidc["client_secret"]:
        raise OidcConfigError(f"[oidc] is enabled but {ENV_VARIABLE} (or {ENV_VARIABLE}_FILE) is not set; "
                              "the client secret never goes in the configuration file")
    if oidc["token_auth_method"] not in TOKEN_AUTH_METHODS:
        raise OidcConfigError(f"[oidc] token_auth_method must be one of {', '.join(TOKEN_AUTH_METHODS)}")
    if "openid" not in oidc["scopes"].split():
        raise OidcConfigError('[oidc] scopes must include "openid" (space-separated, e.g. "openid email profile")')
    for key in ("username_claim", "groups_claim"):
        if not _CLAIM.fullmatch(oidc[key]):
            raise OidcConfigError(f"[oidc] {key} must be a claim name (letters, digits, _ : . / -)")
    return oidc


def django_settings(oidc: dict, *, backends: list, csp: dict) -> dict:
    """The settings a parsed [oidc] table makes: the OIDC_* ones mozilla-django-oidc and secretsadmin.oidc read,
    AUTHENTICATION_BACKENDS (`backends` with ours while enabled) and CONTENT_SECURITY_POLICY (`csp`, with the
    end-session origin in form-action: sign-out is a form whose answer redirects an SSO session there)."""
    backends = [path for path in backends if path != BACKEND_PATH] + ([BACKEND_PATH] if oidc["enabled"] else [])
    directives = dict(csp["DIRECTIVES"])
    if origin := end_session_origin(oidc):
        directives["form-action"] = [*directives["form-action"], origin]
    return {
        "AUTHENTICATION_BACKENDS": backends,
        "CONTENT_SECURITY_POLICY": {**csp, "DIRECTIVES": directives},
        "OIDC_ENABLED": oidc["enabled"],
        "LOCAL_LOGIN_ENABLED": oidc["local_login_enabled"],
        "OIDC_OP_ISSUER": oidc["issuer"],
        "OIDC_OP_AUTHORIZATION_ENDPOINT": oidc["authorization_endpoint"],
        "OIDC_OP_TOKEN_ENDPOINT": oidc["token_endpoint"],
        "OIDC_OP_USER_ENDPOINT": oidc["userinfo_endpoint"],
        "OIDC_OP_JWKS_ENDPOINT": oidc["jwks_endpoint"],
        "OIDC_OP_END_SESSION_ENDPOINT": oidc["end_session_endpoint"],
        "OIDC_RP_CLIENT_ID": oidc["client_id"],
        "OIDC_RP_CLIENT_SECRET": oidc["client_secret"],
        "OIDC_TOKEN_USE_BASIC_AUTH": oidc["token_auth_method"] == TOKEN_AUTH_METHODS[0],  # client_secret_basic
        "OIDC_RP_SCOPES": oidc["scopes"],
        "OIDC_USERNAME_CLAIM": oidc["username_claim"],
        "OIDC_GROUPS_CLAIM": oidc["groups_claim"],
        "OIDC_ROLE_MAPPING": oidc["role_mapping"],
        "OIDC_TIMEOUT": oidc["timeout_seconds"],
        # requests' `verify`: a CA bundle path for an identity provider behind a private CA, else the system's.
        "OIDC_VERIFY_SSL": oidc["ca_bundle"] or True,
        # Fixed, not configurable: RS256 ID tokens checked against the provider's JWKS, nonce, state and PKCE.
        "OIDC_RP_SIGN_ALGO": "RS256",
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,
        "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
        "OIDC_ALLOW_UNSECURED_JWT": False,
        # Tokens are used once, at sign-in, and never kept in the session.
        "OIDC_STORE_ACCESS_TOKEN": False,
        "OIDC_STORE_ID_TOKEN": False,
        "OIDC_AUTHENTICATION_CALLBACK_URL": "oidc:callback",
    }


def end_session_origin(oidc: dict) -> str:
    """scheme://host[:port] of the end-session endpoint, or "" without one (it goes in CSP's form-action)."""
    if not (oidc["enabled"] and oidc["end_session_endpoint"]):
        return ""
    parts = urlsplit(oidc["end_session_endpoint"])
    return f"{parts.scheme}://{parts.netloc}"


def _bool(table: dict, key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise OidcConfigError(f"[oidc] {key} must be true or false")
    return value


def _string(table: dict, key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise OidcConfigError(f"[oidc] {key} must be a string")
    return value.strip()


def _url(oidc: dict, key: str, production: bool, *, required: bool) -> None:
    value = oidc[key]
    if not value:
        if required:
            raise OidcConfigError(f"[oidc] {key} is empty; copy it from the provider's "
                                  "/.well-known/openid-configuration")
        return
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
        raise OidcConfigError(f"[oidc] {key} must be an http(s) URL with a host and no user name or password")
    if production and parts.scheme != "https":
        raise OidcConfigError(f"[oidc] {key} must use https:// in production")


def _role_mapping(mapping) -> dict[str, list[str]]:
    """{"idp-group": "Role" or ["Role", ...]} -> {"idp-group": ["Role", ...]}."""
    if not isinstance(mapping, dict):
        raise OidcConfigError('[oidc] role_mapping must be a table of "identity provider group" = "Role"')
    parsed = {}
    for group, roles in mapping.items():
        roles = [roles] if isinstance(roles, str) else roles
        if not group.strip() or not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise OidcConfigError('[oidc] role_mapping entries must be "group" = "Role" or "group" = ["Role", ...]')
        unknown = [role for role in roles if role not in ROLE_NAMES]
        if unknown:
            raise OidcConfigError(f"[oidc] role_mapping: {unknown[0]!r} (for group {group!r}) is not a role; "
                                  f"roles: {', '.join(ROLE_NAMES)}")
        parsed[group] = sorted(set(roles), key=ROLE_NAMES.index)
    return parsed
