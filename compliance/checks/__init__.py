"""Evidence checks, one module per area; each registers itself in CHECKS (slug -> Check)."""
from compliance.checks import (  # noqa: F401  (register)
    access,
    approvals,
    audit,
    authentication,
    monitoring,
    providers,
    rotation,
)
from compliance.checks.base import CHECKS, FAIL, NOT_APPLICABLE, PARTIAL, PASS, STATUSES, Check, CheckContext

__all__ = ["CHECKS", "FAIL", "NOT_APPLICABLE", "PARTIAL", "PASS", "STATUSES", "Check", "CheckContext"]
