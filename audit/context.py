"""Who and where an event comes from, set per request by the middleware (or per job by a worker)."""
import contextvars
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    client_ip: str | None = None
    user_agent: str = ""


_EMPTY = RequestContext()
_current = contextvars.ContextVar("secretsadmin_audit_context", default=None)


def current_context() -> RequestContext:
    return _current.get() or _EMPTY


@contextmanager
def audit_context(**values):
    token = _current.set(RequestContext(**values))
    try:
        yield
    finally:
        _current.reset(token)
