"""Prometheus counters of the audit subsystem itself."""
from prometheus_client import Counter

AUDIT_WRITE_FAILURES = Counter(
    "secretsadmin_audit_write_failures", "Audit events that could not be written to a storage"
)
