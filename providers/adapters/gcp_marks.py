"""Google Secret Manager helpers: payload checksums, rotation markers, and the RPC status of a REST error."""
import hashlib
import hmac

import google_crc32c

PENDING_PREFIX = "secretsadmin-pending-"  # + token digest -> "<newest version before the write>:<payload mark>"


def crc32c(data: bytes) -> int:
    """The Castagnoli CRC that Secret Manager keeps per payload, checked on every write and read."""
    return google_crc32c.value(data)


def pending_key(token):
    return PENDING_PREFIX + hashlib.sha256(token.encode()).hexdigest()[:32]


def payload_mark(token, data):
    # Keyed by the token, not a plain hash or CRC: annotations are readable with secretmanager.secrets.get (viewers
    # who may not access payloads), and an unkeyed fingerprint there would let them test guesses of the value offline.
    return hmac.new(token.encode(), data, hashlib.sha256).hexdigest()[:32]


def rpc_status(exc):
    """The google.rpc status name ("FAILED_PRECONDITION"...). Over REST the client picks the exception class from the
    HTTP status alone (a 400 is BadRequest whatever the status says), so read it from the error body."""
    if getattr(exc, "grpc_status_code", None) is not None:
        return exc.grpc_status_code.name
    try:
        return exc.response.json()["error"]["status"]
    except (AttributeError, KeyError, TypeError, ValueError):
        return ""


