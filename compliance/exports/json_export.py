"""The JSON export: the frozen document and the snapshot's metadata, in canonical JSON (sorted keys, compact)."""
from compliance.exports import FrozenSnapshot, canonical_json

SCHEMA = "secretsadmin.compliance-snapshot/1"
DIGEST_COVERS = ('SHA-256 of the canonical JSON (sorted keys, separators "," and ":", UTF-8, no ASCII escaping) '
                 'of {"generated": ..., "inputs": ..., "results": ...} as given here')


def document(snapshot: FrozenSnapshot) -> dict:
    return {
        "schema": SCHEMA,
        "snapshot": {"uuid": snapshot.uuid,
                     "digest": {"algorithm": "sha256", "value": snapshot.digest, "covers": DIGEST_COVERS}},
        **snapshot.frozen_content(),
    }


def render(snapshot: FrozenSnapshot) -> bytes:
    return (canonical_json(document(snapshot)) + "\n").encode("utf-8")
