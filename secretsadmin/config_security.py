"""The [auth] and [requests] tables of config/<env>.toml: lockout, idle sessions, re-authentication, body size."""
# Imported by config.py before Django is set up: standard library only.

AUTH_KEYS = ("login_failure_limit", "login_cooloff_seconds", "session_idle_seconds", "reauth_seconds")
REQUEST_KEYS = ("max_body_bytes",)

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
    return parsed
