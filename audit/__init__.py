"""The append-only, hash-chained audit trail. Other apps call `audit.record(...)` inside their transaction."""


def record(event_type, *, actor, **fields):
    """See audit.recorder.record (imported lazily: this package loads before Django's app registry)."""
    from audit.recorder import record as _record

    return _record(event_type, actor=actor, **fields)


def record_many(events, *, actor, change=None):
    """See audit.recorder.record_many: several (event_type, fields) of one change, in one append (and with
    `change`, the change itself in the same statement where the storage can)."""
    from audit.recorder import record_many as _record_many

    return _record_many(events, actor=actor, change=change)
