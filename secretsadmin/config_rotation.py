"""The [rotation] table of config/<env>.toml: approval window, retries, worker lease and notifications."""
# Imported by config.py before Django is set up: standard library only.
from urllib.parse import urlsplit

ROTATION_KEYS = ("approval_ttl_hours", "max_attempts", "lease_seconds", "retry_base_seconds", "retry_max_seconds",
                 "default_interval_days", "notify_email", "notify_webhook_url", "notify_from", "dashboard_url")

# (key, default, smallest allowed) for the whole numbers.
_NUMBERS = (
    ("approval_ttl_hours", 72, 1),     # unapproved requests expire after this
    ("max_attempts", 5, 1),            # consecutive transient failures of a step before "needs attention"
    ("lease_seconds", 120, 2),         # a worker's claim on a run; a killed worker's claim lapses after it
    ("retry_base_seconds", 30, 0),
    ("retry_max_seconds", 900, 0),
    ("default_interval_days", 90, 1),  # secrets no policy governs are judged against this
)


class RotationConfigError(ValueError):
    pass


def parse_rotation(table: dict) -> dict:
    rotation = {}
    for key, default, smallest in _NUMBERS:
        value = table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < smallest:
            raise RotationConfigError(f"[rotation] {key} must be a whole number >= {smallest}")
        rotation[key] = value
    notify_email = table.get("notify_email", True)
    if not isinstance(notify_email, bool):
        raise RotationConfigError("[rotation] notify_email must be true or false")
    rotation["notify_email"] = notify_email
    for key, default in (("notify_webhook_url", ""), ("notify_from", "secretsadmin@localhost"),
                         ("dashboard_url", "")):
        value = table.get(key, default)
        if not isinstance(value, str):
            raise RotationConfigError(f"[rotation] {key} must be a string")
        rotation[key] = value
    for key in ("notify_webhook_url", "dashboard_url"):
        if rotation[key] and urlsplit(rotation[key]).scheme not in ("https", "http"):
            raise RotationConfigError(f"[rotation] {key} must be an http(s) URL")
    return rotation
