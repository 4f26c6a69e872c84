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


# One encoder for every event: json.dumps would build a new one per call (it shows at a million events).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_fields(fields: dict) -> dict:
    """The hashed fields as JSON types: what canonical_json encodes."""
    data = {name: fields.get(name) for name in HASHED_FIELDS}
    # Only these two arrive as Python objects (from the ORM); from a JSON-lines file they are strings already.
    if isinstance(data["timestamp"], datetime):
        data["timestamp"] = format_timestamp(data["timestamp"])
    if isinstance(data["uuid"], UUID):
        data["uuid"] = str(data["uuid"])
    return data


def encode_canonical(data: dict) -> str:
    """Any dict of JSON types the way canonical_json encodes (sorted keys, no spaces, UTF-8 kept)."""
    return _ENCODER.encode(data)


def canonical_json(fields: dict) -> str:
    return encode_canonical(canonical_fields(fields))


def event_hash(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()
