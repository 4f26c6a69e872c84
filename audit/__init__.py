"""The append-only, hash-chained audit trail. Other apps call `audit.record(...)` inside their transaction."""


def record(event_type, *, actor, **fields):
    """See audit.recorder.record (imported lazily: this package loads before Django's app registry)."""
    from audit.recorder import record as _record

    return _record(event_type, actor=actor, **fields)
