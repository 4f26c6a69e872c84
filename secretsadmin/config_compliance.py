"""The [compliance] table of config/<env>.toml: the organisation's name and its evidence-check thresholds."""
# Imported by config.py before Django is set up: standard library only. The defaults live here (not in the
# compliance app) so that a misspelt check or threshold stops start-up instead of being silently ignored.

COMPLIANCE_KEYS = ("organisation", "thresholds")

# check slug -> threshold -> default. compliance.checks documents each rule in terms of these names.
DEFAULT_THRESHOLDS = {
    "rotation_within_interval": {"pass_percent": 95.0, "partial_percent": 80.0},
    "rotation_policy_coverage": {"pass_percent": 100.0, "partial_percent": 90.0},
    "generator_strength": {"pass_min_length": 24, "pass_min_classes": 3, "fail_below_length": 16},
    "rotations_approved": {},
    "self_approval_refused": {"max_refused_attempts": 3},
    "emergency_reviews": {"review_within_days": 7},
    "audit_coverage": {"partial_missing_percent": 1.0},
    "audit_record_content": {"partial_incomplete_percent": 1.0},
    "audit_chain_verified": {"max_age_days": 2},
    "audit_retention": {"min_days": 365},
    "audit_review_activity": {"min_reviews": 1},
    "access_privileged_holders": {"unused_days": 90},
    "access_review_recent": {"max_age_days": 90, "partial_max_age_days": 120},
    "separation_of_duties": {"max_overlap_users": 0},
    "dormant_accounts": {"dormant_days": 90, "partial_percent": 10.0},
    "login_monitoring": {"partial_failed_attempts": 10, "fail_failed_attempts": 50},
    "mfa_privileged": {"partial_percent": 90.0},
    "provider_tls": {},
    "provider_encryption_at_rest": {"require_customer_managed_keys": False},
    "provider_sync_recent": {"max_age_hours": 24, "partial_max_age_hours": 72},
    "alert_rules_deployed": {"expected_alerts": [
        "SecretRotationFailure", "SecretsRotationOverdue", "SecretProviderSyncStale", "AuditChainBroken",
        "AuditChainNotVerified", "RotationsNeedAttention", "HighSecretRetrievalFailureRate",
    ]},
    "rotation_failures_resolved": {"resolve_within_hours": 72},
    "drift_investigated": {"investigate_within_days": 7},
}


class ComplianceConfigError(ValueError):
    pass


def _typed_like(default, value, label):
    """`value` checked against the default's type (a whole number is accepted where a decimal is)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ComplianceConfigError(f"{label} must be true or false")
        return value
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise ComplianceConfigError(f"{label} must be a list of names")
        return list(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ComplianceConfigError(f"{label} must be a number >= 0")
    if isinstance(default, int) and not isinstance(value, int):
        raise ComplianceConfigError(f"{label} must be a whole number >= 0")
    return float(value) if isinstance(default, float) else value


def parse_thresholds(table, where="[compliance.thresholds]") -> dict:
    """{check: {threshold: value}} for the overrides given; unknown checks or thresholds are refused."""
    if not isinstance(table, dict):
        raise ComplianceConfigError(f"{where} must be a table")
    parsed = {}
    for check, values in table.items():
        if check not in DEFAULT_THRESHOLDS:
            raise ComplianceConfigError(f"{where} has unknown check {check}; known: {', '.join(DEFAULT_THRESHOLDS)}")
        if not isinstance(values, dict):
            raise ComplianceConfigError(f"{where} {check} must be a table")
        defaults = DEFAULT_THRESHOLDS[check]
        parsed[check] = {}
        for name, value in values.items():
            if name not in defaults:
                allowed = ", ".join(defaults) or "none"
                raise ComplianceConfigError(f"{where} {check} has unknown threshold {name}; allowed: {allowed}")
            parsed[check][name] = _typed_like(defaults[name], value, f"{where} {check}.{name}")
    return parsed


def parse_compliance(table: dict) -> dict:
    organisation = table.get("organisation", "")
    if not isinstance(organisation, str) or len(organisation) > 200:
        raise ComplianceConfigError("[compliance] organisation must be a string of at most 200 characters")
    return {"organisation": organisation.strip(), "thresholds": parse_thresholds(table.get("thresholds", {}))}
