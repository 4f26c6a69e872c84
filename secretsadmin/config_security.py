"""The [auth] and [requests] tables of config/<env>.toml: lockout, idle sessions, re-authentication, MFA, body size."""
# Imported by config.py before Django is set up: standard library only.

AUTH_KEYS = ("login_failure_limit", "login_cooloff_seconds", "session_idle_seconds", "reauth_seconds",
             "mfa_required_roles")
REQUEST_KEYS = ("max_body_bytes",)
# secretsadmin.roles.ROLE_NAMES, repeated because Django cannot be imported here (a test keeps the two equal).
ROLE_NAMES = ("Viewer", "Operator", "Approver", "Auditor", "Administrator")
# Roles whose members must sign in with a second factor (superusers always do).
DEFAULT_MFA_REQUIRED_ROLES = ("Approver", "Administrator")

# table -> (key, default, smallest allowed) for its whole numbers.
_NUMBERS = {
    "auth": (
        ("login_failure_limit", 5, 1),        # failed sign-ins, per username and address, before the lockout
        ("login_cooloff_seconds", 900, 1),    # how long a lockout lasts
        ("session_idle_seconds", 1800, 60),   # a session unused this long is signed out
        ("reauth_seconds", 300, 0),           # a reveal asks for the password again after this (0: every time)
    ),
    # Django's own default upload limit: larger bodies are refused with 413 before any view reads them.
    "requests": (("max_body_bytes", 2_621_440, 1024),),
}


class SecurityConfigError(ValueError):
    pass


def parse_security_limits(data: dict) -> dict:
    """{"auth": {...}, "requests": {...}} from the document's [auth] and [requests] tables."""
    parsed = {}
    for table, numbers in _NUMBERS.items():
        values = data.get(table, {})
        parsed[table] = {}
        for key, default, smallest in numbers:
            value = values.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < smallest:
                raise SecurityConfigError(f"[{table}] {key} must be a whole number >= {smallest}")
            parsed[table][key] = value
    parsed["auth"]["mfa_required_roles"] = _mfa_required_roles(data.get("auth", {}))
    return parsed


def _mfa_required_roles(table: dict) -> list[str]:
    roles = table.get("mfa_required_roles", list(DEFAULT_MFA_REQUIRED_ROLES))
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise SecurityConfigError("[auth] mfa_required_roles must be a list of role names")
    # A misspelt role would silently leave its members without a second factor: refuse it.
    unknown = [role for role in roles if role not in ROLE_NAMES]
    if unknown:
        raise SecurityConfigError(f"[auth] mfa_required_roles: unknown role {unknown[0]!r}; "
                                  f"roles are {', '.join(ROLE_NAMES)}")
    return sorted(set(roles), key=ROLE_NAMES.index)
