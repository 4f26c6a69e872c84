"""The hash chain: canonical JSON of an event and hash = SHA-256(prev_hash || canonical JSON)."""
import hashlib
import json
from datetime import UTC, datetime
from uuid import UUID

GENESIS_HASH = "0" * 64

# Every field that is hashed, in this order of meaning (JSON keys are sorted anyway).
HASHED_FIELDS = (
    "sequence", "uuid", "timestamp", "actor_id", "actor_name", "actor_type", "event_type", "outcome",
    "failure_reason", "target_type", "target_id", "target_text", "provider", "secret_name", "details",
    "request_id", "client_ip", "user_agent",
)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds, the same whether the value came from Python or the database."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _normalise(value):
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, UUID):
        return str(value)
    return value


def canonical_json(fields: dict) -> str:
    data = {name: _normalise(fields.get(name)) for name in HASHED_FIELDS}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()
