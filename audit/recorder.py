"""The audit API other apps call: record() inside their own transaction, and the policy's AuditLogger."""
import ipaddress
import logging
import uuid
from functools import cache

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from audit.context import current_context
from audit.events import EVENT_TYPES, FORBIDDEN_DETAIL_KEYS, SecretEvent
from audit.storage import AuditWriteError, DatabaseStorage, JsonLinesStorage, LogStorage

log = logging.getLogger(__name__)

SYSTEM, WORKER = "system", "worker"
STORAGE_KINDS = {"database": DatabaseStorage, "jsonl": JsonLinesStorage, "log": LogStorage}


class SecretInAuditDetails(ValueError):
    """A caller tried to put something shaped like a secret value into an audit event."""


def build_storage(spec):
    kind = spec["kind"]
    options = {k: v for k, v in spec.items() if k != "kind"}
    factory = STORAGE_KINDS.get(kind) or import_string(kind)
    return factory(**options)


@cache
def configured_storages():
    """(primary, [mirrors]) from settings.AUDIT_STORAGES; the first entry is the chained primary."""
    storages = [build_storage(spec) for spec in settings.AUDIT_STORAGES]
    return storages[0], storages[1:]


def check_details(details, path="details"):
    if isinstance(details, dict):
        for key, value in details.items():
            if str(key).lower().replace("-", "_") in FORBIDDEN_DETAIL_KEYS:
                raise SecretInAuditDetails(f"{path}.{key} looks like a secret value; audit events never hold one")
            check_details(value, f"{path}.{key}")
    elif isinstance(details, list | tuple):
        for index, item in enumerate(details):
            check_details(item, f"{path}[{index}]")


def _clean_text(value, limit):
    # NUL bytes are refused by PostgreSQL and lone surrogates by UTF-8: neither may break an append.
    text = str(value or "").replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8")[:limit]


def _normalise_ip(value):
    try:
        return ipaddress.ip_address(value).compressed if value else None
    except ValueError:
        return None


def _actor_fields(actor):
    if actor in (None, SYSTEM):
        return {"actor_id": None, "actor_name": "", "actor_type": "system"}
    if actor == WORKER:
        return {"actor_id": None, "actor_name": "", "actor_type": "worker"}
    if not getattr(actor, "is_authenticated", False):
        return {"actor_id": None, "actor_name": "anonymous", "actor_type": "user"}
    return {"actor_id": actor.pk, "actor_name": _clean_text(actor.get_username(), 150), "actor_type": "user"}


def _target_fields(target):
    if target is None:
        return {"target_type": "", "target_id": "", "target_text": ""}
    if isinstance(target, tuple):
        kind, ident, text = target
    else:
        kind = target._meta.label_lower
        ident = getattr(target, "uuid", None) or target.pk
        text = str(target)
    return {"target_type": _clean_text(kind, 64), "target_id": _clean_text(ident, 64),
            "target_text": _clean_text(text, 512)}


def build_fields(event_type, *, actor, outcome="success", failure_reason="", target=None, provider="",
                 secret_name="", details=None):
    """Validate an event and fill in who/when/where; no sequence or hash yet."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown audit event type {event_type!r}")
    if outcome not in ("success", "failure"):
        raise ValueError("outcome must be 'success' or 'failure'")
    details = dict(details or {})
    check_details(details)
    context = current_context()
    return {
        "uuid": uuid.uuid4(),
        "timestamp": timezone.now(),
        **_actor_fields(actor),
        "event_type": event_type,
        "outcome": outcome,
        "failure_reason": _clean_text(failure_reason, 2000),
        **_target_fields(target),
        "provider": _clean_text(provider, 63),
        "secret_name": _clean_text(secret_name, 512),
        "details": details,
        "request_id": _clean_text(context.request_id, 64),
        "client_ip": _normalise_ip(context.client_ip),
        "user_agent": _clean_text(context.user_agent, 512),
    }


def record(event_type, *, actor, **fields):
    """Append one audit event; call it inside the transaction of the change it records.

    Keyword arguments: outcome ("success"/"failure"), failure_reason, target (a model instance or
    a (type, id, text) tuple), provider, secret_name, details (a dict; never a secret value).
    Failures must be recorded outside the failed operation's transaction, or its rollback takes
    the audit row with it. Returns the chained record (a dict).
    """
    primary, mirrors = configured_storages()
    return store(build_fields(event_type, actor=actor, **fields), primary, mirrors)


def record_many(events, *, actor, change=None):
    """Append several events of one change, in order, as record() would one by one (fewer round trips).

    `events`: (event_type, fields) pairs, the fields as record() takes them. Returns the chained records.

    `change`: the write these events record, made with them, all or nothing; None is returned, and nothing is
    written, when the change may not be made. Callable outside a transaction (the storage makes one). It has
    `apply()`: the write, True if it was made (False: it may not be made), and for a storage that makes change and
    append one statement (PostgreSQL), `guard()`: (sql, params) of a SELECT ... FOR UPDATE that returns rows while
    the change may be made, and `writes()`: [(sql, params)] of the data-modifying statements, each made only
    `WHERE EXISTS (SELECT 1 FROM appended)`.
    """
    primary, mirrors = configured_storages()
    many = [build_fields(event_type, actor=actor, **fields) for event_type, fields in events]
    if change is None:
        return store_many(many, primary, mirrors)
    try:
        stored = primary.append_with(change, many)
    except (DatabaseError, OSError) as exc:
        stored = _write_failed(many, exc)  # fail-open: the change is made without its events
        if not change.apply():
            return None
    if stored is not None:
        _mirror_on_commit(stored, mirrors)
    return stored


def store(fields, primary, mirrors=()):
    return store_many([fields], primary, mirrors)[0]


def store_many(many, primary, mirrors=()):
    try:
        stored = [primary.append(many[0])] if len(many) == 1 else primary.append_many(many)
    except (DatabaseError, OSError) as exc:
        stored = _write_failed(many, exc)
    _mirror_on_commit(stored, mirrors)
    return stored


def _write_failed(many, exc):
    """Fail-closed: the operation must not happen. Fail-open: logged and counted; the events, unchained."""
    if settings.AUDIT_FAIL_CLOSED:
        raise AuditWriteError(
            f"the audit log could not be written ({type(exc).__name__}); the operation was not carried out"
        ) from exc
    log.error("audit write failed (fail-open): %s %s", ", ".join(f["event_type"] for f in many), type(exc).__name__)
    _count_write_failure()
    return [{**fields, "sequence": None, "prev_hash": "", "hash": ""} for fields in many]


def _mirror_on_commit(stored, mirrors):
    # Mirrors see only what was committed: a rolled-back operation leaves no trace there either.
    for record in stored if mirrors else ():
        transaction.on_commit(lambda record=record: _mirror(mirrors, record))


def _mirror(mirrors, stored):
    for storage in mirrors:
        try:
            storage.mirror(stored)
        except Exception:
            log.exception("audit mirror %s failed for %s", type(storage).__name__, stored.get("event_type"))
            _count_write_failure()


def _count_write_failure():
    from audit.metrics import AUDIT_WRITE_FAILURES

    AUDIT_WRITE_FAILURES.inc()


class AuditLogger:
    """The policy's AuditLogger: AuditLogger(storage).log_event(event, user); default storages if none given."""

    def __init__(self, storage=None):
        self.storage = storage

    def log_event(self, event: SecretEvent, user):
        fields = build_fields(event.event_type, actor=user, outcome="success" if event.success else "failure",
                              secret_name=event.secret_name)
        if self.storage is None:
            primary, mirrors = configured_storages()
            return store(fields, primary, mirrors)
        if self.storage.chained:
            return store(fields, self.storage)
        self.storage.mirror({**fields, "sequence": None, "prev_hash": "", "hash": ""})
        return fields
