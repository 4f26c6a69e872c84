"""The [metrics] table of config/<env>.toml: who may scrape /metrics, and the secret_name label's cardinality."""
# Imported by config.py before Django is set up: standard library only.
import ipaddress

METRICS_KEYS = ("token", "allowed_ips", "secret_name_label")
LABEL_MODES = ("full", "bucket", "drop")
MIN_TOKEN_LENGTH = 32


class MetricsConfigError(ValueError):
    pass


def parse_metrics(table: dict, env: str, token_override: str | None) -> dict:
    token = table.get("token", "") if token_override is None else token_override
    if not isinstance(token, str):
        raise MetricsConfigError("[metrics] token must be a string")
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise MetricsConfigError(f"[metrics] token (or METRICS_TOKEN) must be at least {MIN_TOKEN_LENGTH} characters")
    # Outside production the machine itself may scrape without a token; production is closed by default.
    default_ips = [] if env == "production" else ["127.0.0.1", "::1"]
    allowed = table.get("allowed_ips", default_ips)
    if not isinstance(allowed, list) or not all(isinstance(item, str) for item in allowed):
        raise MetricsConfigError("[metrics] allowed_ips must be a list of addresses or networks")
    try:
        networks = [str(ipaddress.ip_network(item, strict=False)) for item in allowed]
    except ValueError:
        raise MetricsConfigError("[metrics] allowed_ips holds something that is not an address or network") from None
    mode = table.get("secret_name_label", "full")
    if mode not in LABEL_MODES:
        raise MetricsConfigError(f"[metrics] secret_name_label must be one of {', '.join(LABEL_MODES)}")
    return {"token": token, "allowed_networks": networks, "secret_name_label": mode}
